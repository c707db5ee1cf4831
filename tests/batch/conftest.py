"""Batch tests need the ``[batch]`` extra (requirements/batch.txt); without it they are
not collected (``tox -e batch`` runs them)."""

from __future__ import annotations

from importlib.util import find_spec

BATCH_EXTRA = ("pyarrow", "typer", "distributed")
collect_ignore_glob = [] if all(map(find_spec, BATCH_EXTRA)) else ["test_*.py"]
