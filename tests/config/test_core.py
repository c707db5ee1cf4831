"""The config loader: the packaged file parses, and every bad edit fails by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from regression_model.config.core import (
    CONFIG_FILE_PATH,
    VERSION_FILE,
    AppConfig,
    ConfigError,
    load_config,
    package_version,
    packaged_config,
    parse_config,
)
from tests.support import replace_once


def parse_error(text: str) -> str:
    """The message of the ``ConfigError`` that ``text`` must raise."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return str(caught.value)


def test_packaged_config_parses_into_typed_consistent_settings(config: AppConfig) -> None:
    # Given the packaged config.yml, When it is parsed (by the fixture)
    model = config.model
    # Then values have their declared types and the cross-key rules hold
    assert isinstance(model.alpha, float)
    assert isinstance(model.random_state, int)
    assert 0.0 < model.test_size < 1.0
    assert len(model.features) == len(set(model.features))
    assert set(model.required_features) <= set(model.features)
    assert set(model.imputed_features).isdisjoint(model.required_features)
    assert set(model.imputed_features) | set(model.required_features) == set(
        model.features
    )
    assert model.target not in model.features
    assert config.app.package_name == "regression_model"


def test_mapped_vars_pairs_each_ordinal_feature_with_its_group_mapping(
    config: AppConfig,
) -> None:
    model = config.model
    mapped = model.mapped_vars
    assert set(mapped) == set(model.qual_vars + model.exposure_vars)
    assert all(mapped[name] == model.qual_mappings for name in model.qual_vars)
    assert mapped[model.exposure_vars[0]] == model.exposure_mappings


def test_load_config_reads_a_file_and_names_it_in_errors(
    tmp_path: Path, config_text: str
) -> None:
    # Given a copy of the config with one malformed value
    path = tmp_path / "broken.yml"
    path.write_text(replace_once(config_text, "alpha: 0.001", "alpha: lots"))
    # When it is loaded, Then the error names the file
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_config(path)
    # And an unmodified copy loads to the same settings as the packaged file
    path.write_text(config_text)
    assert load_config(path) == load_config(CONFIG_FILE_PATH)


def test_packaged_config_is_parsed_once_and_reused() -> None:
    assert packaged_config() is packaged_config()


def test_unknown_key_is_rejected_by_name(config_text: str) -> None:
    message = parse_error(config_text + "\nlearning_rate: 0.1\n")
    assert "learning_rate" in message
    assert "unexpected key" in message


def test_text_where_a_float_belongs_is_rejected_with_key_and_line(
    config_text: str,
) -> None:
    # Given alpha set to text
    text = replace_once(config_text, "alpha: 0.001", "alpha: lots")
    line = text.splitlines().index("alpha: lots") + 1
    # When parsed, Then the message shows the offending key and its line
    message = parse_error(text)
    assert "alpha: lots" in message
    assert f"line {line}" in message
    assert "float" in message


def test_text_where_a_mapping_code_belongs_is_rejected(config_text: str) -> None:
    message = parse_error(replace_once(config_text, "  Ex: 5\n", "  Ex: five\n"))
    assert "Ex: five" in message
    assert "integer" in message


def test_missing_key_is_rejected_by_name(config_text: str) -> None:
    message = parse_error(replace_once(config_text, "max_iter: 20000\n", ""))
    assert "'max_iter'" in message
    assert "not found" in message


def test_feature_in_a_group_but_not_in_features_is_rejected(config_text: str) -> None:
    # Given PoolArea added to exposure_vars only
    text = replace_once(
        config_text,
        "exposure_vars:\n  - BsmtExposure\n",
        "exposure_vars:\n  - BsmtExposure\n  - PoolArea\n",
    )
    # Then the error names both the group and the feature
    message = parse_error(text)
    assert "exposure_vars" in message
    assert "PoolArea" in message


def test_required_feature_outside_features_is_rejected(config_text: str) -> None:
    text = replace_once(
        config_text,
        "required_features:\n  - GrLivArea\n",
        "required_features:\n  - GrLivArea\n  - PoolArea\n",
    )
    message = parse_error(text)
    assert "required_features" in message
    assert "PoolArea" in message


def test_feature_neither_imputed_nor_required_is_rejected(config_text: str) -> None:
    # Given PoolArea added to features but to no imputation list
    text = replace_once(
        config_text,
        "  - SaleCondition\n  - YrSold\n",
        "  - SaleCondition\n  - YrSold\n  - PoolArea\n",
    )
    message = parse_error(text)
    assert "PoolArea" in message
    assert "neither imputed nor in required_features" in message


def test_feature_in_two_imputation_lists_is_rejected(config_text: str) -> None:
    text = replace_once(
        config_text,
        "categorical_vars_with_na_missing:\n  - FireplaceQu\n",
        "categorical_vars_with_na_missing:\n  - FireplaceQu\n  - LotArea\n",
    )
    message = parse_error(text)
    assert "LotArea" in message
    assert "more than once" in message


def test_required_feature_that_is_also_imputed_is_rejected(config_text: str) -> None:
    text = replace_once(
        config_text,
        "categorical_vars_with_na_missing:\n  - FireplaceQu\n",
        "categorical_vars_with_na_missing:\n  - FireplaceQu\n  - GrLivArea\n",
    )
    assert "GrLivArea" in parse_error(text)


def test_an_engineered_sum_of_an_unknown_column_is_rejected(config_text: str) -> None:
    # Given a total that adds a column the model does not read
    text = replace_once(
        config_text, "    TotalBsmtSF: 1\n", "    TotalBsmtSF: 1\n    PoolArea: 1\n"
    )
    # Then the error names the sum and the column
    message = parse_error(text)
    assert "combinations.TotalSF" in message
    assert "PoolArea" in message


def test_a_blend_weight_outside_the_unit_interval_is_rejected(config_text: str) -> None:
    text = replace_once(
        config_text, "blend_linear_weight: 0.4\n", "blend_linear_weight: 1.4\n"
    )
    assert "blend_linear_weight" in parse_error(text)


@pytest.mark.parametrize("test_size", ["0.0", "1.0", "1.5"])
def test_test_size_outside_the_open_unit_interval_is_rejected(
    config_text: str, test_size: str
) -> None:
    text = replace_once(config_text, "test_size: 0.2", f"test_size: {test_size}")
    assert f"test_size: {float(test_size)} is not in (0, 1)" in parse_error(text)


def test_edited_but_valid_config_changes_the_typed_value(config_text: str) -> None:
    # A control for the rejection tests above: the edit mechanism itself works.
    config = parse_config(replace_once(config_text, "alpha: 0.001", "alpha: 0.5"))
    assert config.model.alpha == 0.5


def test_config_objects_are_frozen(config: AppConfig) -> None:
    with pytest.raises(ValueError, match="frozen"):
        config.model.alpha = 1.0  # type: ignore[misc]


def test_package_version_is_the_semver_in_the_version_file() -> None:
    version = package_version()
    assert version == VERSION_FILE.read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
