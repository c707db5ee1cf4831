"""The prediction log and metrics of real servers: SQLite, PostgreSQL, several workers.

Each server is ``bin/start`` (gunicorn's arbiter, its migrations hook, its
metrics folder); PostgreSQL is a real cluster started by ``tests/postgres``.
Rows are found again by the request ids the tests send.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from app.log_sidecar import NICENESS
from app.log_store import predictions
from prometheus_client.parser import text_string_to_metric_families
from servers import API_DIR, START_SCRIPT, RunningServer, call, start_server
from sqlalchemy import create_engine, func, select

from regression_model.processing.schema import EXAMPLE_HOUSE
from scripts.local_postgres import PostgresServer, create_cluster, postgres_bin
from scripts.local_processes import (
    has_exited,
    log_writer_pid,
    module_pid,
    worker_pids,
)

pytestmark = pytest.mark.process

PREDICT = "/api/v1/predict"
GOOD = [EXAMPLE_HOUSE, {**EXAMPLE_HOUSE, "TotalBsmtSF": None, "GrLivArea": 1200}]
BAD = [{**EXAMPLE_HOUSE, "OverallQual": 11}, {"GrLivArea": "big"}]
MIXED = [EXAMPLE_HOUSE, {**EXAMPLE_HOUSE, "Neighborhood": "Atlantis"}, 7]
PG_BIN = postgres_bin()
needs_postgres = pytest.mark.skipif(
    PG_BIN is None, reason="Debian's postgresql package is not installed (.ci/run)"
)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on a free loopback port."""
    assert PG_BIN is not None
    cluster = create_cluster(PG_BIN)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.remove()


def serve(tmp_path: Path, **env: str) -> RunningServer:
    """bin/start with ``env`` on top of the test environment; all workers up."""
    server = start_server([str(START_SCRIPT)], tmp_path / "server.log", env=env)
    workers = int(env.get("WEB_CONCURRENCY", "1"))
    deadline = time.monotonic() + 60
    while server.log_text().count("Application startup complete.") < workers:
        assert time.monotonic() < deadline, server.log_text()[-3000:]
        time.sleep(0.1)
    return server


def post(server: RunningServer, rows: list[Any], request_id: str) -> dict[str, Any]:
    """POST one batch on a new connection; the parsed body with its status."""
    connection = server.connect()
    try:
        status, _, body = call(
            connection, "POST", PREDICT, {"inputs": rows}, {"X-Request-ID": request_id}
        )
    finally:
        connection.close()
    return {"status": status, **body}


def scrape(server: RunningServer) -> dict[str, float]:
    """/metrics summed by sample name plus its labels' values (``name{a,b}``)."""
    connection = server.connect()
    try:
        status, _, text = call(connection, "GET", "/metrics")
    finally:
        connection.close()
    assert status == 200
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(sample.labels.values())
            key = f"{sample.name}{{{labels}}}" if labels else sample.name
            values[key] = values.get(key, 0.0) + sample.value
    return values


def scrape_once_counted(
    server: RunningServer, name: str, at_least: float, timeout: float = 10
) -> dict[str, float]:
    """/metrics once sample ``name`` reaches ``at_least``: the per-row counts and
    the log's are the writer's, a moment behind the answers."""
    deadline = time.monotonic() + timeout
    while True:
        metrics = scrape(server)
        if metrics.get(name, 0.0) >= at_least or time.monotonic() > deadline:
            return metrics
        time.sleep(0.05)


def logged(url: str, prefix: str) -> list[Any]:
    """The log's lines whose request id starts with ``prefix``, by id and row."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    select(predictions)
                    .where(predictions.c.request_id.startswith(prefix))
                    .order_by(predictions.c.request_id, predictions.c.row)
                )
            )
    finally:
        engine.dispose()


def wait_for_lines(url: str, prefix: str, count: int, timeout: float = 30) -> list[Any]:
    """Poll the log until ``count`` lines of ``prefix`` are there."""
    deadline = time.monotonic() + timeout
    while True:
        lines = logged(url, prefix)
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def assert_lines_match(
    lines: list[Any], sent: dict[str, tuple[list[Any], dict[str, Any]]]
) -> None:
    """Every sent row has exactly one line: its features, price, errors and gaps."""
    assert len(lines) == sum(len(rows) for rows, _ in sent.values())
    for line in lines:
        rows, answer = sent[line.request_id]
        row = rows[line.row]
        assert line.features == (row if isinstance(row, dict) else None)
        assert line.price == answer["predictions"][line.row]
        errors = [
            {"field": error["field"], "message": error["message"]}
            for error in answer["errors"]
            if error["row"] == line.row
        ]
        assert (line.errors or []) == errors
        imputed = [
            entry["fields"] for entry in answer["imputed"] if entry["row"] == line.row
        ]
        assert ([line.imputed] if line.imputed else []) == imputed
        assert line.model_version == answer["version"]


def send_from_clients(
    server: RunningServer, prefix: str, clients: int, each: int
) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """``clients`` threads, each sending ``each`` batches (good, bad, mixed in turn)."""
    sent: dict[str, tuple[list[Any], dict[str, Any]]] = {}
    lock = threading.Lock()

    def client(number: int) -> None:
        for index in range(each):
            rows = (GOOD, BAD, MIXED)[index % 3]
            request_id = f"{prefix}{number}-{index}"
            answer = post(server, rows, request_id)
            with lock:
                sent[request_id] = (rows, answer)

    threads = [
        threading.Thread(target=client, args=(number,)) for number in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=needs_postgres)]
)
def test_rows_in_the_log_equal_rows_sent(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Given two workers logging to SQLite, or to PostgreSQL named Heroku's way
    if database == "postgres":
        cluster: PostgresServer = request.getfixturevalue("postgres")
        env = {"DATABASE_URL": cluster.url}
        url = cluster.sqlalchemy_url
    else:
        env = {"PREDICTION_LOG_DIR": str(tmp_path / "log")}
        url = f"sqlite:///{tmp_path / 'log' / 'predictions.sqlite3'}"
    server = serve(tmp_path, WEB_CONCURRENCY="2", **env)
    prefix = f"equal-{uuid.uuid4().hex[:8]}-"
    try:
        # When four clients send good, bad and mixed batches at once
        sent = send_from_clients(server, prefix, clients=4, each=6)
        expected = sum(len(rows) for rows, _ in sent.values())
        lines = wait_for_lines(url, prefix, expected)
        metrics = scrape_once_counted(
            server, "house_prices_prediction_log_written_rows_total", expected
        )
    finally:
        server.stop()
    # Then the log holds exactly the rows sent, as answered, and the metrics
    # of both workers add up to them
    assert {answer["status"] for _, answer in sent.values()} == {200, 422}
    assert_lines_match(lines, sent)
    assert metrics["house_prices_prediction_log_written_rows_total"] >= expected
    assert metrics["house_prices_requests_total{POST,/api/v1/predict,200}"] == 16
    assert metrics["house_prices_requests_total{POST,/api/v1/predict,422}"] == 8


def test_counts_add_up_across_two_workers(tmp_path: Path) -> None:
    # Given two workers sharing a metrics folder the test can look into
    folder = tmp_path / "metrics"
    folder.mkdir()
    server = serve(
        tmp_path,
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(folder),
        PREDICTION_LOG="off",
    )
    try:
        # When 40 one-row requests arrive on new connections from four clients
        sent = send_from_clients(server, "count-", clients=4, each=10)
        answers = [answer for _, answer in sent.values()]
        priced = sum(price is not None for a in answers for price in a["predictions"])
        metrics = scrape_once_counted(server, "house_prices_rows_total{priced}", priced)
        workers = worker_pids(server.process.pid)
        files = {path.name for path in folder.glob("counter_*.db")}
    finally:
        server.stop()
    # Then both workers counted requests (a file each, beside the writer's, which
    # counts rows), and the scrape adds them all up
    assert {f"counter_{pid}.db" for pid in workers} < files, files
    ok = sum(answer["status"] == 200 for answer in answers)
    assert metrics["house_prices_rows_total{priced}"] == priced
    assert metrics["house_prices_requests_total{POST,/api/v1/predict,200}"] == ok
    assert metrics["house_prices_requests_total{POST,/api/v1/predict,422}"] == 40 - ok


@needs_postgres
def test_a_database_outage_costs_rows_not_answers(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    # Given one worker logging to PostgreSQL, with room for 40 waiting rows
    server = serve(tmp_path, DATABASE_URL=postgres.url, PREDICTION_LOG_QUEUE_ROWS="40")
    prefix = f"outage-{uuid.uuid4().hex[:8]}-"
    try:
        before = [post(server, GOOD, f"{prefix}a{index}") for index in range(5)]
        wait_for_lines(postgres.sqlalchemy_url, f"{prefix}a", 10)
        # When the database stops while 60 more batches are priced
        postgres.stop()
        try:
            during = [post(server, GOOD, f"{prefix}b{index}") for index in range(60)]
            time.sleep(1)
            down = scrape(server)
        finally:
            postgres.start()
        # and comes back for 5 more
        after = [post(server, GOOD, f"{prefix}c{index}") for index in range(5)]
        resumed = wait_for_lines(postgres.sqlalchemy_url, f"{prefix}c", 10, timeout=60)
        up = scrape(server)
    finally:
        server.stop()
    # Then every request was answered, the lost rows were counted while it was
    # down, and rows are written again once it is back
    assert {answer["status"] for answer in before + during + after} == {200}
    assert down["house_prices_prediction_log_dropped_rows_total{database}"] > 0
    assert len(resumed) == 10
    total = 2 * (len(before) + len(during) + len(after))
    accounted = up["house_prices_prediction_log_written_rows_total"] + sum(
        value
        for key, value in up.items()
        if key.startswith("house_prices_prediction_log_dropped_rows_total")
    )
    assert accounted <= total


def test_sigterm_writes_the_queue_before_exit(tmp_path: Path) -> None:
    # Given one worker logging to SQLite
    server = serve(tmp_path, PREDICTION_LOG_DIR=str(tmp_path / "log"))
    prefix = f"sigterm-{uuid.uuid4().hex[:8]}-"
    # When 30 batches are priced and SIGTERM follows at once
    for index in range(30):
        post(server, GOOD, f"{prefix}{index}")
    os.kill(server.process.pid, signal.SIGTERM)
    code = server.process.wait(timeout=30)
    # Then the server exits cleanly with every row written
    lines = logged(f"sqlite:///{tmp_path / 'log' / 'predictions.sqlite3'}", prefix)
    assert code == 0
    assert len(lines) == 60


def test_sqlite_needs_no_configuration(tmp_path: Path) -> None:
    # Given no PREDICTION_LOG_DIR or DATABASE_URL (as `tox -e serve` runs it)
    database = API_DIR / "var" / "predictions.sqlite3"
    server = start_server(
        [str(START_SCRIPT)],
        tmp_path / "server.log",
        unset=("PREDICTION_LOG_DIR", "DATABASE_URL", "PREDICTION_LOG"),
    )
    request_id = f"default-{uuid.uuid4().hex}"
    try:
        # When a batch is priced
        answer = post(server, GOOD, request_id)
        lines = wait_for_lines(f"sqlite:///{database}", request_id, 2)
    finally:
        server.stop()
    # Then it is logged in the service's var/ folder, migrated at start
    assert answer["status"] == 200
    assert [line.row for line in lines] == [0, 1]
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        assert connection.execute(select(func.count()).select_from(predictions)).scalar()
    engine.dispose()
    assert mode == "wal"
    assert json.loads(json.dumps(lines[0].features)) == EXAMPLE_HOUSE


def writer_pid(server: RunningServer) -> int:
    """The instance's log writer process (``python -m app.log_sidecar``)."""
    pid = log_writer_pid(server.process.pid)
    assert pid is not None, f"no log writer below {server.process.pid}"
    return pid


def wait_for_new_writer(server: RunningServer, old: int, timeout: float) -> int:
    """The writer that replaced ``old``, once there is one."""
    deadline = time.monotonic() + timeout
    while (pid := log_writer_pid(server.process.pid)) in (None, old):
        assert time.monotonic() < deadline, server.log_text()[-3000:]
        time.sleep(0.05)
    assert pid is not None
    return pid


def logging_server(tmp_path: Path, prefix: str) -> tuple[RunningServer, str]:
    """bin/start logging to SQLite, with a first request already logged; the
    server and the log's URL."""
    server = serve(tmp_path, PREDICTION_LOG_DIR=str(tmp_path / "log"))
    url = f"sqlite:///{tmp_path / 'log' / 'predictions.sqlite3'}"
    post(server, GOOD, f"{prefix}a")
    assert len(wait_for_lines(url, f"{prefix}a", 2)) == 2
    return server, url


def post_until_logged(
    server: RunningServer, url: str, prefix: str, timeout: float = 30
) -> tuple[dict[str, Any], list[Any]]:
    """Post a batch a second until one is logged (a worker reconnects to a new
    writer once it listens); the last answer and its lines."""
    deadline = time.monotonic() + timeout
    while True:
        request_id = f"{prefix}-{time.monotonic_ns()}"
        answer = post(server, GOOD, request_id)
        lines = wait_for_lines(url, request_id, 2, timeout=1)
        if lines or time.monotonic() > deadline:
            return answer, lines


def test_a_killed_writer_costs_rows_not_answers_and_is_started_again(
    tmp_path: Path,
) -> None:
    # Given one worker logging to SQLite through the arbiter's writer process
    prefix = f"killed-{uuid.uuid4().hex[:8]}-"
    server, url = logging_server(tmp_path, prefix)
    try:
        first_writer = writer_pid(server)
        workers_before = worker_pids(server.process.pid)
        niceness = os.getpriority(os.PRIO_PROCESS, first_writer) - os.getpriority(
            os.PRIO_PROCESS, server.process.pid
        )
        # When the writer is killed outright while 20 batches are priced
        os.kill(first_writer, signal.SIGKILL)
        during = [post(server, GOOD, f"{prefix}b{index}") for index in range(20)]
        time.sleep(0.5)
        down = scrape(server)
        # and nothing else happens: no worker is started or stopped
        second_writer = wait_for_new_writer(server, first_writer, timeout=30)
        after, resumed = post_until_logged(server, url, f"{prefix}c")
        workers_after = worker_pids(server.process.pid)
    finally:
        server.stop()
    # Then the writer ran behind the workers in the scheduler, every request
    # was answered, the lost rows were counted as the writer's, and its
    # supervisor started a new writer, which logs again, with the same worker
    assert niceness == NICENESS
    assert {answer["status"] for answer in during} == {200}
    assert after["status"] == 200
    assert down["house_prices_prediction_log_dropped_rows_total{writer}"] > 0
    assert second_writer != first_writer
    assert [line.row for line in resumed] == [0, 1]
    assert workers_after == workers_before


def test_a_killed_supervisor_is_started_again_with_the_next_worker(
    tmp_path: Path,
) -> None:
    # Given one worker logging to SQLite through the supervised writer
    prefix = f"supervisor-{uuid.uuid4().hex[:8]}-"
    server, url = logging_server(tmp_path, prefix)
    try:
        first_writer = writer_pid(server)
        supervisor = module_pid(server.process.pid, "app.log_supervisor")
        assert supervisor is not None
        # When the supervisor is killed outright (its writer, orphaned, stops)
        os.kill(supervisor, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not has_exited(first_writer):
            assert time.monotonic() < deadline, "the orphaned writer kept running"
            time.sleep(0.1)
        # and the arbiter next starts a worker
        (worker,) = worker_pids(server.process.pid)
        os.kill(worker, signal.SIGKILL)
        second_writer = wait_for_new_writer(server, first_writer, timeout=60)
        after, resumed = post_until_logged(server, url, f"{prefix}c")
    finally:
        server.stop()
    # Then a new supervisor and writer run, and the log is written again
    assert second_writer != first_writer
    assert after["status"] == 200
    assert [line.row for line in resumed] == [0, 1]


def test_the_arbiter_preloads_the_workers_modules_and_the_writer_loads_no_model(
    tmp_path: Path,
) -> None:
    # Given bin/start with metrics and the log on
    server = serve(tmp_path, PREDICTION_LOG_DIR=str(tmp_path / "log"))
    try:
        # When the arbiter's and the writer's mapped files are read
        arbiter_maps = Path(f"/proc/{server.process.pid}/maps").read_text()
        writer_maps = Path(f"/proc/{writer_pid(server)}/maps").read_text()
    finally:
        server.stop()
    # Then the arbiter holds numpy's extension (the workers it forks share it),
    # and the writer holds neither numpy nor onnxruntime
    assert "_multiarray_umath" in arbiter_maps
    assert "_multiarray_umath" not in writer_maps
    assert "onnxruntime" not in writer_maps
