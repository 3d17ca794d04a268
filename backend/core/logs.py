"""Log configuration shared by Django (settings.LOGGING) and uvicorn (`manage.py serve`).

Every line starts with an ISO 8601 timestamp carrying its UTC offset (`2026-12-04T12:43:48.123+07:00`), so
lines from the server, the worker and uvicorn can be compared across machines and time zones.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Loggers that are chatty at INFO, kept at WARNING unless FIELDSYNC_LOG_LEVEL=DEBUG asks for everything.
# django_tasks logs every task state change (RUNNING, SUCCESSFUL) at INFO; a failed task is still an ERROR.
QUIET_LOGGERS = ("django_tasks", "httpx", "httpcore")


def iso_timestamp(created: float) -> str:
    """`created` (seconds since the epoch) in the process' local zone, with milliseconds and the offset."""
    return datetime.fromtimestamp(created, tz=UTC).astimezone().isoformat(timespec="milliseconds")


class IsoTimeFormatter(logging.Formatter):
    """A logging.Formatter whose `%(asctime)s` is an ISO 8601 timestamp with its UTC offset."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging API
        return iso_timestamp(record.created)


def logging_config(*, level: str) -> dict[str, Any]:
    """The dictConfig for settings.LOGGING: one stderr handler, ISO timestamps, `level` for the root logger."""
    level = level.upper()
    quiet_level = "DEBUG" if level == "DEBUG" else _more_severe(level, "WARNING")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"class": "backend.core.logs.IsoTimeFormatter", "format": LINE_FORMAT}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {name: {"level": quiet_level} for name in QUIET_LOGGERS},
    }


def _more_severe(first: str, second: str) -> str:
    levels = logging.getLevelNamesMapping()
    return first if levels.get(first, logging.INFO) >= levels[second] else second
