"""Reading and writing the data snapshot.

CSV files are read and written with one explicit NA convention: only ``NA``
and the empty string mean missing. pandas' defaults would also turn the text
``None`` (De Cock's "no masonry veneer") into NaN, silently changing the data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from regression_model.config.core import DATASET_DIR

NA_VALUES = ["NA", ""]
NA_REP = "NA"


def read_csv(path: Path) -> pd.DataFrame:
    """Read a Kaggle-schema CSV with the project's explicit NA convention."""
    return pd.read_csv(path, keep_default_na=False, na_values=NA_VALUES)


def load_dataset(file_name: str, dataset_dir: Path = DATASET_DIR) -> pd.DataFrame:
    """Load one file of the data snapshot by name."""
    return read_csv(dataset_dir / file_name)


def write_dataset(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame so that ``read_csv`` gives it back unchanged, byte-stable."""
    frame.to_csv(path, index=False, na_rep=NA_REP, lineterminator="\n")
