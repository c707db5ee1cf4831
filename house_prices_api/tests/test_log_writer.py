"""The prediction log's two ends, over real UNIX sockets into a real SQLite file.

A worker's ``LogClient`` never waits for the writer: what the writer does
not take is bounded and counted. The writer (``LogSidecar``, here in a
thread of the test process, as an app without ``bin/start`` runs it)
writes what it reads and answers flushes. A worker given a writer's socket
(as ``bin/start`` gives one) logs without importing SQLAlchemy.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from app.config import Settings
from app.log_client import LogClient
from app.log_sidecar import SidecarThread, start_in_thread
from app.log_store import predictions
from app.log_wire import encode_batch, flush_line, flushed_line
from app.metrics import ServiceMetrics, log_counters
from app.migrate import upgrade
from app.training_snapshot import load_training_snapshot
from prometheus_client import CollectorRegistry
from servers import API_DIR, run_probe
from sqlalchemy import create_engine, select

from regression_model.processing.schema import EXAMPLE_HOUSE

RESULT = {
    "predictions": [201_000.0, None],
    "errors": [{"row": 1, "field": "OverallQual", "message": "above 10"}],
    "imputed": [{"row": 0, "fields": ["LotFrontage"]}],
    "intervals": [(180_000.0, 222_000.0), None],
    "version": "9.9.9",
}
FEATURES = [EXAMPLE_HOUSE, {**EXAMPLE_HOUSE, "OverallQual": 11}]


def counted(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    """The value of the log's counter ``name`` (``_total`` sample) in ``registry``."""
    return registry.get_sample_value(f"house_prices_prediction_log_{name}_total", labels)


@pytest.fixture
def database(tmp_path: Path) -> Settings:
    """Settings naming a migrated SQLite log of this test's own."""
    upgrade(f"sqlite:///{tmp_path / 'log' / 'predictions.sqlite3'}")
    return Settings(prediction_log_dir=tmp_path / "log")


@pytest.fixture
def writer(database: Settings) -> Iterator[tuple[SidecarThread, CollectorRegistry]]:
    """The log's writer in a thread, listening on a socket of its own; its counts."""
    metrics = ServiceMetrics()
    running = start_in_thread(database, metrics, load_training_snapshot())
    yield running, metrics.registry
    running.stop(10)


def logged_ids(settings: Settings) -> list[tuple[str, int, float | None]]:
    """(request id, row, price) of every logged line, in id and row order."""
    engine = create_engine(
        f"sqlite:///{settings.prediction_log_dir / 'predictions.sqlite3'}"
    )
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    predictions.c.request_id, predictions.c.row, predictions.c.price
                ).order_by(predictions.c.request_id, predictions.c.row)
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]


def test_a_flush_answers_once_every_line_before_it_is_written(
    writer: tuple[SidecarThread, CollectorRegistry], database: Settings
) -> None:
    # Given a worker's client connected to the writer
    running, registry = writer
    client = LogClient(running.path, max_rows=100, dropped=None)
    # When two batches are sent and a flush follows
    client.send(encode_batch("flush-a", 1.7e9, FEATURES, RESULT), 2)
    one_row = {**RESULT, "predictions": [1.0], "intervals": [(0.5, 1.5)], "errors": []}
    client.send(encode_batch("flush-b", 1.7e9, FEATURES[:1], one_row), 1)
    flushed = client.flush(10)
    # Then the flush succeeded only once all three rows were in the database
    assert flushed is True
    assert logged_ids(database) == [
        ("flush-a", 0, 201_000.0),
        ("flush-a", 1, None),
        ("flush-b", 0, 1.0),
    ]
    assert counted(registry, "written_rows") == 3
    client.close(5)


def test_every_batch_is_counted_and_only_logged_ones_are_written(
    writer: tuple[SidecarThread, CollectorRegistry], database: Settings
) -> None:
    # Given a client, and a batch the log keeps beside one sampling left out
    running, registry = writer
    client = LogClient(running.path, max_rows=100, dropped=None)
    client.send(encode_batch("kept", 1.7e9, FEATURES, RESULT), 2)
    client.send(encode_batch("left-out", 1.7e9, FEATURES, RESULT, logged=False), 2)
    # When the writer has taken both
    flushed = client.flush(10)
    client.close(5)
    # Then both batches are in the per-row metrics and only the kept one is logged
    assert flushed is True
    assert (
        registry.get_sample_value("house_prices_rows_total", {"outcome": "priced"}) == 2
    )
    assert (
        registry.get_sample_value("house_prices_rows_total", {"outcome": "refused"}) == 2
    )
    errors = {"field": "OverallQual"}
    assert registry.get_sample_value("house_prices_row_errors_total", errors) == 2
    assert [line[0] for line in logged_ids(database)] == ["kept", "kept"]
    assert counted(registry, "written_rows") == 2


def test_the_writer_skips_a_garbled_line_and_keeps_the_rest(
    writer: tuple[SidecarThread, CollectorRegistry], database: Settings
) -> None:
    # Given a raw connection to the writer
    running, _ = writer
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(running.path)
        # When a good batch, a line that is not a batch and another good batch
        # arrive, then a flush
        connection.sendall(
            encode_batch("garbled-1", 1.7e9, FEATURES, RESULT)
            + b'["half a batch", \n'
            + encode_batch("garbled-2", 1.7e9, FEATURES, RESULT)
            + flush_line(7)
        )
        connection.settimeout(10)
        reply = connection.recv(64)
    # Then the flush is answered and both good batches are written
    assert reply == flushed_line(7)
    assert [line[:2] for line in logged_ids(database)] == [
        ("garbled-1", 0),
        ("garbled-1", 1),
        ("garbled-2", 0),
        ("garbled-2", 1),
    ]


def test_a_writer_that_does_not_read_costs_rows_never_a_wait(tmp_path: Path) -> None:
    # Given a writer's socket that accepts and then never reads
    path = str(tmp_path / "stuck.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    registry = CollectorRegistry()
    client = LogClient(path, max_rows=20, dropped=log_counters(registry).dropped)
    line = encode_batch("stuck", 1.7e9, [{"GrLivArea": "x" * 60_000}], RESULT)
    # When 200 one-row batches of about 60 KB are sent (far beyond the socket's buffers)
    sender = threading.Thread(target=lambda: [client.send(line, 1) for _ in range(200)])
    sender.start()
    sender.join(60)
    finished = not sender.is_alive()
    peer, _ = listener.accept()
    lost_while_stuck = counted(registry, "dropped_rows", reason="queue_full") or 0
    # and the writer then reads everything while the client closes
    received = bytearray()

    def read_all() -> None:
        while chunk := peer.recv(1 << 20):
            received.extend(chunk)

    reader = threading.Thread(target=read_all)
    reader.start()
    client.close(30)
    reader.join(30)
    peer.close()
    listener.close()
    # Then sending never waited, rows beyond the 20 waiting were dropped and
    # counted, and every batch was either delivered whole or counted
    assert finished
    assert lost_while_stuck > 0
    assert received.count(b"\n") + lost_while_stuck == 200
    assert counted(registry, "dropped_rows", reason="writer") == 0


def test_an_unreachable_writer_costs_rows_counted_as_writer(tmp_path: Path) -> None:
    # Given a client whose writer is not there
    registry = CollectorRegistry()
    client = LogClient(
        str(tmp_path / "nobody.sock"),
        max_rows=100,
        dropped=log_counters(registry).dropped,
    )
    # When three two-row batches are sent and a flush is asked for
    for index in range(3):
        client.send(encode_batch(f"gone-{index}", 1.7e9, FEATURES, RESULT), 2)
    flushed = client.flush(1)
    client.close(1)
    # Then all six rows are counted as lost to the writer, and the flush fails
    assert counted(registry, "dropped_rows", reason="writer") == 6
    assert flushed is False


PROBE = """
import json, sys
from fastapi.testclient import TestClient
from app.main import create_app
from regression_model.processing.schema import EXAMPLE_HOUSE

with TestClient(create_app()) as client:
    answer = client.post(
        "/api/v1/predict", json={"inputs": [EXAMPLE_HOUSE]},
        headers={"X-Request-ID": "worker-probe"},
    ).json()
    flushed = client.app.state.recorder.flush(10)
print(json.dumps({
    "price": answer["predictions"][0],
    "flushed": flushed,
    "sqlalchemy": "sqlalchemy" in sys.modules,
}))
"""


def test_a_worker_given_a_writer_logs_without_sqlalchemy(
    writer: tuple[SidecarThread, CollectorRegistry], database: Settings
) -> None:
    # Given a fresh interpreter built as bin/start builds a worker: the
    # writer's socket in PREDICTION_LOG_SOCKET
    running, _ = writer
    env = {
        "PREDICTION_LOG_SOCKET": running.path,
        "PREDICTION_LOG_DIR": str(database.prediction_log_dir),
    }
    # When it prices a house and flushes the log
    outcome: dict[str, Any] = run_probe(PROBE, env, cwd=API_DIR)
    # Then the row is in the log, and the worker never imported SQLAlchemy
    assert outcome["flushed"] is True
    assert logged_ids(database) == [("worker-probe", 0, outcome["price"])]
    assert outcome["sqlalchemy"] is False
