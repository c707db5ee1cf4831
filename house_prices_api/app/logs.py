"""Logging through loguru, with the request id on every line.

The id lives in a context variable that the request middleware sets, so any
line logged while serving a request (by this app, by uvicorn, in a worker
thread) carries it without being passed around; lines logged outside a
request show ``-``. Standard-library loggers (uvicorn's) are routed into
loguru so the whole process writes one format.

Each request gets one access line, written by the request middleware when
the response is done, which also says what the request did (``note_outcome``:
rows priced and refused). In the text format that line skips loguru and is
written straight to the same stream in the same format: building and
formatting a loguru record is a noticeable share of a 1-row request's CPU
(docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

    from app.config import LogLevel

NO_REQUEST = "-"
WARN_INTERVAL_S = 60.0
ACCESS_LOGGER = "app.middleware"


@dataclass(slots=True)
class RequestLog:
    """One request's id, and what its access line will say about the work it did."""

    request_id: str
    outcome: str = ""


current_request: ContextVar[RequestLog | None] = ContextVar(
    "current_request", default=None
)

TEXT_FORMAT = (
    "{time:YYYY-MM-DDTHH:mm:ss.SSSZZ} | {level: <7} | {extra[request_id]} | "
    "{name} | {message}"
)
# uvicorn.access is left alone: app/workers.py turns it off; the app writes its own.
ROUTED_STDLIB_LOGGERS = ("uvicorn", "uvicorn.error", "fastapi")

# Writes a request's access line: (request id, message).
AccessWriter = Callable[[str, str], None]


def current_request_id() -> str:
    """The id of the request being served, or ``-`` outside a request."""
    request = current_request.get()
    return request.request_id if request is not None else NO_REQUEST


def note_outcome(outcome: str) -> None:
    """Have the current request's access line say ``outcome`` (what it did)."""
    request = current_request.get()
    if request is not None:
        request.outcome = outcome


def _add_request_id(record: Record) -> None:
    record["extra"]["request_id"] = current_request_id()


class _LocalClock:
    """Local time as TEXT_FORMAT writes it, with the date part built once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""
        self._offset = ""

    def stamp(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            local = time.localtime(second)
            offset_minutes = local.tm_gmtoff // 60
            sign = "-" if offset_minutes < 0 else "+"
            hours, minutes = divmod(abs(offset_minutes), 60)
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", local)
            self._offset = f"{sign}{hours:02d}{minutes:02d}"
            self._second = second
        return f"{self._prefix}.{int((now - second) * 1000):03d}{self._offset}"


def text_access_writer(stream: TextIO) -> AccessWriter:
    """An access-line writer giving the text format's line without loguru's cost."""
    clock = _LocalClock()

    def write(request_id: str, message: str) -> None:
        stream.write(
            f"{clock.stamp()} | INFO    | {request_id} | {ACCESS_LOGGER} | {message}\n"
        )
        stream.flush()

    return write


def loguru_access_writer(request_id: str, message: str) -> None:
    """The access line as a loguru record, for formats loguru builds (JSON)."""
    logger.patch(_name_access_record).info(message)


def _name_access_record(record: Record) -> None:
    record["name"] = ACCESS_LOGGER


def _no_access_line(request_id: str, message: str) -> None:
    """The access writer when the level is above INFO."""


class _InterceptHandler(logging.Handler):
    """Hands standard-library records to loguru, keeping level and origin."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno

        def keep_origin(loguru_record: Record) -> None:
            loguru_record["name"] = record.name
            loguru_record["function"] = record.funcName
            loguru_record["line"] = record.lineno

        logger.patch(keep_origin).opt(exception=record.exc_info).log(
            level, record.getMessage()
        )


def configure_logging(level: LogLevel, log_format: str) -> AccessWriter:
    """Send every log line to stderr in the chosen format, request id included.

    Returns the writer of the access lines, for the request middleware.
    """
    logger.remove()
    logger.configure(patcher=_add_request_id)
    if log_format == "json":
        logger.add(
            sys.stderr, level=level, serialize=True, backtrace=False, diagnose=False
        )
    else:
        logger.add(
            sys.stderr, level=level, format=TEXT_FORMAT, backtrace=False, diagnose=False
        )
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.NOTSET, force=True)
    for name in ROUTED_STDLIB_LOGGERS:
        std_logger = logging.getLogger(name)
        std_logger.handlers = []
        std_logger.propagate = True
        std_logger.setLevel(level if level != "TRACE" else "DEBUG")
    if logger.level(level).no > logger.level("INFO").no:
        return _no_access_line
    return (
        text_access_writer(sys.stderr) if log_format == "text" else loguru_access_writer
    )


class RateLimitedWarning:
    """Logs a problem at most once per interval, with how often it happened since."""

    def __init__(self, interval: float = WARN_INTERVAL_S) -> None:
        self.interval = interval
        self._last = float("-inf")
        self._since = 0

    def __call__(self, message: str) -> None:
        self._since += 1
        now = time.monotonic()
        if now - self._last >= self.interval:
            logger.warning("{} ({} times since the last warning)", message, self._since)
            self._last, self._since = now, 0
