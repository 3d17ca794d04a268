"""The two ports of the bridge.

* `RegistrySource` — the central registry database (read changes by watermark, read rows by id,
  write field edits back). `SqlRegistrySource` implements it with SQLAlchemy 2 Core for any URL.
* `RegistryMapping` — how registry rows become fieldsync records. The bridge knows the legacy
  schema and the wire column names of the synced tables, but no domain model: the registry app
  registers the callables that read current values and apply authoritative writes
  (`register_mapping`, called from `backend.registry.apps`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Protocol

from sync.writer import SyncWriter

LegacyRow = Mapping[str, Any]


class RegistrySource(Protocol):
    """The central registry as the bridge sees it (tables named by their legacy names)."""

    def head(self) -> int:
        """The last change-counter value the registry has committed."""
        ...

    def count_changed(self, *, table: str, after_seq: int, through_seq: int) -> int: ...

    def next_seqs(self, *, table: str, after_seq: int, through_seq: int, limit: int) -> list[int]:
        """The smallest change-counter values above `after_seq` (to cut a batch on a boundary)."""
        ...

    def changed_rows(self, *, table: str, after_seq: int, through_seq: int, limit: int) -> list[LegacyRow]:
        """Rows of `table` whose change counter is in (after_seq, through_seq], oldest first."""
        ...

    def rows_by_id(self, *, table: str, ids: Sequence[int]) -> dict[int, LegacyRow]: ...

    def write_back(self, *, table: str, legacy_id: int, values: Mapping[str, Any]) -> int:
        """UPDATE legacy columns of one row as the bridge; returns the change-counter value it took."""
        ...


class CommuneStatus(StrEnum):
    CURRENT = "current"  # a 2025 code
    MERGED = "merged"  # a pre-2025 code wholly merged into one 2025 commune
    SPLIT = "split"  # a pre-2025 code split across several 2025 communes: needs a human
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CommuneResolution:
    status: CommuneStatus
    code: str | None  # the 2025 code when known
    candidates: tuple[str, ...] = ()  # for SPLIT: the 2025 communes that took parts of it
    effective_from: date | None = None  # for MERGED: the day the 2025 code took over


class MappingRejected(Exception):
    """Raised by a mapping's apply for one row it cannot take; the bridge quarantines the row."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        self.code, self.message, self.details = code, message, details
        super().__init__(message)


class ApplyValues(Protocol):
    def __call__(
        self, *, writer: SyncWriter, record_id: str, values: Mapping[str, Any], changed: Sequence[str], is_new: bool
    ) -> None: ...


class CreateMany(Protocol):
    def __call__(
        self, *, writer: SyncWriter, records: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> dict[str, MappingRejected]: ...


@dataclass(frozen=True)
class EntityMapping:
    """One legacy table ↔ one synced table.

    record_id_for: legacy integer id -> the fieldsync record id (stable).
    current_values: record ids -> {record_id: values} for the records that exist (bridge field names).
    apply: write `changed` fields (all of `values` when `is_new`) as authoritative registry writes,
    staged on `writer` with writer name "registry". Raises MappingRejected. A call whose values
    equal the stored ones writes and stages nothing.
    create_many (optional): `apply(is_new=True)` for many new records at once, (record_id, values)
    each, with bulk reads and inserts; returns the records it refused (record_id -> MappingRejected)
    and creates all the others. May raise IntegrityError (the bridge then falls back to `apply`).
    """

    legacy_table: str
    record_table: str
    record_id_for: Callable[[int], str]
    current_values: Callable[[Sequence[str]], dict[str, dict[str, Any]]]
    apply: ApplyValues
    create_many: CreateMany | None = None


@dataclass(frozen=True)
class RegistryMapping:
    persons: EntityMapping
    wanted_notices: EntityMapping
    commune_resolve: Callable[[str, date | None, str], CommuneResolution]  # (code, recorded on, address text)
    person_id_number_owner: Callable[[str], str | None]  # ID number -> record id holding it


_MAPPING: list[RegistryMapping] = []


def register_mapping(mapping: RegistryMapping) -> None:
    """Called once by the registry app; a second registration replaces the first (tests, reloads)."""
    _MAPPING[:] = [mapping]


def mapping_get() -> RegistryMapping:
    if not _MAPPING:
        raise RuntimeError("no registry mapping registered (is backend.registry installed?)")
    return _MAPPING[0]
