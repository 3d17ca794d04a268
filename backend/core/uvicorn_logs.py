"""uvicorn's log configuration with the project's line format and ISO 8601 timestamps (see backend.core.logs)."""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG
from uvicorn.logging import AccessFormatter, DefaultFormatter

from backend.core.logs import LINE_FORMAT, iso_timestamp

ACCESS_FORMAT = '%(asctime)s %(levelname)s %(name)s %(client_addr)s - "%(request_line)s" %(status_code)s'


class IsoTimeDefaultFormatter(DefaultFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging API
        return iso_timestamp(record.created)


class IsoTimeAccessFormatter(AccessFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging API
        return iso_timestamp(record.created)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default handlers and loggers (errors on stderr, access lines on stdout), our formatters."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["default"].update(
        {"()": f"{__name__}.IsoTimeDefaultFormatter", "fmt": LINE_FORMAT, "use_colors": False}
    )
    config["formatters"]["access"].update(
        {"()": f"{__name__}.IsoTimeAccessFormatter", "fmt": ACCESS_FORMAT, "use_colors": False}
    )
    return config
