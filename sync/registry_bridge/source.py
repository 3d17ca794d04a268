"""`RegistrySource` over SQLAlchemy 2 Core: any URL SQLAlchemy speaks (SQLite file, PostgreSQL…)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, Table, func, select, update

from sync.registry_bridge import legacy
from sync.registry_bridge.port import LegacyRow

TABLES: dict[str, Table] = {"DOI_TUONG": legacy.DOI_TUONG, "QD_TRUY_NA": legacy.QD_TRUY_NA}
PRIMARY_KEYS: dict[str, str] = {"DOI_TUONG": "MA_DT", "QD_TRUY_NA": "MA_QD"}


def json_safe_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A legacy row as JSON (datetimes as ISO strings), e.g. for a quarantine payload."""
    return {k: (v.isoformat() if isinstance(v, datetime | date) else v) for k, v in row.items()}


class SqlRegistrySource:
    """Reads and writes the legacy tables. Each call is its own short transaction on the registry."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def head(self) -> int:
        with self.engine.connect() as connection:
            return legacy.head_change_seq(connection)

    def count_changed(self, *, table: str, after_seq: int, through_seq: int) -> int:
        t = TABLES[table]
        seq = t.c[legacy.CHANGE_COUNTER]
        query = select(func.count()).select_from(t).where(seq > after_seq, seq <= through_seq)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def next_seqs(self, *, table: str, after_seq: int, through_seq: int, limit: int) -> list[int]:
        t = TABLES[table]
        seq = t.c[legacy.CHANGE_COUNTER]
        query = select(seq).where(seq > after_seq, seq <= through_seq).order_by(seq).limit(limit)
        with self.engine.connect() as connection:
            return [int(v) for v in connection.execute(query).scalars()]

    def changed_rows(self, *, table: str, after_seq: int, through_seq: int, limit: int) -> list[LegacyRow]:
        t = TABLES[table]
        seq = t.c[legacy.CHANGE_COUNTER]
        query = (
            select(t).where(seq > after_seq, seq <= through_seq).order_by(seq, t.c[PRIMARY_KEYS[table]]).limit(limit)
        )
        with self.engine.connect() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    def rows_by_id(self, *, table: str, ids: Sequence[int]) -> dict[int, LegacyRow]:
        t = TABLES[table]
        key = t.c[PRIMARY_KEYS[table]]
        found: dict[int, LegacyRow] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                for row in connection.execute(select(t).where(key.in_(chunk))).mappings():
                    found[int(row[PRIMARY_KEYS[table]])] = dict(row)
        return found

    def write_back(self, *, table: str, legacy_id: int, values: Mapping[str, Any]) -> int:
        t = TABLES[table]
        with self.engine.begin() as connection:
            seq = legacy.next_change_seq(connection)
            connection.execute(
                update(t)
                .where(t.c[PRIMARY_KEYS[table]] == legacy_id)
                .values(
                    **values,
                    NGAY_CAP_NHAT=legacy.legacy_now(),
                    NGUOI_CAP_NHAT=legacy.WRITER_FIELDSYNC,
                    **{legacy.CHANGE_COUNTER: seq},
                )
            )
        return seq
