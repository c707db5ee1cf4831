"""Execute every research notebook headless and report how long each took.

The ``NN_*.py`` files (jupytext percent format) are the source of truth; each
is converted to a notebook, executed by nbclient in a fresh kernel from the
repository root, and written with its outputs to ``build/notebooks/``. A cell
that raises fails the run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOK_DIR.parent
OUTPUT_DIR = REPO_ROOT / "build" / "notebooks"
CELL_TIMEOUT_SECONDS = 240


def notebook_sources(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """The notebooks in order: ``01_...py`` to ``04_...py``."""
    return sorted(directory.glob("[0-9][0-9]_*.py"))


def execute(source: Path, output_dir: Path) -> float:
    """Run one notebook; write it with outputs; return the seconds it took."""
    notebook = jupytext.read(source)
    started = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO_ROOT)}},
    ).execute()
    elapsed = time.perf_counter() - started
    output_dir.mkdir(parents=True, exist_ok=True)
    jupytext.write(notebook, output_dir / source.with_suffix(".ipynb").name)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Execute the notebooks named (default: all) and print their times."""
    parser = argparse.ArgumentParser(description="Execute the research notebooks.")
    parser.add_argument("names", nargs="*", help="notebook file names; default all")
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    args = parser.parse_args(argv)
    sources = [NOTEBOOK_DIR / name for name in args.names] or notebook_sources()
    total = 0.0
    for source in sources:
        seconds = execute(source, args.output_dir)
        total += seconds
        print(f"{source.name}: executed in {seconds:.1f} s")
    print(f"{len(sources)} notebooks executed in {total:.1f} s into {args.output_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
