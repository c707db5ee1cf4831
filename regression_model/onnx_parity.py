"""The gate an exported graph must pass before it ships: the pipeline's prices.

Two scorers that claim to be one model are compared on every held-out row and
on thousands of perturbed copies of them, made the way real requests differ
from training rows: values missing in any field, legal labels the training
split never saw, labels in another case or with blanks, numbers as floats,
ints or text, ``MSSubClass`` as "20" or 20.0. Every row goes through the
validation ``make_prediction`` uses, so both scorers see exactly the records
the service would hand them. Prices (not log-prices) are compared, relative
to the pipeline's, since a price is what a client gets.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from regression_model.processing.artifacts import ParityReport
from regression_model.processing.schema import field_labels
from regression_model.processing.validation import validate_rows
from regression_model.scoring import Scorer

TOLERANCE = 1e-9
PERTURBED_ROWS = 4_000
# Also scored one per call: pandas types a one-row frame differently (a column
# that is all None is ``object``), so batch-only parity could hide a difference.
SINGLE_ROWS = 32
MISSING_SPELLINGS: tuple[Any, ...] = (None, "NA", "", " na ", math.nan)


class OnnxParityError(RuntimeError):
    """The exported graph's prices differ from the pipeline's: it must not ship."""


Perturbation = Callable[[dict[str, Any], random.Random], None]


def _perturbations(
    features: Sequence[str], required: Sequence[str]
) -> list[Perturbation]:
    """One function per way a request differs from a clean training row."""
    labels = {
        name: choices for name, choices in field_labels().items() if name in features
    }
    numbers = [name for name in features if name not in labels]
    optional = [name for name in features if name not in required]

    def missing(row: dict[str, Any], rng: random.Random) -> None:
        row[rng.choice(optional)] = rng.choice(MISSING_SPELLINGS)

    def legal_label(row: dict[str, Any], rng: random.Random) -> None:
        name = rng.choice(list(labels))
        row[name] = rng.choice(labels[name])

    def label_spelling(row: dict[str, Any], rng: random.Random) -> None:
        name = rng.choice(list(labels))
        value = row.get(name)
        if isinstance(value, str) and value:
            row[name] = rng.choice(
                [
                    value.upper(),
                    value.lower(),
                    value.swapcase(),
                    f" {value} ",
                    f"{value}\t",
                ]
            )

    def number_type(row: dict[str, Any], rng: random.Random) -> None:
        name = rng.choice(numbers)
        value = row.get(name)
        if isinstance(value, (int, float)) and math.isfinite(value):
            spellings: list[Any] = [float(value)]
            if float(value).is_integer():
                spellings += [int(value), str(int(value))]
            row[name] = rng.choice(spellings)

    def jitter(row: dict[str, Any], rng: random.Random) -> None:
        name = rng.choice(numbers)
        value = row.get(name)
        if isinstance(value, (int, float)) and math.isfinite(value):
            scaled = value * rng.uniform(0.5, 1.5)
            row[name] = round(scaled) if float(value).is_integer() else scaled

    def building_class(row: dict[str, Any], rng: random.Random) -> None:
        value = row.get("MSSubClass")
        if isinstance(value, (int, float)) and math.isfinite(value):
            code = int(value)
            row["MSSubClass"] = rng.choice([str(code), float(code), f" {code} ", code])

    return [missing, legal_label, label_spelling, number_type, jitter, building_class]


def _valid_records(
    rows: Sequence[Any], features: Sequence[str], required: Sequence[str]
) -> list[dict[str, Any]]:
    validated = validate_rows(rows, features, required)
    return [record for record in validated.records if record is not None]


def perturbed_records(
    rows: Sequence[Mapping[str, Any]],
    *,
    features: Sequence[str],
    required: Sequence[str],
    count: int = PERTURBED_ROWS,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """``count`` valid records made by perturbing ``rows``, the same for one seed.

    Perturbed rows that fail validation (a jitter past a bound, a number sent
    as text the schema refuses) are dropped and replaced, as the service
    would answer them with errors and never score them.
    """
    rng = random.Random(seed)
    perturbations = _perturbations(features, required)
    records: list[dict[str, Any]] = []
    while len(records) < count:
        batch = []
        for _ in range(count):
            row = dict(rng.choice(rows))
            for _ in range(rng.randint(1, 6)):
                rng.choice(perturbations)(row, rng)
            batch.append(row)
        valid = _valid_records(batch, features, required)
        if not valid:
            raise ValueError(
                "no perturbed row passed validation: check the held-out rows"
            )
        records += valid
    return records[:count]


def _compare(
    reference: Scorer,
    candidate: Scorer,
    records: Sequence[dict[str, Any]],
    *,
    singly: bool,
) -> np.ndarray:
    """Relative price difference per record (infinite where either is not finite)."""
    if singly:
        expected = np.concatenate([reference.predict_log_price([r]) for r in records])
        actual = np.concatenate([candidate.predict_log_price([r]) for r in records])
    else:
        expected = reference.predict_log_price(records)
        actual = candidate.predict_log_price(records)
    with np.errstate(over="ignore", invalid="ignore"):
        reference_prices, candidate_prices = np.exp(expected), np.exp(actual)
        relative = np.abs(candidate_prices - reference_prices) / np.abs(reference_prices)
    return np.where(np.isfinite(relative), relative, np.inf)


def check_onnx_parity(
    reference: Scorer,
    candidate: Scorer,
    held_out_rows: Sequence[Mapping[str, Any]],
    *,
    required: Sequence[str],
    perturbed: int = PERTURBED_ROWS,
    seed: int = 0,
    tolerance: float = TOLERANCE,
) -> ParityReport:
    """Compare ``candidate``'s prices with ``reference``'s; raise past ``tolerance``.

    Raises ``OnnxParityError`` naming the worst record when the largest
    relative price difference exceeds ``tolerance``.
    """
    features = reference.features
    if list(candidate.features) != list(features):
        raise OnnxParityError(
            f"the scorers read different features: {candidate.features} != {features}"
        )
    held_out = _valid_records(held_out_rows, features, required)
    varied = perturbed_records(
        held_out_rows, features=features, required=required, count=perturbed, seed=seed
    )
    checks = (
        ("held-out", held_out, False),
        ("perturbed", varied, False),
        ("single-row", varied[:SINGLE_ROWS], True),
    )
    worst = 0.0
    for source, records, singly in checks:
        try:
            relative = _compare(reference, candidate, records, singly=singly)
        except ValueError as error:
            raise OnnxParityError(
                f"a scorer refused {source} records: {error}"
            ) from error
        index = int(np.argmax(relative)) if len(relative) else 0
        if len(relative) and relative[index] > tolerance:
            raise OnnxParityError(
                f"ONNX graph and pipeline disagree on {source} record {index}: relative "
                f"price difference {relative[index]:.3e} > {tolerance:.0e}; "
                f"record: {records[index]}"
            )
        worst = max(worst, float(relative.max(initial=0.0)))
    return ParityReport(
        held_out_rows=len(held_out),
        perturbed_rows=len(varied),
        single_rows=min(SINGLE_ROWS, len(varied)),
        max_relative_difference=worst,
        tolerance=tolerance,
        seed=seed,
    )
