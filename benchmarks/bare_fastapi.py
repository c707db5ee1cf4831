"""The reference point for the HTTP figures: a bare FastAPI app that only validates.

``POST /api/v1/predict`` takes the same envelope as the service, validates
every row against the model package's own row schema (pydantic, 80 fields)
the way a plain FastAPI endpoint does (a body model, no hand-written
checks), and answers how many rows it read: no model, no middleware, no
logging. ``http_latency.py`` and ``compare_revisions.py`` serve it with
uvicorn's httptools protocol, one worker, in the same run as the service, so
the service's figures can be read as a fraction of what FastAPI itself
reaches on this machine at that moment.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

from regression_model import HouseFeatures


class Batch(BaseModel):
    """The service's request envelope, every row validated by the schema."""

    inputs: list[HouseFeatures]


class Count(BaseModel):
    rows: int


def create_app() -> FastAPI:
    """The bare app (uvicorn calls it with ``--factory``)."""
    app = FastAPI()

    @app.post("/api/v1/predict")
    async def predict(batch: Batch) -> Count:
        return Count(rows=len(batch.inputs))

    @app.get("/api/v1/health")
    async def health() -> Count:
        return Count(rows=0)

    return app
