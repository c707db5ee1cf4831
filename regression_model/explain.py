"""Exact additive explanations of a price, from tables written at training.

What a row gets: a base log-price and one contribution per design column
that add up to the row's log-price (the model is ``a * linear + b * trees``
on one design; ``explain_tables`` says how each part is split). NumPy only:
no LightGBM, no ``shap`` at serving.

Attribution rule: one contribution per column of the model's design, named
as the design names it. A raw input (``GrLivArea``, ``Neighborhood``) is
its own column, under its Kaggle name; an engineered column built from
several inputs (``TotalSF``, ``TotalBaths``, ``HouseAge``, ``RemodAge``:
every key of ``combinations`` in ``config.yml``) is named explicitly and
not split to its inputs, because the Lasso logs it and the trees split on
it as a whole, so any split would be a convention, not the model. Its
inputs, where the design also reads them on their own, get their own
contributions besides.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# Rows explained per pass: a pass's intermediates (one tree row and one
# value per slot) then stay in cache instead of growing with the batch.
CHUNK_ROWS = 32


@dataclass(frozen=True)
class Explanation:
    """Base log-prices ``[N]`` and contributions ``[N, len(features)]``."""

    base: np.ndarray
    contributions: np.ndarray


class Explainer:
    """The explanation tables of one model (``explain_tables.write_tables``)."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.features = [str(name) for name in arrays["design_names"]]
        width = len(self.features)
        self._logged = np.asarray(arrays["linear_logged"], dtype=bool)
        self._shift = float(arrays["linear_log_shift"])
        linear_share, tree_share = (float(w) for w in arrays["blend_weights"])
        weights = np.asarray(arrays["linear_weights"], dtype=np.float64)
        means = np.asarray(arrays["linear_term_means"], dtype=np.float64)
        self._linear_weights = linear_share * weights
        self._linear_means = linear_share * means
        self._base = linear_share * (
            float(arrays["linear_bias"]) + float(np.sum(means))
        ) + tree_share * float(arrays["tree_base"])
        # Trees share thresholds: each distinct (feature, threshold) pair is
        # compared once, and every entry reads its pair's result.
        pairs, entry_pairs = np.unique(
            np.stack(
                [
                    np.asarray(arrays["tree_entry_features"], dtype=np.float64).ravel(),
                    np.asarray(arrays["tree_entry_thresholds"], dtype=np.float64).ravel(),
                ]
            ),
            axis=1,
            return_inverse=True,
        )
        self._pair_features = pairs[0].astype(np.intp)
        self._pair_thresholds = pairs[1][:, None]
        self._entry_pairs = entry_pairs.ravel()
        self._entry_strides = np.asarray(arrays["tree_entry_strides"], dtype=np.int32)
        slot_trees = np.asarray(arrays["tree_slot_trees"], dtype=np.intp)
        slot_cells = np.asarray(arrays["tree_slot_cells"], dtype=np.intp)
        first = np.full(len(self._entry_strides), slot_cells.max(initial=0))
        np.minimum.at(first, slot_trees, slot_cells)
        widths = np.zeros(len(first), dtype=np.intp)
        widths[slot_trees] = np.asarray(arrays["tree_slot_widths"])
        counts = 1 + self._entry_strides.sum(axis=1, dtype=np.intp)
        self._rows = _tree_rows(
            tree_share * np.asarray(arrays["tree_cells"], dtype=np.float64),
            first,
            widths,
            counts,
        )
        self._first_rows = np.cumsum(counts) - counts
        # Where each slot's value lands among a batch row's gathered tree rows.
        self._slot_columns = slot_trees * self._rows.shape[1] + (
            slot_cells - first[slot_trees]
        )
        fed = np.asarray(arrays["tree_slot_features"])
        # Slots come sorted by the column they feed: one reduceat sums each column.
        self._fed_columns, self._starts = np.unique(fed, return_index=True)
        if len(self._linear_weights) != width or len(self._linear_means) != width:
            raise ValueError("explanation tables disagree on the design's width")

    @classmethod
    def from_bytes(cls, data: bytes) -> Explainer:
        """Load tables from the ``.npz`` bytes (no pickles are read)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return cls({name: arrays[name] for name in arrays.files})

    def explain(self, design: np.ndarray) -> Explanation:
        """Explain the rows of ``design`` ``[len(features), N]``, the graph's design.

        Every value must be finite (a priced row's design is).
        """
        values = design.copy()
        values[self._logged] = np.log(design[self._logged] + self._shift)
        linear = values * self._linear_weights[:, None] - self._linear_means[:, None]
        contributions = np.ascontiguousarray(linear.T)
        rows = design.shape[1]
        trees = np.empty((rows, len(self._fed_columns)))
        for start in range(0, rows, CHUNK_ROWS):
            chunk = design[:, start : start + CHUNK_ROWS]
            trees[start : start + chunk.shape[1]] = self._tree_contributions(chunk)
        contributions[:, self._fed_columns] += trees
        return Explanation(
            base=np.full(design.shape[1], self._base), contributions=contributions
        )

    def _tree_contributions(self, design: np.ndarray) -> np.ndarray:
        """TreeSHAP ``[rows, len(fed)]`` of every column that feeds a tree.

        ``design`` has one column per house. A house's cell in a tree is the
        strided count of the tree's thresholds it is not ``<=`` to (NaN: all
        of them, the graph's false branch); one gather fetches the tree's
        row of slot values for that cell, and the slots of each design
        column are summed.
        """
        rows = design.shape[1]
        above = ~(np.take(design, self._pair_features, axis=0) <= self._pair_thresholds)
        cells = np.einsum(
            "ten,te->nt",
            np.take(above, self._entry_pairs, axis=0).reshape(
                *self._entry_strides.shape, rows
            ),
            self._entry_strides,
        )
        values = np.take(self._rows, cells + self._first_rows, axis=0).reshape(rows, -1)
        # np.take keeps the row-major layout along which reduceat sums fast.
        slots = np.take(values, self._slot_columns, axis=1)
        return np.add.reduceat(slots, self._starts, axis=1)


def _tree_rows(
    cells: np.ndarray, first: np.ndarray, widths: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Every tree's cells as rows of one zero-padded table ``[all cells, widest]``.

    Tree ``t``'s value for cell ``c`` and split feature ``k`` is
    ``cells[first[t] + c * widths[t] + k]``; it moves to row
    ``sum(counts[:t]) + c``, column ``k``, so one row gather per tree
    fetches all of its slots at once.
    """
    sizes = counts * widths
    tree = np.repeat(np.arange(len(counts)), sizes)
    local = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    rows = np.zeros((counts.sum(), widths.max(initial=0)))
    width = widths[tree]
    rows[(np.cumsum(counts) - counts)[tree] + local // width, local % width] = cells[
        first[tree] + local
    ]
    return rows
