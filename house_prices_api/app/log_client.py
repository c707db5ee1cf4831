"""A worker's end of the log's writer: hand each answered batch over, never wait.

``send`` is called on the request path: it queues the batch's line, and a
timer on the event loop writes what is queued to the writer's UNIX socket
every ``SEND_INTERVAL_S`` (at once past ``SEND_BYTES``), without
blocking: one system call, and one wake-up of the writer, for all the
requests of that interval instead of one per request. What the socket
does not take waits for the next round, bounded in rows
(``PREDICTION_LOG_QUEUE_ROWS``; a batch that does not fit is dropped and
counted as ``queue_full``). A writer that cannot be reached costs the batches sent
meanwhile (counted as ``writer``) and is reconnected at most once per
``RECONNECT_INTERVAL_S``. ``flush`` and ``close`` are the only calls that
wait: for the writer to have written, and for what is queued to be sent.
"""

from __future__ import annotations

import asyncio
import itertools
import select
import socket
import threading
import time
from collections import deque

from loguru import logger
from prometheus_client import Counter

from app.log_wire import flush_line, flushed_line
from app.logs import RateLimitedWarning

RECONNECT_INTERVAL_S = 1.0
SEND_INTERVAL_S = 0.02
# Queued bytes that are sent at once, not at the next round.
SEND_BYTES = 1 << 16
# Lines handed to one sendmsg call (Linux takes up to 1,024 buffers).
MAX_BUFFERS = 512
# How often a flush looks again whether its line has been sent.
RETRY_S = 0.01


class LogClient:
    """Sends a worker's answered batches to the writer listening at ``path``."""

    def __init__(self, path: str, *, max_rows: int, dropped: Counter | None) -> None:
        self.path = path
        self.max_rows = max_rows
        self.dropped = dropped
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._connect_at = 0.0
        # Lines not yet taken by the socket, each with its rows; the first may
        # be partly sent (a view of what is left).
        self._unsent: deque[tuple[memoryview, int]] = deque()
        self._unsent_rows = 0
        # Lines ever queued and ever sent whole: a flush waits for its own.
        self._queued_lines = 0
        self._sent_lines = 0
        self._unsent_bytes = 0
        self._send_scheduled = False
        self._tokens = itertools.count()
        self._warn_full = RateLimitedWarning()
        self._warn_writer = RateLimitedWarning()

    def send(self, line: bytes, rows: int) -> None:
        """Queue one batch's line for the next round (or send now, off a loop)."""
        with self._lock:
            if self._unsent_rows + rows > self.max_rows:
                self._drop(rows, "queue_full")
                self._warn_full("prediction log queue is full; a batch was not logged")
                return
            self._queue(line, rows)
            if self._unsent_bytes >= SEND_BYTES or not self._send_later():
                self._push()

    def flush(self, timeout: float) -> bool:
        """Have the writer write everything sent so far; False if not within ``timeout``.

        Called off the event loop (a thread): it holds the lock the request
        path takes only for non-blocking sends, and waits outside it.
        """
        deadline = time.monotonic() + timeout
        with self._flush_lock:
            token = next(self._tokens)
            with self._lock:
                line_number = self._queue(flush_line(token), 0)
                self._push(connect_now=True)
            while True:
                with self._lock:
                    connection = self._socket
                    sent = self._sent_lines >= line_number
                    if not sent and connection is not None:
                        self._push()
                if connection is None:
                    return False
                if sent:
                    return _await_reply(connection, flushed_line(token), deadline)
                if time.monotonic() >= deadline:
                    return False
                time.sleep(RETRY_S)

    def close(self, timeout: float) -> None:
        """Send what is queued (waiting at most ``timeout`` seconds) and disconnect."""
        with self._lock:
            connection = self._drain(time.monotonic() + timeout)
            self._drop_unsent()
            if connection is not None:
                connection.close()
            self._socket = None

    def _queue(self, line: bytes, rows: int) -> int:
        """Append ``line`` to the queue (the lock is held); its number, counted from 1."""
        self._unsent.append((memoryview(line), rows))
        self._unsent_rows += rows
        self._unsent_bytes += len(line)
        self._queued_lines += 1
        return self._queued_lines

    def _push(self, *, connect_now: bool = False) -> None:
        """Send queued lines until the socket would block (the lock is held)."""
        connection = self._connection(now=connect_now)
        if connection is None:
            self._drop_unsent()
            return
        unsent = self._unsent
        while unsent:
            views = [view for view, _ in itertools.islice(unsent, MAX_BUFFERS)]
            try:
                sent = connection.sendmsg(views)
            except BlockingIOError:
                break
            except OSError:
                self._disconnect()
                self._drop_unsent()
                return
            self._forget_sent(sent)
            if sent < sum(len(view) for view in views):
                break  # the socket is full: the rest goes next round
        if unsent:
            self._send_later()

    def _forget_sent(self, sent: int) -> None:
        """Take the first ``sent`` bytes off the queue (the last line may be cut)."""
        self._unsent_bytes -= sent
        unsent = self._unsent
        while sent:
            view, rows = unsent[0]
            if sent < len(view):
                unsent[0] = (view[sent:], rows)
                return
            sent -= len(view)
            unsent.popleft()
            self._unsent_rows -= rows
            self._sent_lines += 1

    def _drain(self, deadline: float) -> socket.socket | None:
        """Send everything queued, blocking until ``deadline`` (the lock is held)."""
        connection = self._connection(now=True)
        if connection is None:
            self._drop_unsent()
            return None
        try:
            while self._unsent:
                connection.settimeout(max(deadline - time.monotonic(), 0.001))
                view, _ = self._unsent[0]
                connection.sendall(view)
                self._forget_sent(len(view))
        except OSError:
            self._disconnect()
            self._drop_unsent()
            return None
        finally:
            if self._socket is not None:
                self._socket.setblocking(False)
        return connection

    def _send_later(self) -> bool:
        """Have the event loop send the queue in ``SEND_INTERVAL_S``; False off a loop."""
        if self._send_scheduled:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._send_scheduled = True
        loop.call_later(SEND_INTERVAL_S, self._send_queued)
        return True

    def _send_queued(self) -> None:
        with self._lock:
            self._send_scheduled = False
            if self._unsent:
                self._push()

    def _connection(self, *, now: bool = False) -> socket.socket | None:
        """The connected socket; connects if not (once per interval at most, or now)."""
        if self._socket is not None:
            return self._socket
        moment = time.monotonic()
        if not now and moment < self._connect_at:
            return None
        self._connect_at = moment + RECONNECT_INTERVAL_S
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self.path)
        except OSError as error:
            connection.close()
            self._warn_writer(
                f"prediction log: the writer at {self.path} cannot be reached "
                f"({type(error).__name__}); rows are dropped until it can"
            )
            return None
        connection.setblocking(False)
        self._socket = connection
        logger.debug("prediction log: connected to the writer at {}", self.path)
        return connection

    def _disconnect(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _drop_unsent(self) -> None:
        """Count every queued batch as lost to an unreachable writer, and forget them."""
        if self._unsent_rows:
            self._drop(self._unsent_rows, "writer")
        self._sent_lines += len(self._unsent)
        self._unsent.clear()
        self._unsent_rows = 0
        self._unsent_bytes = 0

    def _drop(self, rows: int, reason: str) -> None:
        if self.dropped is not None:
            self.dropped.labels(reason).inc(rows)


def _await_reply(connection: socket.socket, expected: bytes, deadline: float) -> bool:
    """Read the writer's answers until ``expected`` (a late one to an older flush is
    skipped); False at ``deadline`` or if the writer goes."""
    received = b""
    try:
        while expected not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, _, _ = select.select([connection], [], [], remaining)
            if not readable:
                return False
            chunk = connection.recv(4096)
            if not chunk:
                return False
            received += chunk
    except OSError:
        return False
    return True
