"""The prediction log: one line per logged row, with room for the truth.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
        ),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("features", sa.JSON, nullable=True),
        sa.Column("price", sa.Float, nullable=True),
        sa.Column("price_lower", sa.Float, nullable=True),
        sa.Column("price_upper", sa.Float, nullable=True),
        sa.Column("errors", sa.JSON, nullable=True),
        sa.Column("imputed", sa.JSON, nullable=True),
        sa.Column("sale_price", sa.Float, nullable=True),
        sa.Column("sale_date", sa.Date, nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_predictions_request_id", "predictions", ["request_id"])
    op.create_index("ix_predictions_created_at", "predictions", ["created_at"])


def downgrade() -> None:
    op.drop_table("predictions")
