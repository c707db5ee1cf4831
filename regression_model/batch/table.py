"""Scoring an Arrow table: column-wise checks, the row schema for the rest, one graph run.

The result for every row is what ``make_prediction`` gives that row: the
plain cells are checked by column (``columns``); a row with a cell that
check cannot decide goes whole through ``validate_rows``, the API's own
validation; and the valid rows of both kinds are fed to the graph together,
through the scorer's public ``score_columns``, in the graph's contract (a
``numbers`` and a ``labels`` input named row by row in its metadata). Label
columns travel as codes into their small dictionaries until the feed, where
``np.take`` lays out the graph's text. Intervals and explanations come from
the same run through the package's public ``log_interval`` and ``Explainer``,
as ``make_prediction`` computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from regression_model.batch.columns import (
    CheckedColumn,
    CleanColumn,
    LabelColumn,
    NumberColumn,
    check_column,
    csv_cell,
)
from regression_model.explain import Explainer
from regression_model.intervals import log_interval
from regression_model.model import LoadedModel, load_model
from regression_model.onnx_contract import LABELS_INPUT, NUMBERS_INPUT
from regression_model.predict import UNPRICEABLE_MESSAGE
from regression_model.processing.plain_checks import PlainField
from regression_model.processing.validation import (
    PLAIN_FIELDS,
    REQUIRED_MESSAGE,
    ROW_LEVEL,
    validate_rows,
)
from regression_model.scoring import OnnxScorer, label_text

ERROR_TYPE = pa.struct([("field", pa.string()), ("message", pa.string())])
ERRORS_TYPE = pa.list_(ERROR_TYPE)
IMPUTED_TYPE = pa.list_(pa.string())
ID_COLUMN = "Id"
ROW_COLUMN = "row"
INTERVAL_COLUMNS = ("interval_low", "interval_high")
BASE_COLUMN = "base_log_price"
CONTRIBUTION_PREFIX = "contrib_"


@dataclass(frozen=True)
class Outcome:
    """Per row of a table: its price (NaN: none), errors and imputed fields.

    ``intervals`` is ``[N, 2]`` (low, high in dollars; NaN: none); ``base``
    ``[N]`` and ``contributions`` ``[N, features]`` are there when explained
    (NaN for an unpriced row).
    """

    prices: np.ndarray
    errors: pa.Array
    imputed: pa.Array
    intervals: np.ndarray
    base: np.ndarray | None = None
    contributions: np.ndarray | None = None

    @classmethod
    def refused(cls, size: int, message: str) -> Outcome:
        """Every row refused with one row-level error (an input the model cannot read)."""
        errors = {row: [(ROW_LEVEL, message)] for row in range(size)}
        return cls(
            prices=np.full(size, np.nan),
            errors=_errors_array(errors, size),
            imputed=pa.array([[]] * size, IMPUTED_TYPE),
            intervals=np.full((size, 2), np.nan),
        )

    def extra_columns(self, explained: list[str] | None) -> dict[str, pa.Array]:
        """The interval columns, and for ``explained`` features the explanation's.

        Null where a row has none (no price, or a refused input).
        """
        size = len(self.prices)
        columns = {
            name: _floats(self.intervals[:, k]) for k, name in enumerate(INTERVAL_COLUMNS)
        }
        if explained is None:
            return columns
        base = np.full(size, np.nan) if self.base is None else self.base
        contributions = self.contributions
        if contributions is None:
            contributions = np.full((size, len(explained)), np.nan)
        columns[BASE_COLUMN] = _floats(base)
        for k, name in enumerate(explained):
            columns[CONTRIBUTION_PREFIX + name] = _floats(contributions[:, k])
        return columns


def extra_fields(explained: list[str] | None) -> list[pa.Field]:
    """The schema of ``Outcome.extra_columns``: all float64."""
    names = [*INTERVAL_COLUMNS]
    if explained is not None:
        names += [BASE_COLUMN, *(CONTRIBUTION_PREFIX + name for name in explained)]
    return [pa.field(name, pa.float64()) for name in names]


def _floats(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), from_pandas=True)


@dataclass(frozen=True)
class Prepared:
    """A table ready for the graph: its feed, the rows the feed holds, what is known.

    ``feed`` holds the graph's inputs for ``rows`` (in order); ``errors`` the
    rows refused so far, by row; ``missing`` each row's imputed features.
    """

    feed: dict[str, np.ndarray]
    rows: np.ndarray
    errors: dict[int, list[tuple[str, str]]]
    missing: np.ndarray


class TableScorer:
    """Scores Arrow tables with one loaded model (the exported graph).

    The model must be the ONNX backend: batch scoring feeds the graph's two
    inputs directly. Intervals come with every run when the model carries a
    calibration; ``offers_explanations`` says whether ``explain`` may be asked.
    """

    def __init__(self, model: LoadedModel | None = None) -> None:
        model = model or load_model()
        if not isinstance(model.scorer, OnnxScorer):
            raise ValueError(
                f"batch scoring needs the 'onnx' backend, not {model.backend!r}"
            )
        self.model = model
        self.scorer: OnnxScorer = model.scorer
        self.features = self.scorer.features
        self.required = list(model.metadata.config.required_features)
        self.fields = {plain.output: plain for plain in PLAIN_FIELDS or ()}
        self.explainer: Explainer | None = model.explainer
        self.offers_explanations = self.explainer is not None and bool(
            self.scorer.design_names
        )

    @property
    def explained_features(self) -> list[str]:
        """The features an explanation has one contribution for (design names)."""
        if self.explainer is None:
            raise ValueError(f"model {self.version} offers no explanations")
        return list(self.explainer.features)

    @property
    def version(self) -> str:
        return self.model.version

    def score(
        self, table: pa.Table, *, text_cells: bool = False, explain: bool = False
    ) -> Outcome:
        """Every row's outcome; ``text_cells``: number fields hold CSV text.

        ``explain`` adds each priced row's base and contributions; it raises
        ``ValueError`` for a model that offers none.
        """
        if explain and (self.explainer is None or not self.offers_explanations):
            raise ValueError(f"model {self.version} offers no explanations")
        prepared = self.prepare(table, text_cells=text_cells)
        errors, missing, rows = prepared.errors, prepared.missing, prepared.rows
        size = table.num_rows
        prices = np.full(size, np.nan)
        log_prices = np.empty(0)
        design = np.empty((0, 0))
        if rows.size and explain:
            log_prices, design = self.scorer.score_columns_and_design(prepared.feed)
        elif rows.size:
            log_prices = self.scorer.score_columns(prepared.feed)
        if rows.size:
            with np.errstate(over="ignore"):
                priced = np.exp(log_prices)
            for row in rows[~np.isfinite(priced)].tolist():
                errors.setdefault(row, []).append((ROW_LEVEL, UNPRICEABLE_MESSAGE))
            prices[rows] = priced
        prices[list(errors)] = np.nan
        missing[list(errors)] = False
        outcome = Outcome(
            prices=prices,
            errors=_errors_array(errors, size),
            imputed=_imputed_array(missing, self.features),
            intervals=self._intervals(prices, rows, log_prices),
        )
        if not explain or self.explainer is None:
            return outcome
        base, contributions = _explained(self.explainer, prices, rows, design)
        return replace(outcome, base=base, contributions=contributions)

    def _intervals(
        self, prices: np.ndarray, rows: np.ndarray, log_prices: np.ndarray
    ) -> np.ndarray:
        """Each priced row's ``[low, high]`` as ``make_prediction`` has it."""
        intervals = np.full((len(prices), 2), np.nan)
        calibration = self.model.metadata.intervals
        if calibration is None or not rows.size:
            return intervals
        low, high = log_interval(calibration, log_prices)
        with np.errstate(over="ignore"):
            bounds = np.exp(np.column_stack((low, high)))
        keep = np.isfinite(prices[rows]) & np.isfinite(bounds[:, 1])
        intervals[rows[keep]] = bounds[keep]
        return intervals

    def prepare(self, table: pa.Table, *, text_cells: bool = False) -> Prepared:
        """Everything ``score`` does before the graph runs: checks, errors, the feed.

        Public so that the graph's share of a run can be measured on the very
        feed ``score`` gives it (``scorer.score_columns(prepared.feed)``).
        """
        size = table.num_rows
        clean, undecided = self._checked(table, text_cells=text_cells)
        errors: dict[int, list[tuple[str, str]]] = {}
        missing = np.zeros((size, len(self.features)), dtype=bool)
        for position, name in enumerate(self.features):
            missing[:, position] = _missing_of(clean.get(name), size)
        refused = np.zeros(size, dtype=bool)
        for name in self.required:
            lacking = ~undecided & _missing_of(clean.get(name), size)
            for row in np.flatnonzero(lacking).tolist():
                errors.setdefault(row, []).append((name, REQUIRED_MESSAGE))
            refused |= lacking
        fast_rows = np.flatnonzero(~undecided & ~refused)
        slow_rows = np.flatnonzero(undecided)
        slow_valid, slow_feed = self._validate_rows(
            table, slow_rows, text_cells, errors, missing
        )
        feed, rows = self._feed(clean, fast_rows, slow_valid, slow_feed)
        return Prepared(feed=feed, rows=rows, errors=errors, missing=missing)

    def _checked(
        self, table: pa.Table, *, text_cells: bool
    ) -> tuple[dict[str, CleanColumn], np.ndarray]:
        """Each field's clean column, and the rows the row schema must decide."""
        size = table.num_rows
        undecided = np.zeros(size, dtype=bool)
        if not self.fields:  # a schema the plain checks do not understand
            return {}, np.ones(size, dtype=bool)
        clean: dict[str, CleanColumn] = {}
        names = set(table.column_names)
        for output, plain in self.fields.items():
            spellings = [key for key in (plain.key, *plain.other_keys) if key in names]
            if not spellings:
                continue
            if len(spellings) > 1:  # conflicts and choices are the row schema's call
                for key in spellings:
                    undecided |= _present(table.column(key))
            checked = _check(plain, table.column(spellings[0]), text_cells)
            clean[output] = checked.clean
            undecided |= checked.undecided
        return clean, undecided

    def _validate_rows(
        self,
        table: pa.Table,
        rows: np.ndarray,
        text_cells: bool,
        errors: dict[int, list[tuple[str, str]]],
        missing: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``validate_rows`` on the undecided rows: their errors, valid rows and feed."""
        if not rows.size:
            return rows, {}
        records = self._records(table, rows, text_cells)
        validated = validate_rows(records, self.features, self.required)
        for error in validated.errors:
            errors.setdefault(int(rows[error["row"]]), []).append(
                (error["field"], error["message"])
            )
        valid = rows[np.asarray(validated.valid_indices, dtype=np.int64)]
        positions = {name: k for k, name in enumerate(self.features)}
        for row, fields in zip(rows.tolist(), validated.imputed, strict=True):
            missing[row] = False
            for name in fields:
                missing[row, positions[name]] = True
        if not valid.size:
            return valid, {}
        return valid, self.scorer.graph_inputs(validated.columns)

    def _records(
        self, table: pa.Table, rows: np.ndarray, text_cells: bool
    ) -> list[dict[str, Any]]:
        """The rows as the row schema reads them: every spelling of every field."""
        taken = table.take(pa.array(rows))
        if self.fields:
            keys = [
                (key, plain.kind != "label")
                for plain in self.fields.values()
                for key in (plain.key, *plain.other_keys)
                if key in taken.column_names
            ]
        else:
            keys = [(name, False) for name in taken.column_names]
        columns: dict[str, list[Any]] = {}
        for key, number in keys:
            values = taken.column(key).to_pylist()
            columns[key] = (
                [csv_cell(v) for v in values] if text_cells and number else values
            )
        if not columns:
            return [{} for _ in range(len(rows))]
        return [
            dict(zip(columns, values, strict=True))
            for values in zip(*columns.values(), strict=True)
        ]

    def _feed(
        self,
        clean: dict[str, CleanColumn],
        fast_rows: np.ndarray,
        slow_rows: np.ndarray,
        slow_feed: dict[str, np.ndarray],
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The graph's inputs for the valid rows of both kinds, in row order."""
        numbers = np.full((len(self.scorer.number_names), fast_rows.size), np.nan)
        for position, name in enumerate(self.scorer.number_names):
            column = clean.get(name)
            if isinstance(column, NumberColumn):
                numbers[position] = column.values[fast_rows]
            elif column is not None:
                raise ValueError(f"the graph reads {name!r} as a number; it is a label")
        feed = {NUMBERS_INPUT: numbers}
        if self.scorer.label_names:
            feed[LABELS_INPUT] = np.stack(
                [
                    _label_texts(clean.get(name), fast_rows)
                    for name in self.scorer.label_names
                ]
            )
        if not slow_rows.size:
            return feed, fast_rows
        rows = np.concatenate([fast_rows, slow_rows])
        order = np.argsort(rows, kind="stable")
        merged = {
            name: np.concatenate([array, slow_feed[name]], axis=1)[:, order]
            for name, array in feed.items()
        }
        return merged, rows[order]


def _explained(
    explainer: Explainer, prices: np.ndarray, rows: np.ndarray, design: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Base ``[N]`` and contributions ``[N, features]``; NaN for unpriced rows."""
    base = np.full(len(prices), np.nan)
    contributions = np.full((len(prices), len(explainer.features)), np.nan)
    priced = np.isfinite(prices[rows]) if rows.size else np.zeros(0, dtype=bool)
    if priced.any():
        explained = explainer.explain(design[:, priced])
        base[rows[priced]] = explained.base
        contributions[rows[priced]] = explained.contributions
    return base, contributions


def _check(plain: PlainField, column: pa.ChunkedArray, text_cells: bool) -> CheckedColumn:
    return check_column(plain, column.combine_chunks(), text_cells=text_cells)


def _present(column: pa.ChunkedArray) -> np.ndarray:
    result: np.ndarray = np.asarray(
        column.combine_chunks().is_valid().to_numpy(zero_copy_only=False), dtype=bool
    )
    return result


def _missing_of(column: CleanColumn | None, size: int) -> np.ndarray:
    if column is None:
        return np.ones(size, dtype=bool)
    return column.missing


def _label_texts(column: CleanColumn | None, rows: np.ndarray) -> np.ndarray:
    """A label row of the graph's input: each distinct label's text, taken per row."""
    if column is None:
        return np.full(rows.size, "", dtype=object)
    if isinstance(column, LabelColumn):
        texts = np.array([*map(label_text, column.labels), ""], dtype=object)
        taken: np.ndarray = np.take(
            texts, column.codes[rows]
        )  # code -1: the "" at the end
        return taken
    distinct, codes = np.unique(column.values[rows], return_inverse=True)
    texts = np.array([label_text(value) for value in distinct.tolist()], dtype=object)
    result: np.ndarray = np.take(texts, codes)
    return result


def _errors_array(errors: dict[int, list[tuple[str, str]]], size: int) -> pa.Array:
    """Each row's errors as a list of (field, message); empty for a priced row."""
    counts = np.zeros(size + 1, dtype=np.int32)
    fields: list[str] = []
    messages: list[str] = []
    for row in sorted(errors):
        counts[row + 1] = len(errors[row])
        for field, message in errors[row]:
            fields.append(field)
            messages.append(message)
    values = pa.StructArray.from_arrays(
        [pa.array(fields, pa.string()), pa.array(messages, pa.string())],
        fields=list(ERROR_TYPE),
    )
    return pa.ListArray.from_arrays(pa.array(np.cumsum(counts, dtype=np.int32)), values)


def _imputed_array(missing: np.ndarray, features: list[str]) -> pa.Array:
    """Each row's imputed features, in the model's order (a row-major ``nonzero``)."""
    rows, positions = np.nonzero(missing)
    counts = np.bincount(rows, minlength=missing.shape[0])
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    names = pa.array(features, pa.string()).take(pa.array(positions))
    return pa.ListArray.from_arrays(pa.array(offsets), names)


def result_table(
    ids: pa.Array, id_name: str, outcome: Outcome, explained: list[str] | None = None
) -> pa.Table:
    """The output columns: the row's id, price (null: none), errors, imputed fields,
    the interval and, for ``explained`` features, the explanation."""
    return pa.table(
        {
            id_name: ids,
            "price": _floats(outcome.prices),
            "errors": outcome.errors,
            "imputed": outcome.imputed,
            **outcome.extra_columns(explained),
        }
    )


def score_table(
    table: pa.Table, *, model: LoadedModel | None = None, explain: bool = False
) -> pa.Table:
    """Price every row of ``table`` (Kaggle's column names): one output row per input row.

    Columns: ``Id`` (``row``, the row's index, when the table has no ``Id``),
    ``price`` (null for a row with errors), ``errors`` (a list of
    ``{field, message}``, as ``make_prediction`` names them) and ``imputed``
    (the features that were missing and got a learned statistic),
    ``interval_low``/``interval_high`` (null without a price) and, with
    ``explain``, ``base_log_price`` and one ``contrib_<feature>`` per explained
    feature. All equal ``make_prediction``'s for the same rows, to the bit.
    """
    scorer = TableScorer(model)
    outcome = scorer.score(table, explain=explain)
    explained = scorer.explained_features if explain else None
    if ID_COLUMN in table.column_names:
        ids = table.column(ID_COLUMN).combine_chunks()
        return result_table(ids, ID_COLUMN, outcome, explained)
    rows = pa.array(np.arange(table.num_rows, dtype=np.int64))
    return result_table(rows, ROW_COLUMN, outcome, explained)
