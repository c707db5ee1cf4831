"""``house-prices``: the batch scoring command line.

Exit codes: 0 done (rows with errors are in the output, not failures); 2
the input, the output or an option cannot be used (the message names it;
nothing is written).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from regression_model.batch import InputError, OutputError, score_file
from regression_model.batch.files import Progress as ProgressHook

USAGE_ERROR = 2
app = typer.Typer(add_completion=False, help="Price house rows in files.")


class EngineChoice(StrEnum):
    local = "local"
    dask = "dask"


@app.callback()
def main() -> None:
    """Price house rows in files with the packaged model."""


@app.command()
def score(  # noqa: PLR0917 - typer maps parameters to the options
    input_path: Annotated[
        Path,
        typer.Argument(metavar="INPUT", help="CSV or Parquet file, or Parquet dir"),
    ],
    output_path: Annotated[
        Path,
        typer.Argument(
            metavar="OUTPUT", help=".parquet or .csv (a directory with --engine dask)"
        ),
    ],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing OUTPUT")] = False,
    explain: Annotated[
        bool, typer.Option(help="Add per-feature contribution columns (if offered)")
    ] = False,
    engine: Annotated[EngineChoice, typer.Option(help="Where to score")] = (
        EngineChoice.local
    ),
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler ADDRESS (default: a local cluster)")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Local Dask cluster's workers")] = 2,
) -> None:
    """Price every row of INPUT into OUTPUT: Id (or row), price, errors, imputed."""
    console = Console(stderr=True)
    with _progress(console) as hook:
        try:
            summary = score_file(
                input_path,
                output_path,
                engine=engine.value,
                overwrite=overwrite,
                explain=explain,
                scheduler=scheduler,
                workers=workers,
                progress=hook,
            )
        except (InputError, OutputError, ValueError) as error:
            console.print(
                f"error: {error}",
                style="red",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(USAGE_ERROR) from error
    console.print(
        f"{summary.rows} rows priced by model {summary.version} into {output_path}; "
        f"{summary.refused} with errors",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@contextmanager
def _progress(console: Console) -> Iterator[ProgressHook | None]:
    """A progress bar (rows, rows/s, time left) on a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    bar = Progress(
        TextColumn("{task.fields[rows]:,} rows"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[speed]:,.0f} rows/s"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = bar.add_task("scoring", total=None, rows=0, speed=0.0)

    def advance(rows: int, done: int, total: int) -> None:
        elapsed = bar.tasks[0].elapsed or 0.0
        speed = rows / elapsed if elapsed else 0.0
        bar.update(task, completed=done, total=total, rows=rows, speed=speed)

    with bar:
        yield advance


if __name__ == "__main__":
    app()
