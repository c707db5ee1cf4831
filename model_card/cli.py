"""Command line of the model card."""

from __future__ import annotations

import argparse
from pathlib import Path

from model_card.evidence import gather_evidence
from model_card.page import write_card
from regression_model.config.core import PACKAGE_ROOT, package_version

REPORTS_DIR = PACKAGE_ROOT.parent / "reports"


def main(argv: list[str] | None = None) -> int:
    """Build the card into ``--output`` (default ``reports/model_card_v<VERSION>``)."""
    parser = argparse.ArgumentParser(description="Write the model card.")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    output = args.output or REPORTS_DIR / f"model_card_v{package_version()}"
    page = write_card(gather_evidence(), output)
    print(f"model card written to {page}")
    return 0
