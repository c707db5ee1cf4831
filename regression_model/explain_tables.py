"""Build, at training, the tables that make exact explanations a few NumPy gathers.

The model is ``a * linear + b * trees`` on one design. Its explanation has
one contribution per design column (``explain`` documents the naming):

* the linear part is a sum of per-column terms ``w_j * x'_j`` (``x'`` the
  logged column where the Lasso logs it); each term minus its mean over the
  training design is that column's contribution, the means go to the base;
* the trees get exact path-dependent TreeSHAP (Lundberg et al., 2020), the
  algorithm LightGBM's ``pred_contrib`` runs, with node covers from
  ``dump_model()``'s ``internal_count``/``leaf_count``.

Why tables: a tree's SHAP values depend on a row only through where the row
falls among the tree's thresholds, feature by feature. With ``n_f`` distinct
thresholds on feature ``f``, the row's interval index on ``f`` is the number
of them it is not ``<=`` to (NaN counts as above all of them, the graph's
false branch), and the mixed-radix number of these indices (radix
``n_f + 1``) names one of ``prod(n_f + 1)`` cells. Each cell's SHAP vector
is computed here, once; serving looks it up. A leaf's term is the Shapley
value of ``v(S) = leaf * prod_{j in S} o_j * prod_{j not in S} z_j`` over
the leaf's path features (``o_j``: the row satisfies every split on ``j``
along the path; ``z_j``: the product of the cover fractions of those
splits), summed over the tree's leaves.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from regression_model.export_onnx import plan_export

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

# Cells of one tree: prod(n_f + 1) over its split features. Bounded so a
# model with much larger trees fails at export with a message, not at serving.
MAX_TREE_CELLS = 1 << 14


class TableSizeError(ValueError):
    """A tree has too many threshold cells to tabulate its SHAP values."""


@dataclass(frozen=True)
class _Leaf:
    value: float
    # (feature, threshold, went_left, cover fraction) for every split on the path
    path: tuple[tuple[int, float, bool, float], ...]


def _leaves(node: dict[str, Any], path: tuple[Any, ...] = ()) -> list[_Leaf]:
    if "leaf_value" in node:
        return [_Leaf(float(node["leaf_value"]), path)]
    count = float(node["internal_count"])
    found: list[_Leaf] = []
    for child, left in ((node["left_child"], True), (node["right_child"], False)):
        child_count = float(child.get("internal_count", child.get("leaf_count", 0)))
        step = (int(node["split_feature"]), float(node["threshold"]), left)
        found += _leaves(child, (*path, (*step, child_count / count)))
    return found


def _shapley_weights(size: int) -> np.ndarray:
    """``|S|! (size - |S| - 1)! / size!`` for ``|S|`` in ``0..size-1``, then 0.

    The last slot is the full set, which holds every feature and never counts.
    """
    return np.array(
        [
            math.factorial(s) * math.factorial(size - s - 1) / math.factorial(size)
            for s in range(size)
        ]
        + [0.0]
    )


def _leaf_shap(value: float, on: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """One leaf's SHAP values ``[cells, u]`` from its ``on`` bits ``[cells, u]``.

    ``zero`` holds the ``u`` path features' cover products.
    """
    size = len(zero)
    subsets = np.array(list(product((False, True), repeat=size)), dtype=bool)
    weights = _shapley_weights(size)[subsets.sum(axis=1)]
    # prod over j not in S, j != i of z_j, for every subset S and feature i
    outside = np.where(subsets, 1.0, zero[None, :])
    others = np.empty((len(subsets), size))
    for i in range(size):
        others[:, i] = np.prod(np.delete(outside, i, axis=1), axis=1)
    kernel = np.where(subsets, 0.0, weights[:, None] * others)
    all_on = np.all(on[:, None, :] | ~subsets[None, :, :], axis=2).astype(np.float64)
    shap: np.ndarray = value * (on - zero[None, :]) * (all_on @ kernel)
    return shap


@dataclass(frozen=True)
class TreeTable:
    """One tree: its threshold entries, split features and SHAP value per cell."""

    features: list[int]
    entry_features: list[int]
    entry_thresholds: list[float]
    entry_strides: list[int]
    cells: np.ndarray  # [cells, len(features)]
    base: float


def tree_table(structure: dict[str, Any]) -> TreeTable:
    """The SHAP table of one tree of ``dump_model()['tree_info']``."""
    leaves = _leaves(structure)
    thresholds: dict[int, list[float]] = {}
    for leaf in leaves:
        for feature, threshold, _, _ in leaf.path:
            thresholds.setdefault(feature, [])
            if threshold not in thresholds[feature]:
                thresholds[feature].append(threshold)
    features = sorted(thresholds)
    radix = [len(thresholds[f]) + 1 for f in features]
    n_cells = math.prod(radix)
    if n_cells > MAX_TREE_CELLS:
        raise TableSizeError(
            f"a tree splits into {n_cells} threshold cells (limit {MAX_TREE_CELLS}): "
            "lower trees_num_leaves or raise MAX_TREE_CELLS"
        )
    strides = [math.prod(radix[:k]) for k in range(len(features))]
    cell = np.arange(n_cells)
    index = {  # interval index of every cell on every split feature
        f: (cell // strides[k]) % radix[k] for k, f in enumerate(features)
    }
    ordered = {f: sorted(thresholds[f]) for f in features}
    cells = np.zeros((n_cells, len(features)))
    base = 0.0
    for leaf in leaves:
        on: dict[int, np.ndarray] = {}
        zero: dict[int, float] = {}
        for feature, threshold, left, fraction in leaf.path:
            j = ordered[feature].index(threshold)
            holds = index[feature] <= j if left else index[feature] > j
            on[feature] = on.get(feature, np.ones(n_cells, dtype=bool)) & holds
            zero[feature] = zero.get(feature, 1.0) * fraction
        used = sorted(on)
        base += leaf.value * math.prod(zero.values())
        if used:
            shap = _leaf_shap(
                leaf.value,
                np.stack([on[f] for f in used], axis=1),
                np.array([zero[f] for f in used]),
            )
            for k, f in enumerate(used):
                cells[:, features.index(f)] += shap[:, k]
    entries = [(f, t, strides[k]) for k, f in enumerate(features) for t in ordered[f]]
    return TreeTable(
        features=features,
        entry_features=[e[0] for e in entries],
        entry_thresholds=[e[1] for e in entries],
        entry_strides=[e[2] for e in entries],
        cells=cells,
        base=base,
    )


def tree_arrays(dump: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every tree's table, flattened for serving.

    Entries (``tree_entry_*``, ``[trees, most thresholds]``, one per distinct
    threshold of a tree, padded with ``+inf`` at stride 0) give each row's
    cell. Slots (``tree_slot_*``, one per
    split feature of a tree, sorted by feature) say where in ``tree_cells``
    that feature's value for cell 0 sits (``tree_slot_cells``) and how far
    apart consecutive cells are (``tree_slot_widths``).
    """
    tables = [tree_table(info["tree_structure"]) for info in dump["tree_info"]]
    n_entries = max(1, *(len(t.entry_features) for t in tables))
    entry_features = np.zeros((len(tables), n_entries), dtype=np.int64)
    entry_thresholds = np.full((len(tables), n_entries), np.inf)
    entry_strides = np.zeros((len(tables), n_entries), dtype=np.int32)
    slots: list[tuple[int, int, int, int]] = []  # feature, tree, first cell, width
    blocks: list[np.ndarray] = []
    position = 0
    for t, table in enumerate(tables):
        used = len(table.entry_features)
        entry_features[t, :used] = table.entry_features
        entry_thresholds[t, :used] = table.entry_thresholds
        entry_strides[t, :used] = table.entry_strides
        width = len(table.features)
        slots += [(f, t, position + k, width) for k, f in enumerate(table.features)]
        blocks.append(table.cells.reshape(-1))
        position += table.cells.size
    slots.sort()
    return {
        "tree_entry_features": entry_features,
        "tree_entry_thresholds": entry_thresholds,
        "tree_entry_strides": entry_strides,
        "tree_slot_features": np.array([s[0] for s in slots], dtype=np.int64),
        "tree_slot_trees": np.array([s[1] for s in slots], dtype=np.int64),
        "tree_slot_cells": np.array([s[2] for s in slots], dtype=np.int32),
        "tree_slot_widths": np.array([s[3] for s in slots], dtype=np.int32),
        "tree_cells": np.concatenate(blocks),
        "tree_base": np.array(sum(t.base for t in tables)),
    }


def linear_term_means(
    design: np.ndarray, weights: np.ndarray, logged: np.ndarray, shift: float
) -> np.ndarray:
    """Each linear term's mean over the training ``design`` ``[rows, columns]``."""
    values = design.copy()
    values[:, logged] = np.log(design[:, logged] + shift)
    return np.asarray(np.mean(values * weights[None, :], axis=0), dtype=np.float64)


def write_tables(
    path: Path,
    *,
    design_names: list[str],
    training_design: np.ndarray,
    logged_names: list[str],
    log_shift: float,
    linear_weights: np.ndarray,
    linear_bias: float,
    blend_weights: tuple[float, float],
    dump: dict[str, Any],
) -> None:
    """Write everything ``explain.Explainer`` needs to ``path`` (an ``.npz``)."""
    logged = np.array([name in logged_names for name in design_names])
    arrays = tree_arrays(dump)
    arrays |= {
        "design_names": np.array(design_names, dtype=np.str_),
        "linear_logged": logged,
        "linear_log_shift": np.array(log_shift),
        "linear_weights": np.asarray(linear_weights, dtype=np.float64),
        "linear_bias": np.array(linear_bias),
        "linear_term_means": linear_term_means(
            training_design, linear_weights, logged, log_shift
        ),
        "blend_weights": np.array(blend_weights, dtype=np.float64),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npz(path, arrays)


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed``'s format with fixed timestamps: same arrays, same bytes.

    ``numpy.savez`` stamps each member with the current time, so its hash
    (recorded in the metadata) would change with every training.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            np.lib.format.write_array(
                buffer, np.asarray(arrays[name]), allow_pickle=False
            )
            archive.writestr(member, buffer.getvalue())


def export_explanations(pipeline: Pipeline, train: pd.DataFrame, path: Path) -> None:
    """Write the fitted ``pipeline``'s explanation tables to ``path``.

    ``train`` (raw features) gives the training design whose mean linear
    terms make the base; the trees' base is their cover-weighted mean.
    """
    plan = plan_export(pipeline)
    design = pipeline[:-1].transform(train)[plan.design].to_numpy(dtype=np.float64)
    trees = pipeline.steps[-1][1].named_estimators_["trees"]
    write_tables(
        path,
        design_names=plan.design,
        training_design=design,
        logged_names=plan.logged,
        log_shift=plan.log_shift,
        linear_weights=plan.linear_weights,
        linear_bias=plan.linear_bias,
        blend_weights=plan.blend_weights,
        dump=trees.booster_.dump_model(),
    )
