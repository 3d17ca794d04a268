"""A real registry database per test: a SQLite file, or — when fieldsync runs on PostgreSQL — a
separate PostgreSQL database on the same server (created and dropped here)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from sqlalchemy import Engine, create_engine, text

from sync.registry_bridge import legacy
from sync.registry_bridge.source import SqlRegistrySource

_counter = iter(range(1_000_000))


def _postgres_url() -> str | None:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return None
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgresql+psycopg://{db['USER']}{password}@{db['HOST']}:{db['PORT']}"


@pytest.fixture
def registry_engine(tmp_path: Path) -> Iterator[Engine]:
    server = _postgres_url()
    if server is None:
        engine = legacy.legacy_engine(f"sqlite:///{tmp_path / 'central_registry.sqlite3'}")
        legacy.legacy_schema_create(engine)
        yield engine
        engine.dispose()
        return
    name = f"registry_test_{os.getpid()}_{next(_counter)}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = legacy.legacy_engine(f"{server}/{name}")
    legacy.legacy_schema_create(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def registry(registry_engine: Engine) -> SqlRegistrySource:
    return SqlRegistrySource(registry_engine)


#: An address as the registry recorded it before 1 Jul 2025 in xã Kiên Mộc (06625, huyện Đình Lập),
#: an old unit split in 2025 between the new xã Kiên Mộc (which reuses the code) and xã Châu Sơn.
OLD_KIEN_MOC = "Thôn Bản Chành, xã Kiên Mộc, huyện Đình Lập, tỉnh Lạng Sơn"


def person_columns(**overrides: Any) -> dict[str, Any]:
    columns: dict[str, Any] = {
        "HO_TEN": "Hoàng Văn Lộc",
        "GIOI_TINH": "NAM",
        "NGAY_SINH": "1988",
        "SO_DINH_DANH": "000088123456",
        "DAN_TOC": "Nùng",
        "QUE_QUAN": "Lạng Sơn",
        "HO_TEN_CHA": "Hoàng Văn Pẻo",
        "HO_TEN_ME": "Nông Thị Mai",
        "DAC_DIEM_NHAN_DANG": "Sẹo ở cằm",
        "GHI_CHU": "",
        "TINH_TRANG_QL": "none",
        "MA_XA": "06184",
        "DIA_CHI": "Khối 3, xã Đồng Đăng, tỉnh Lạng Sơn",
        "NGAY_HIEU_LUC_DC": "01/08/2025",
    }
    columns.update(overrides)
    return columns
