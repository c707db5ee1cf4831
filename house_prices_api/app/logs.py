"""Logging through loguru, with the request id on every line.

The id lives in a context variable that the request middleware sets, so any
line logged while serving a request (by this app, by uvicorn, in a worker
thread) carries it without being passed around; lines logged outside a
request show ``-``. Standard-library loggers (uvicorn's) are routed into
loguru so the whole process writes one format.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

    from app.config import LogLevel

NO_REQUEST = "-"
request_id_var: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)

TEXT_FORMAT = (
    "{time:YYYY-MM-DDTHH:mm:ss.SSSZZ} | {level: <7} | {extra[request_id]} | "
    "{name} | {message}"
)
# uvicorn.access is left alone: bin/start turns it off; the app logs its own access line.
ROUTED_STDLIB_LOGGERS = ("uvicorn", "uvicorn.error", "fastapi")


def _add_request_id(record: Record) -> None:
    record["extra"]["request_id"] = request_id_var.get()


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


def configure_logging(level: LogLevel, log_format: str) -> None:
    """Send every log line to stderr in the chosen format, request id included."""
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
