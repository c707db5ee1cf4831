"""The prediction log's writer: one per service instance, beside the workers.

Workers send each answered batch as a line on a UNIX socket
(``app.log_wire``, ``app.log_client``) and go back to serving; this writer
decodes the lines, counts every batch in the per-row metrics
(``app.batch_metrics``: rows by outcome, errors, imputed values, unseen
labels, prices) and inserts the logged ones in batches (``LogWriter``).
Under ``bin/start`` it is a process of its own, started whenever metrics
or the log are on by gunicorn's arbiter (``gunicorn.conf.py``) through a
supervisor that starts it again if it dies (``app.log_supervisor``), and
run as ``python -m app.log_sidecar``, so that work runs on another core and
under another GIL than the requests; an app built without one (in-process
tests, a bare ``uvicorn``) runs the same writer in a thread
(``start_in_thread``).

Two threads: one reads every worker's socket, counts each batch and hands
the logged rows over,
bounded in rows (``PREDICTION_LOG_QUEUE_ROWS``; a batch that does not fit
is dropped and counted as ``queue_full``); the other inserts them every
``FLUSH_INTERVAL_S`` (or once ``BATCH_ROWS`` wait). A failing insert keeps
its rows, up to the same bound, and is retried with a growing pause; what
does not fit is dropped and counted as ``database``. So reading never
waits for the database, and a slow or absent database never grows memory.
A ``flush`` line is answered once what arrived before it was written (the
feedback endpoint's read-your-writes). On SIGTERM the writer reads until
every worker has closed its socket (they flush as they stop), writes what
is left and exits.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import SQLAlchemyError

from app.batch_metrics import BatchMetrics
from app.config import Settings
from app.log_store import LogWriter, database_url, make_engine
from app.log_wire import (
    DecodedBatch,
    decode_batch,
    flush_token,
    flushed_line,
    fresh_socket_path,
)
from app.logs import RateLimitedWarning, configure_logging
from app.metrics import LogCounters, ServiceMetrics, log_counters
from app.training_snapshot import TrainingSnapshot, load_training_snapshot

BATCH_ROWS = 1000
FLUSH_INTERVAL_S = 0.1
MAX_BACKOFF_S = 30.0
READ_BYTES = 1 << 18
# After SIGTERM: how long to keep reading sockets the workers have not closed.
STOP_READ_S = 5.0
# How often the reader looks up from its sockets (parent gone, stop asked).
TICK_S = 0.5
# The writer process's niceness: background work, it yields a contended core to
# the workers (and their clients) first; still enough CPU share to keep up.
NICENESS = 5


@dataclass(frozen=True, slots=True)
class FlushRequest:
    """A worker's ``flush`` line: write what came before, then answer on ``reply``."""

    reply: socket.socket
    token: int


class Stop:
    """Asks the insert thread to write what it holds and end."""


class LogSidecar:
    """Reads workers' batches from a UNIX socket and writes them to the log's database."""

    def __init__(
        self,
        writer: LogWriter | None,
        path: str,
        *,
        max_rows: int,
        counters: LogCounters,
        batch_metrics: BatchMetrics | None,
        parent_pid: int | None = None,
    ) -> None:
        self.writer = writer
        self.batch_metrics = batch_metrics
        self.path = path
        self.max_rows = max_rows
        self.counters = counters
        self.parent_pid = parent_pid
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        # Removed at the end only if still ours: a writer started after this
        # one (its supervisor's restart) may have bound the same path.
        self._socket_inode = os.stat(path).st_ino
        self._listener.listen(64)
        self._listener.setblocking(False)
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._waiting: list[DecodedBatch | FlushRequest | Stop] = []
        self._queued_rows = 0
        self._wake = threading.Event()
        self._wake_rows = min(BATCH_ROWS, max(1, max_rows // 2))
        self._pending: list[DecodedBatch] = []
        self._pending_rows = 0
        self._retry_at = 0.0
        self._backoff = 0.0
        self._warn_full = RateLimitedWarning()
        self._warn_db = RateLimitedWarning()
        self._inserter = threading.Thread(
            target=self._insert_loop, name="prediction-log-insert", daemon=True
        )

    def serve(self) -> None:
        """Read and write until ``stop`` (or the parent process is gone); then
        finish and close the database's connections."""
        self._inserter.start()
        try:
            self._read_loop()
        finally:
            self._hand_over(Stop())
            self._inserter.join()
            for end in (self._listener, self._wake_read, self._wake_write):
                end.close()
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self._socket_inode:
                    Path(self.path).unlink()
            if self.writer is not None:
                self.writer.engine.dispose()

    def stop(self) -> None:
        """Stop accepting; read what the workers still send, write it all, end.

        Safe from a signal handler or another thread.
        """
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")

    def _read_loop(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        selector.register(self._wake_read, selectors.EVENT_READ, None)
        buffers: dict[socket.socket, bytearray] = {}
        read_until: float | None = None
        while True:
            if self._stopping.is_set() and read_until is None:
                read_until = time.monotonic() + STOP_READ_S
                selector.unregister(self._listener)
            if read_until is not None and (not buffers or time.monotonic() >= read_until):
                break
            for key, _ in selector.select(TICK_S):
                source = key.fileobj
                if source is self._wake_read:
                    self._wake_read.recv(64)
                elif source is self._listener:
                    self._accept(selector, buffers)
                else:
                    assert isinstance(source, socket.socket)
                    self._read(source, selector, buffers)
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                logger.warning("prediction log writer: the server is gone; stopping")
                self._stopping.set()
        for connection in buffers:
            connection.close()
        selector.close()

    def _accept(
        self, selector: selectors.BaseSelector, buffers: dict[socket.socket, bytearray]
    ) -> None:
        try:
            connection, _ = self._listener.accept()
        except BlockingIOError:
            return
        connection.setblocking(False)
        buffers[connection] = bytearray()
        selector.register(connection, selectors.EVENT_READ, None)

    def _read(
        self,
        connection: socket.socket,
        selector: selectors.BaseSelector,
        buffers: dict[socket.socket, bytearray],
    ) -> None:
        try:
            chunk = connection.recv(READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        buffer = buffers[connection]
        if chunk:
            buffer += chunk
            end = buffer.rfind(b"\n")
            if end >= 0:
                lines = bytes(buffer[:end]).split(b"\n")
                del buffer[: end + 1]
                self._take(lines, connection)
            return
        selector.unregister(connection)
        del buffers[connection]
        connection.close()
        if buffer:
            logger.warning(
                "prediction log writer: a worker's connection closed mid-batch "
                "({} bytes not logged)",
                len(buffer),
            )

    def _take(self, lines: Sequence[bytes], connection: socket.socket) -> None:
        for line in lines:
            token = flush_token(line)
            if token is not None:
                self._hand_over(FlushRequest(connection, token))
                continue
            try:
                batch = decode_batch(line)
                if self.batch_metrics is not None:
                    self.batch_metrics.count(batch)
            except Exception:
                logger.exception("prediction log writer: a batch could not be read")
                continue
            if self.writer is None or not batch.logged:
                continue
            size = len(batch.prices)
            with self._lock:
                fits = self._queued_rows + size <= self.max_rows
                if fits:
                    self._queued_rows += size
                    self._waiting.append(batch)
                full = self._queued_rows >= self._wake_rows
            if full:
                self._wake.set()
            if not fits:
                self._drop(size, "queue_full")
                self._warn_full("prediction log queue is full; a batch was not logged")

    def _hand_over(self, item: FlushRequest | Stop) -> None:
        with self._lock:
            self._waiting.append(item)
        self._wake.set()

    def _insert_loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            with self._lock:
                items, self._waiting = self._waiting, []
                self._queued_rows -= sum(
                    len(item.prices) for item in items if isinstance(item, DecodedBatch)
                )
            for item in items:
                if isinstance(item, DecodedBatch):
                    self._pending.append(item)
                    self._pending_rows += len(item.prices)
                elif isinstance(item, Stop):
                    self._write(now=True, last=True)
                    return
                else:
                    self._write(now=True)
                    _answer(item)
            self._write()
            self._trim()

    def _write(self, *, now: bool = False, last: bool = False) -> None:
        """Insert the pending rows; on failure keep them (bounded) and pause, then retry.

        ``now`` ignores the pause (a flush); ``last`` drops what still fails
        (the writer is ending).
        """
        if not self._pending or self.writer is None:
            return
        if not now and time.monotonic() < self._retry_at:
            return
        try:
            self.writer.insert(self._pending)
        except (SQLAlchemyError, OSError) as error:
            self._backoff = min(max(1.0, self._backoff * 2), MAX_BACKOFF_S)
            self._retry_at = time.monotonic() + self._backoff
            self._warn_db(f"prediction log: insert failed ({type(error).__name__})")
            if last:
                self._drop_pending()
            return
        except Exception:
            # Not the database's fault: these rows would fail again, so they go.
            logger.exception("prediction log: rows could not be written; dropped")
            self._drop_pending()
            return
        self.counters.written.inc(self._pending_rows)
        self._pending.clear()
        self._pending_rows = 0
        self._backoff = 0.0

    def _trim(self) -> None:
        """Drop the oldest batches a failing database left beyond ``max_rows`` rows."""
        dropped = 0
        while self._pending_rows - dropped > self.max_rows:
            dropped += len(self._pending.pop(0).prices)
        if dropped:
            self._pending_rows -= dropped
            self._drop(dropped, "database")

    def _drop_pending(self) -> None:
        self._drop(self._pending_rows, "database")
        self._pending.clear()
        self._pending_rows = 0

    def _drop(self, rows: int, reason: str) -> None:
        self.counters.dropped.labels(reason).inc(rows)


def _answer(request: FlushRequest) -> None:
    """Tell a worker its flush is done (it may have given up and gone)."""
    with contextlib.suppress(OSError):
        request.reply.sendall(flushed_line(request.token))


@dataclass
class SidecarThread:
    """A writer run in a thread of this process (an app without ``bin/start``)."""

    sidecar: LogSidecar
    thread: threading.Thread
    folder: Path

    @property
    def path(self) -> str:
        """The socket it listens on."""
        return self.sidecar.path

    def stop(self, timeout: float) -> None:
        """Write what is left and end, waiting at most ``timeout`` seconds."""
        self.sidecar.stop()
        self.thread.join(timeout)
        if self.thread.is_alive():
            logger.warning("prediction log: writer still busy after {} s", timeout)
            return
        shutil.rmtree(self.folder, ignore_errors=True)


def build_sidecar(
    settings: Settings,
    path: str,
    metrics: ServiceMetrics | None,
    snapshot: TrainingSnapshot | None,
    parent_pid: int | None = None,
) -> LogSidecar:
    """The writer ``settings`` ask for: the log's database if it is on, the per-row
    metrics into ``metrics`` (with labels checked against ``snapshot``) if given."""
    writer = (
        LogWriter(make_engine(database_url(settings)))
        if settings.prediction_log
        else None
    )
    counts = (
        BatchMetrics(metrics, snapshot)
        if metrics is not None and snapshot is not None
        else None
    )
    return LogSidecar(
        writer,
        path,
        max_rows=settings.prediction_log_queue_rows,
        counters=metrics.log
        if metrics is not None
        else log_counters(CollectorRegistry()),
        batch_metrics=counts,
        parent_pid=parent_pid,
    )


def start_in_thread(
    settings: Settings,
    metrics: ServiceMetrics | None,
    snapshot: TrainingSnapshot | None,
) -> SidecarThread:
    """Run the writer ``settings`` ask for in a thread, on a socket of its own."""
    path = fresh_socket_path()
    sidecar = build_sidecar(settings, str(path), metrics, snapshot)
    thread = threading.Thread(target=sidecar.serve, name="prediction-log", daemon=True)
    thread.start()
    return SidecarThread(sidecar, thread, path.parent)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m app.log_sidecar PATH``: the writer process ``gunicorn.conf.py`` starts.

    Its counts go to ``PROMETHEUS_MULTIPROC_DIR`` beside the workers', so
    ``/metrics`` adds them up; it ends on SIGTERM or when its parent does.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.exit("usage: python -m app.log_sidecar SOCKET_PATH")
    os.nice(NICENESS)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    metrics = ServiceMetrics() if settings.metrics else None
    snapshot = load_training_snapshot() if metrics is not None else None
    sidecar = build_sidecar(settings, args[0], metrics, snapshot, os.getppid())

    def on_signal(_signal: int, _frame: Any) -> None:
        sidecar.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sidecar.serve()
    # Written and closed: a later SIGTERM (a platform that signals every
    # process, then the supervisor) must not kill the interpreter as it ends.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


if __name__ == "__main__":
    main()
