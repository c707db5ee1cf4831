"""Concurrent clients never change each other's answers.

Sixteen clients send twenty requests each, at the same time, to a real
server with two workers: single good rows, single bad rows and batches that
mix both in random order. Every request must get exactly (==) the status and
body it got when sent alone, and every row in a batch exactly the price, errors and
imputed fields it gets alone: a row's answer never depends on its neighbours.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from servers import START_SCRIPT, RunningServer, call, start_server, wait_until_logged

from regression_model.processing.schema import EXAMPLE_HOUSE

PREDICT = "/api/v1/predict"
JSON = {"Content-Type": "application/json"}
CLIENTS = 16
REQUESTS_PER_CLIENT = 20
BATCHES = 24
GOOD_ROWS: list[dict[str, Any]] = [
    {**EXAMPLE_HOUSE, "GrLivArea": area, "OverallQual": quality, "Neighborhood": place}
    for area, quality, place in [
        (620, 3, "OldTown"),
        (1050, 5, "NAmes"),
        (1464, 6, "Gilbert"),
        (1804, 7, "CollgCr"),
        (2250, 8, "NridgHt"),
        (3100, 10, "StoneBr"),
        (1200, 4, "Landmrk"),
        (1650, 6, "Edwards"),
    ]
] + [
    {**EXAMPLE_HOUSE, "TotalBsmtSF": None, "BsmtExposure": None},
    {**EXAMPLE_HOUSE, "CentralAir": "n", "KitchenQual": " gd "},
    {**EXAMPLE_HOUSE, "MSSubClass": "20", "1stFlrSF": 1500},
]
BREAKAGES: list[dict[str, Any]] = [
    {"Neighborhood": "Atlantis"},
    {"OverallQual": 11},
    {"GrLivArea": -5},
    {"LotArea": "big"},
    {"GrLivArea": None},
    {"CentralAir": "Maybe", "KitchenQual": "Superb"},
]
BAD_ROWS = [{**EXAMPLE_HOUSE, **change} for change in BREAKAGES]
ROWS = GOOD_ROWS + BAD_ROWS


@pytest.fixture(scope="module", params=["onnx", "pipeline"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    backend: str = request.param
    log = tmp_path_factory.mktemp(f"isolation-{backend}") / "server.log"
    server = start_server(
        [str(START_SCRIPT)],
        log,
        env={"WEB_CONCURRENCY": "2", "SCORER_BACKEND": backend},
    )
    try:
        wait_until_logged(server.log_path, "Application startup complete.", 2, 60)
        yield server
    finally:
        server.stop()


def _row_answer(body: dict[str, Any], index: int) -> dict[str, Any]:
    """One row's slice of a prediction body, with the row number left out."""
    return {
        "price": body["predictions"][index],
        "errors": [
            {key: value for key, value in error.items() if key != "row"}
            for error in body["errors"]
            if error["row"] == index
        ],
        "imputed": [item["fields"] for item in body["imputed"] if item["row"] == index],
    }


def _request_pool() -> list[list[int]]:
    """Requests as lists of indices into ROWS: every row alone, and mixed batches."""
    rng = random.Random(0)
    batches = [
        [rng.randrange(len(ROWS)) for _ in range(rng.randint(2, 40))]
        for _ in range(BATCHES)
    ]
    return [[index] for index in range(len(ROWS))] + batches


def _send(connection: Any, shape: list[int]) -> tuple[int, dict[str, Any]]:
    status, _, body = call(
        connection, "POST", PREDICT, {"inputs": [ROWS[index] for index in shape]}
    )
    return status, body


def _assert_rows_in_batches_match_rows_alone(
    pool: list[list[int]], alone: list[tuple[int, dict[str, Any]]]
) -> None:
    """Each row in a batch gets exactly (==) its price, errors and imputed fields."""
    for shape, (_, body) in zip(pool[len(ROWS) :], alone[len(ROWS) :], strict=True):
        for position, index in enumerate(shape):
            assert _row_answer(body, position) == _row_answer(alone[index][1], 0), (
                f"row {index} at position {position} of batch {shape}"
            )


@pytest.mark.process
def test_concurrent_answers_equal_the_answers_alone(server: RunningServer) -> None:
    # Given each request's answer when it is sent alone, one at a time
    pool = _request_pool()
    connection = server.connect()
    alone = [_send(connection, shape) for shape in pool]
    connection.close()
    for shape, (status, _) in zip(pool, alone, strict=True):
        assert status == (200 if min(shape) < len(GOOD_ROWS) else 422)
    _assert_rows_in_batches_match_rows_alone(pool, alone)
    # When sixteen clients send twenty of them each, all at once
    answers: list[tuple[int, tuple[int, dict[str, Any]]]] = []
    failures: list[str] = []

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = server.connect(timeout=60)
        try:
            for _ in range(REQUESTS_PER_CLIENT):
                choice = rng.randrange(len(pool))
                answers.append((choice, _send(conn, pool[choice])))
        except Exception as error:
            failures.append(repr(error))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    # Then every request got exactly (==) the status and body it got alone
    assert not failures, failures[:5]
    assert len(answers) == CLIENTS * REQUESTS_PER_CLIENT
    mismatches = [
        f"request {choice} {pool[choice]}: {answer} != {alone[choice]}"
        for choice, answer in answers
        if answer != alone[choice]
    ]
    assert not mismatches, mismatches[:3]
