from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backend.core.logs import IsoTimeFormatter, logging_config
from backend.core.uvicorn_logs import ACCESS_FORMAT, IsoTimeAccessFormatter, uvicorn_log_config

ISO_WITH_OFFSET = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


def _record(name: str, msg: str, args: Any, created: float) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    record.created = created
    return record


def test_a_log_line_starts_with_an_iso_timestamp_carrying_its_offset() -> None:
    created = datetime(2026, 12, 4, 5, 43, 48, 123000, tzinfo=UTC).timestamp()

    line = IsoTimeFormatter("%(asctime)s %(levelname)s %(name)s %(message)s").format(
        _record("sync.pull", "pulled %d rows", (3,), created)
    )

    stamp, rest = line.split(" ", 1)
    assert re.fullmatch(ISO_WITH_OFFSET, stamp)
    assert datetime.fromisoformat(stamp) == datetime(2026, 12, 4, 5, 43, 48, 123000, tzinfo=UTC)
    assert rest == "INFO sync.pull pulled 3 rows"


def test_the_settings_log_format_has_an_iso_timestamp() -> None:
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler.formatter, IsoTimeFormatter)


def test_a_uvicorn_access_line_starts_with_an_iso_timestamp() -> None:
    created = datetime(2026, 12, 4, 5, 43, 48, 5000, tzinfo=UTC).timestamp()
    formatter = IsoTimeAccessFormatter(fmt=ACCESS_FORMAT, use_colors=False)

    access_args = ("127.0.0.1:50000", "GET", "/console/", "1.1", 200)  # as uvicorn's protocols log them

    line = formatter.format(_record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', access_args, created))

    stamp, rest = line.split(" ", 1)
    assert datetime.fromisoformat(stamp) == datetime(2026, 12, 4, 5, 43, 48, 5000, tzinfo=UTC)
    assert rest == 'INFO uvicorn.access 127.0.0.1:50000 - "GET /console/ HTTP/1.1" 200 OK'


def test_uvicorn_log_config_keeps_uvicorns_loggers_and_uses_our_formatters() -> None:
    config = uvicorn_log_config()

    assert config["formatters"]["default"]["()"] == "backend.core.uvicorn_logs.IsoTimeDefaultFormatter"
    assert config["formatters"]["access"]["()"] == "backend.core.uvicorn_logs.IsoTimeAccessFormatter"
    assert sorted(config["loggers"]) == ["uvicorn", "uvicorn.access", "uvicorn.error"]


def test_django_tasks_state_changes_are_hidden_at_the_default_level(settings: Any) -> None:
    # The settings value, not the live logger: db_worker run in-process (verbosity 0) sets it to CRITICAL.
    assert settings.LOGGING["root"]["level"] == "INFO"
    assert settings.LOGGING["loggers"]["django_tasks"] == {"level": "WARNING"}
    assert settings.LOGGING["loggers"]["httpx"] == {"level": "WARNING"}


@pytest.mark.parametrize(
    ("level", "tasks_level"),
    [("INFO", "WARNING"), ("info", "WARNING"), ("DEBUG", "DEBUG"), ("WARNING", "WARNING"), ("ERROR", "ERROR")],
)
def test_fieldsync_log_level_debug_shows_the_task_state_changes(level: str, tasks_level: str) -> None:
    config = logging_config(level=level)

    assert config["root"]["level"] == level.upper()
    assert config["loggers"]["django_tasks"] == {"level": tasks_level}


@pytest.mark.slow
def test_serve_writes_uvicorn_lines_with_iso_timestamps(db: None, settings: Any, tmp_path: Path) -> None:
    from tests.media_store.live import ServerProcess

    server = ServerProcess(media_root=Path(settings.MEDIA_ROOT), log_path=tmp_path / "server.log")
    server.start()  # it polls OPTIONS /api/v1/media/uploads until the server answers 204
    try:
        log = server.log()
    finally:
        server.stop()

    running = rf"^{ISO_WITH_OFFSET} INFO uvicorn.error Uvicorn running on http://127.0.0.1:{server.port}"
    access = rf'^{ISO_WITH_OFFSET} INFO uvicorn.access 127.0.0.1:\d+ - "OPTIONS /api/v1/media/uploads HTTP/1.1" 204 No'
    assert re.search(running, log, re.M)
    assert re.search(access, log, re.M)
