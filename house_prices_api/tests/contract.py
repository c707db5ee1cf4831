"""Contract fuzzing with schemathesis: the runner and the service's own extra check.

``run_contract_fuzz`` runs the ``schemathesis run`` command line (every phase,
every built-in check but one) against a server's ``/openapi.json``, with this
module loaded as its hooks so that ``one_answer_per_row`` runs too, and
returns the run's JSON report. The test and ``benchmarks/fuzz_contract.py``
share it.

The built-in check left out is ``negative_data_rejection``, which expects a
request that breaks the row schema to be refused as a whole. This API
promises the opposite, by design: a bad row gets an error of its own and
never fails the others, and labels, ``"NA"`` and ``MSSubClass`` are read
leniently. ``one_answer_per_row`` checks that promise instead, on every
prediction body, valid request or not.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis import Case, CheckContext, Response

TESTS_DIR = Path(__file__).resolve().parent
PREDICT_PATH = "/api/v1/predict"
EXCLUDED_CHECKS = ("negative_data_rejection",)
# Operations whose data no operation of the document creates: a feedback's
# request id comes from a prediction's X-Request-ID header, so generated ids
# get 404, as they should (tests/test_monitoring.py covers the found case).
NO_DOCUMENTED_SOURCE = frozenset({"POST /api/v1/feedback"})


@schemathesis.check
def one_answer_per_row(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """One slot per row, in order: a finite positive price, or null with its errors.

    200 means at least one row was priced and 422 with a prediction body means
    none was; errors name rows that exist.
    """
    if case.operation.path != PREDICT_PATH or response.status_code not in {200, 422}:
        return None
    body = response.json()
    if not isinstance(body, dict) or "predictions" not in body:
        return None  # an envelope error: the built-in checks cover its shape
    rows = case.body["inputs"]
    predictions = body["predictions"]
    erred = {error["row"] for error in body["errors"]}
    if len(predictions) != len(rows):
        raise AssertionError(f"{len(rows)} rows sent, {len(predictions)} slots returned")
    if not erred <= set(range(len(rows))):
        raise AssertionError(f"errors name rows that were not sent: {sorted(erred)}")
    for index, price in enumerate(predictions):
        if price is None and index not in erred:
            raise AssertionError(f"row {index} has no price and no error")
        if price is not None and (
            index in erred or not math.isfinite(price) or price <= 0
        ):
            raise AssertionError(f"row {index} priced at {price!r} with errors {erred}")
    priced = any(price is not None for price in predictions)
    if priced != (response.status_code == 200):
        raise AssertionError(f"status {response.status_code} but priced={priced}")
    return None


def run_contract_fuzz(
    base_url: str,
    workdir: Path,
    *,
    max_examples: int,
    seed: int,
    headers: dict[str, str] | None = None,
    workers: int = 1,
    timeout: float = 600,
) -> tuple[dict[str, Any], str]:
    """Run ``schemathesis run`` against ``base_url``; return its JSON report and output.

    Runs in ``workdir`` (schemathesis and Hypothesis leave folders in the
    working directory) with a fixed seed; with one worker a run is repeatable.
    """
    report_path = workdir / "schemathesis-report.json"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{base_url}/openapi.json",
        "--checks=all",
        f"--exclude-checks={','.join(EXCLUDED_CHECKS)}",
        f"--max-examples={max_examples}",
        f"--seed={seed}",
        f"--workers={workers}",
        "--generation-database=none",
        "--request-timeout=30",
        "--no-color",
        "--report=json",
        f"--report-json-path={report_path}",
    ]
    for name, value in (headers or {}).items():
        command.append(f"--header={name}: {value}")
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": __name__,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    completed = subprocess.run(
        command,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = completed.stdout + completed.stderr
    if not report_path.exists():
        raise RuntimeError(f"schemathesis wrote no report:\n{output[-4000:]}")
    return json.loads(report_path.read_text()), output


def report_problems(report: dict[str, Any]) -> list[str]:
    """What in a schemathesis report is not a clean run, one line each."""
    problems = [
        f"{failure['code']} {failure['title']} ({failure['count']}x): "
        f"{', '.join(failure['operations'])}"
        for failure in report["failures"]
    ]
    problems += [f"error: {json.dumps(error)[:500]}" for error in report["errors"]]
    warnings = {
        name: [
            entry
            for entry in entries
            if name != "missing_test_data" or entry not in NO_DOCUMENTED_SOURCE
        ]
        for name, entries in report["warnings"].items()
    }
    problems += [
        f"warning {name}: {entries}" for name, entries in warnings.items() if entries
    ]
    operations = report["operations"]
    if operations["tested"] != operations["total"] or operations["errored"]:
        problems.append(f"operations: {operations}")
    if not report["complete"] or report["exit_code"] != 0:
        problems.append(f"exit code {report['exit_code']}, stop: {report['stop_reason']}")
    return problems
