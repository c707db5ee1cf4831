"""Batch tests need the ``[batch]`` extra (requirements/batch.txt); they skip without."""

from __future__ import annotations

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("typer")
