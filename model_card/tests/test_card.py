"""The model card: built into a temporary folder, every section and plot present."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from model_card.evidence import gather_evidence
from model_card.page import PAGE, SECTIONS, write_card


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Given the packaged model, When its card is written into an empty folder
    return write_card(gather_evidence(), tmp_path_factory.mktemp("card"))


def test_the_card_has_every_section_with_content(card: Path) -> None:
    page = card.read_text()
    for key, title in SECTIONS:
        match = re.search(
            f'<section id="{key}"><h2>{title}</h2>(.*?)</section>', page, re.DOTALL
        )
        assert match, key
        assert len(match.group(1)) > 40, key


def test_every_plot_the_page_shows_exists_and_is_a_non_empty_png(card: Path) -> None:
    images = re.findall(r'<img src="([^"]+)"', card.read_text())
    # residuals, coverage, effects and at least one shape plot
    assert len(images) >= 4
    for name in images:
        data = (card.parent / name).read_bytes()
        assert data.startswith(b"\x89PNG"), name
        assert len(data) > 1000, name


def test_the_card_reports_interval_coverage_and_the_release_comparison(
    card: Path,
) -> None:
    page = card.read_text()
    assert "Held-out coverage 0." in page
    assert re.search(r"against the captured release v\d+\.\d+\.\d+", page)
    assert card.name == PAGE
