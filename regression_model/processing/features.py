"""Custom scikit-learn transformers for the house-price pipeline.

Each class does one job and follows scikit-learn's conventions: ``__init__``
stores its arguments unchanged, ``fit`` learns attributes ending in ``_`` and
returns ``self``, ``transform`` returns a new frame and never mutates its input.
Like feature-engine's transformers, they work on DataFrames and pick their
columns with ``variables``; a NumPy array is accepted and its columns named
``x0, x1, ...`` so that scikit-learn's generic estimator checks apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self, TypeAlias

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

ArrayLike: TypeAlias = "pd.DataFrame | np.ndarray | Sequence[Sequence[Any]]"


def as_frame(X: ArrayLike) -> pd.DataFrame:
    """A copy of ``X`` as a DataFrame; arrays get columns ``x0, x1, ...``."""
    if isinstance(X, pd.DataFrame):
        return X.copy()
    array: np.ndarray = np.asarray(X)
    if array.ndim != 2:
        raise ValueError(f"Expected 2D input, got an array of shape {array.shape}")
    if array.shape[1] == 0:
        raise ValueError("Expected at least 1 feature, got 0 columns")
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


class _FrameTransformer(TransformerMixin, BaseEstimator):
    """Shared input checks: remember the fit columns, insist on them later."""

    variables: Sequence[str]

    def fit(self, X: ArrayLike, y: Any = None) -> Self:
        """Record the input columns; stateless transformers learn nothing else."""
        self._fit_frame(X)
        return self

    def _columns_used(self) -> list[str]:
        return list(self.variables)

    def _fit_frame(self, X: ArrayLike) -> pd.DataFrame:
        frame = as_frame(X)
        if len(frame) == 0:
            raise ValueError("Found array with 0 sample(s) while fitting")
        self._require_columns(frame, self._columns_used())
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        return frame

    def _transform_frame(self, X: ArrayLike) -> pd.DataFrame:
        check_is_fitted(self)
        frame = as_frame(X)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {frame.shape[1]} features, but {type(self).__name__} "
                f"is expecting {self.n_features_in_} features as input"
            )
        missing = [name for name in self.feature_names_in_ if name not in frame]
        if missing:
            raise ValueError(f"X lacks the columns seen in fit: {missing}")
        return frame

    @staticmethod
    def _require_columns(frame: pd.DataFrame, variables: Sequence[str]) -> None:
        missing = [name for name in variables if name not in frame.columns]
        if missing:
            raise ValueError(f"Variables {missing} are not in the input columns")

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names (unchanged: these transformers keep columns)."""
        check_is_fitted(self)
        return np.asarray(self.feature_names_in_, dtype=object)


class TemporalVariableTransformer(_FrameTransformer):
    """Replace each year in ``variables`` by its age at ``reference_variable``.

    A remodel year means little on its own; its age at the time of sale is
    what moves the price. Nothing is learned: fit only records the columns.
    """

    def __init__(self, variables: Sequence[str], reference_variable: str) -> None:
        self.variables = variables
        self.reference_variable = reference_variable

    def _columns_used(self) -> list[str]:
        return [*self.variables, self.reference_variable]

    def transform(self, X: ArrayLike) -> pd.DataFrame:
        frame = self._transform_frame(X)
        reference = pd.to_numeric(frame[self.reference_variable])
        for name in self.variables:
            frame[name] = reference - pd.to_numeric(frame[name])
        return frame


class Mapper(_FrameTransformer):
    """Map the labels of ``variables`` to numbers with a fixed ``mappings`` dict.

    Used for ordinal grades (Po < Fa < TA < Gd < Ex), whose order is domain
    knowledge rather than something to learn. A label without a mapping would
    silently become NaN and fail far downstream, so it raises here, named.
    """

    def __init__(self, variables: Sequence[str], mappings: Mapping[str, int]) -> None:
        self.variables = variables
        self.mappings = mappings

    def transform(self, X: ArrayLike) -> pd.DataFrame:
        frame = self._transform_frame(X)
        for name in self.variables:
            mapped = frame[name].map(self.mappings)
            unmapped = frame[name][mapped.isna()].unique()
            if len(unmapped):
                raise ValueError(
                    f"Mapper: {name} has labels without a mapping: {list(unmapped)}"
                )
            frame[name] = mapped.astype("float64")
        return frame


class CategoricalLabelCaster(_FrameTransformer):
    """Give every categorical value one canonical text label.

    Clients send ``MSSubClass`` as 20, 20.0 or "20"; all three must be the same
    category. Integral numbers become their integer text, other values their
    text, missing values stay missing, and the columns become ``object`` dtype
    (pandas 3 reads text as ``str``, which feature-engine does not expect).
    Doing this inside the pipeline means training and serving cannot differ.
    """

    def __init__(self, variables: Sequence[str]) -> None:
        self.variables = variables

    def transform(self, X: ArrayLike) -> pd.DataFrame:
        frame = self._transform_frame(X)
        for name in self.variables:
            frame[name] = pd.Series(
                [canonical_label(value) for value in frame[name]],
                index=frame.index,
                dtype=object,
            )
        return frame


def canonical_label(value: Any) -> Any:
    """The canonical text label of one categorical value.

    NaN, None and blank text are missing (NaN), as in the CSV convention.
    """
    if isinstance(value, str):
        return value if value.strip() else np.nan
    if value is None or pd.isna(value):
        return np.nan
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


class RareLabelGrouper(_FrameTransformer):
    """Group infrequent and unseen labels of ``variables`` into one rare bucket.

    Learns, per variable, the labels whose share of training rows is at least
    ``tol`` (``frequent_labels_``); every other label, including one never seen
    in training, becomes ``rare_label`` (variables with at most
    ``n_categories`` labels are left whole). In a variable where every training
    label was frequent (e.g. ``CentralAir``) no training row carried the rare
    bucket, so the encoder downstream would have no code for it; there the
    bucket is the most frequent label instead (``fallback_labels_``): an unseen
    label is treated like the typical house, the same statistic used to impute
    a missing value. Output columns are ``object`` dtype, as feature-engine's
    encoders expect under pandas 3.
    """

    def __init__(
        self,
        variables: Sequence[str],
        tol: float = 0.05,
        n_categories: int = 10,
        rare_label: str = "Rare",
    ) -> None:
        self.variables = variables
        self.tol = tol
        self.n_categories = n_categories
        self.rare_label = rare_label

    def fit(self, X: ArrayLike, y: Any = None) -> Self:
        frame = self._fit_frame(X)
        self.frequent_labels_: dict[str, list[Any]] = {}
        self.fallback_labels_: dict[str, Any] = {}
        for name in self.variables:
            shares = frame[name].value_counts(normalize=True, dropna=False)
            if len(shares) > self.n_categories:
                frequent = shares[shares >= self.tol]
            else:
                frequent = shares
            self.frequent_labels_[name] = sorted(frequent.index, key=str)
            if len(frequent) == len(shares):
                self.fallback_labels_[name] = shares.index[0]
        return self

    def rare_bucket(self, variable: str) -> Any:
        """The label that infrequent and unseen labels of ``variable`` become."""
        check_is_fitted(self)
        return self.fallback_labels_.get(variable, self.rare_label)

    def transform(self, X: ArrayLike) -> pd.DataFrame:
        frame = self._transform_frame(X)
        for name in self.variables:
            values = frame[name].astype(object)
            is_frequent = values.isin(self.frequent_labels_[name])
            frame[name] = values.where(is_frequent, self.rare_bucket(name))
        return frame


class FeatureSelector(TransformerMixin, BaseEstimator):
    """Keep exactly ``variables``, in that order; absent columns become missing.

    The fitted pipeline must see exactly its feature columns. Selecting them
    here lets callers pass whole Kaggle rows (``Id`` and other extras are
    dropped) and rows that lack a column (its values count as missing and are
    imputed or rejected downstream), instead of failing deep in scikit-learn.
    """

    def __init__(self, variables: Sequence[str]) -> None:
        self.variables = variables

    def fit(self, X: ArrayLike, y: Any = None) -> FeatureSelector:
        frame = as_frame(X)
        if len(frame) == 0:
            raise ValueError("Found array with 0 sample(s) while fitting")
        self.feature_names_in_ = np.asarray(list(self.variables), dtype=object)
        self.n_features_in_ = len(self.variables)
        return self

    def transform(self, X: ArrayLike) -> pd.DataFrame:
        check_is_fitted(self)
        return as_frame(X).reindex(columns=list(self.variables))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(list(self.variables), dtype=object)


class LinearCombination(_FrameTransformer):
    """Add ``new_variable``: the weighted sum of existing columns.

    Totals (living plus basement area, full plus half baths) and ages (year
    sold minus year built) carry more signal than their parts for both a
    linear model and trees; as one weighted sum each, the exported graph
    computes them exactly as here. Nothing is learned: fit only records the
    columns. Terms are added in ``weights`` order.
    """

    def __init__(self, new_variable: str, weights: Mapping[str, float]) -> None:
        self.new_variable = new_variable
        self.weights = weights

    def _columns_used(self) -> list[str]:
        return list(self.weights)

    def transform(self, X: ArrayLike) -> pd.DataFrame:
        frame = self._transform_frame(X)
        total = pd.Series(0.0, index=frame.index)
        for name, weight in self.weights.items():
            total = total + float(weight) * pd.to_numeric(frame[name]).astype("float64")
        frame[self.new_variable] = total
        return frame

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input columns, then ``new_variable``."""
        check_is_fitted(self)
        return np.asarray([*self.feature_names_in_, self.new_variable], dtype=object)
