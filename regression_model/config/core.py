"""The package's one typed configuration object, read from ``config.yml``.

strictyaml parses the file against an explicit schema (so a typo in a key or a
text where a number belongs fails with the line and key), then pydantic turns
it into frozen, typed models and checks the rules that span several keys
(every feature imputed or required, every group a subset of the features).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import strictyaml as sy
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE_PATH = PACKAGE_ROOT / "config.yml"
DATASET_DIR = PACKAGE_ROOT / "datasets"
TRAINED_MODEL_DIR = PACKAGE_ROOT / "trained_models"
VERSION_FILE = PACKAGE_ROOT / "VERSION"


class ConfigError(ValueError):
    """``config.yml`` is malformed or inconsistent; the message names the key."""


_NAMES = sy.Seq(sy.Str())
_MAPPING = sy.MapPattern(sy.Str(), sy.Int())
_WEIGHTS = sy.MapPattern(sy.Str(), sy.MapPattern(sy.Str(), sy.Float()))

CONFIG_SCHEMA = sy.Map(
    {
        "package_name": sy.Str(),
        "distribution_name": sy.Str(),
        "training_data_file": sy.Str(),
        "test_data_file": sy.Str(),
        "pipeline_save_file": sy.Str(),
        "target": sy.Str(),
        "test_size": sy.Float(),
        "random_state": sy.Int(),
        "alpha": sy.Float(),
        "max_iter": sy.Int(),
        "rare_label_tol": sy.Float(),
        "rare_label_n_categories": sy.Int(),
        "mean_encoding_smoothing": sy.Float(),
        "blend_linear_weight": sy.Float(),
        "trees_n_estimators": sy.Int(),
        "trees_learning_rate": sy.Float(),
        "trees_num_leaves": sy.Int(),
        "trees_min_child_samples": sy.Int(),
        "trees_subsample": sy.Float(),
        "trees_colsample_bytree": sy.Float(),
        "trees_reg_lambda": sy.Float(),
        "cv_splits": sy.Int(),
        "cv_repeats": sy.Int(),
        "interval_coverage": sy.Float(),
        "interval_price_bands": sy.Int(),
        "features": _NAMES,
        "required_features": _NAMES,
        "categorical_vars_with_na_missing": _NAMES,
        "categorical_vars_with_na_frequent": _NAMES,
        "numerical_vars_with_median": _NAMES,
        "combinations": _WEIGHTS,
        "linear_log_vars": _NAMES,
        "qual_vars": _NAMES,
        "exposure_vars": _NAMES,
        "categorical_vars": _NAMES,
        "qual_mappings": _MAPPING,
        "exposure_mappings": _MAPPING,
        "differential_rel_tolerance": sy.Float(),
        "differential_max_moved_fraction": sy.Float(),
        "differential_max_rmsle_increase": sy.Float(),
        "differential_max_slice_rmsle_increase": sy.Float(),
        "max_test_rmsle": sy.Float(),
        "min_cv_margin_over_baseline": sy.Float(),
        "min_cv_margin_over_median": sy.Float(),
        "max_slice_rmsle": sy.Float(),
        "min_slice_rows": sy.Int(),
        "max_abs_slice_bias": sy.Float(),
        "max_staleness_rmsle": sy.Float(),
        "min_feature_importance": sy.Float(),
        "max_cv_std_from_best": sy.Float(),
        "max_interval_coverage_gap": sy.Float(),
        "min_slice_interval_coverage": sy.Float(),
    }
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PackageConfig(_Frozen):
    """Names of the package, its distribution and its files."""

    package_name: str
    distribution_name: str
    training_data_file: str
    test_data_file: str
    pipeline_save_file: str


class ModelConfig(_Frozen):
    """Everything that decides what the fitted pipeline computes."""

    target: str
    test_size: float
    random_state: int
    alpha: float
    max_iter: int
    rare_label_tol: float
    rare_label_n_categories: int
    mean_encoding_smoothing: float
    blend_linear_weight: float
    trees_n_estimators: int
    trees_learning_rate: float
    trees_num_leaves: int
    trees_min_child_samples: int
    trees_subsample: float
    trees_colsample_bytree: float
    trees_reg_lambda: float
    cv_splits: int
    cv_repeats: int
    interval_coverage: float
    interval_price_bands: int
    features: list[str]
    required_features: list[str]
    categorical_vars_with_na_missing: list[str]
    categorical_vars_with_na_frequent: list[str]
    numerical_vars_with_median: list[str]
    combinations: dict[str, dict[str, float]]
    linear_log_vars: list[str]
    qual_vars: list[str]
    exposure_vars: list[str]
    categorical_vars: list[str]
    qual_mappings: dict[str, int]
    exposure_mappings: dict[str, int]

    @property
    def imputed_features(self) -> list[str]:
        """Features that a missing value is filled in for, in config order."""
        return (
            self.categorical_vars_with_na_missing
            + self.categorical_vars_with_na_frequent
            + self.numerical_vars_with_median
        )

    @property
    def mapped_vars(self) -> dict[str, dict[str, int]]:
        """Each ordinal-mapped feature with its label -> code mapping."""
        groups = (
            (self.qual_vars, self.qual_mappings),
            (self.exposure_vars, self.exposure_mappings),
        )
        return {name: mapping for names, mapping in groups for name in names}

    @model_validator(mode="after")
    def _check_groups(self) -> ModelConfig:
        features = set(self.features)
        groups = {
            name: value
            for name, value in self.__dict__.items()
            if name.endswith("_vars") or name.startswith(("numerical_", "categorical_"))
        }
        groups["required_features"] = self.required_features
        for name, weights in self.combinations.items():
            groups[f"combinations.{name}"] = list(weights)
        groups.pop("linear_log_vars")
        for key, names in groups.items():
            unknown = sorted(set(names) - features)
            if unknown:
                raise ValueError(f"{key}: {unknown} are not listed in features")
        designed = sorted(set(self.linear_log_vars) - features - set(self.combinations))
        if designed:
            raise ValueError(f"linear_log_vars: {designed} are not design columns")
        if not 0.0 <= self.blend_linear_weight <= 1.0:
            raise ValueError(
                f"blend_linear_weight: {self.blend_linear_weight} is not in [0, 1]"
            )
        covered = self.imputed_features + self.required_features
        duplicated = sorted({name for name in covered if covered.count(name) > 1})
        if duplicated:
            raise ValueError(f"imputation lists: {duplicated} appear more than once")
        uncovered = sorted(features - set(covered))
        if uncovered:
            raise ValueError(
                f"features {uncovered} are neither imputed nor in required_features"
            )
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"test_size: {self.test_size} is not in (0, 1)")
        return self


class ReleaseConfig(_Frozen):
    """How far a new model version may move from the released one."""

    differential_rel_tolerance: float
    differential_max_moved_fraction: float
    differential_max_rmsle_increase: float
    differential_max_slice_rmsle_increase: float


class GateConfig(_Frozen):
    """What a freshly trained model must show before it is saved (model tests)."""

    max_test_rmsle: float
    min_cv_margin_over_baseline: float
    min_cv_margin_over_median: float
    max_slice_rmsle: float
    min_slice_rows: int
    max_abs_slice_bias: float
    max_staleness_rmsle: float
    min_feature_importance: float
    max_cv_std_from_best: float
    max_interval_coverage_gap: float
    min_slice_interval_coverage: float


class AppConfig(_Frozen):
    """The whole configuration: package names, model, quality gate, release gate."""

    app: PackageConfig
    model: ModelConfig
    release: ReleaseConfig
    gate: GateConfig


def parse_config(text: str, source: str = "config.yml") -> AppConfig:
    """Parse and validate config text; raise ``ConfigError`` naming the bad key."""
    try:
        data = sy.load(text, CONFIG_SCHEMA, label=source).data
    except sy.YAMLError as error:
        raise ConfigError(f"{source}: {error}") from error
    package_keys = PackageConfig.model_fields.keys()
    release_keys = ReleaseConfig.model_fields.keys()
    gate_keys = GateConfig.model_fields.keys()
    other_keys = package_keys | release_keys | gate_keys
    try:
        return AppConfig(
            app=PackageConfig(**{key: data[key] for key in package_keys}),
            release=ReleaseConfig(**{key: data[key] for key in release_keys}),
            gate=GateConfig(**{key: data[key] for key in gate_keys}),
            model=ModelConfig(
                **{key: value for key, value in data.items() if key not in other_keys}
            ),
        )
    except ValidationError as error:
        raise ConfigError(f"{source}: {error}") from error


def load_config(path: Path = CONFIG_FILE_PATH) -> AppConfig:
    """Read and validate a config file (the packaged one by default)."""
    return parse_config(path.read_text(), source=str(path))


@lru_cache(maxsize=1)
def packaged_config() -> AppConfig:
    """The packaged config, parsed once on first use (never at import time)."""
    return load_config()


def package_version() -> str:
    """The semver in ``VERSION``, which the artifact, wheel and API all report."""
    return VERSION_FILE.read_text().strip()
