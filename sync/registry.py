"""Syncable tables are declared here by the domain apps (in their AppConfig.ready).

The engine knows a table only through its `SyncedTable`: columns and their WatermelonDB types,
the per-field conflict policy, and the domain callbacks that validate and apply a device's write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

# A row staged under this scope key is closed (archived): kept on the server, visible to no device.
# Devices that hold it first receive its closed state as `updated`, then the delete on the next page
# (see sync.pull), so an officer's pending edit reaches the server (and the quarantine) first.
ARCHIVED_SCOPE_KEY = "archived"


class FieldPolicy(StrEnum):
    """How a device's edit of a field is treated when it differs from the server's value."""

    AUTHORITATIVE = "authoritative"  # registry-owned: device edits of existing records are quarantined
    MERGE = "merge"  # last writer by server order wins
    APPEND = "append"  # observations: concurrent texts are concatenated, never a conflict
    REVIEW = "review"  # the server keeps its value; the device's goes to the review queue
    SERVER = "server"  # computed by the server; device values are ignored


class ColumnType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    policy: FieldPolicy = FieldPolicy.MERGE
    is_optional: bool = True
    is_indexed: bool = False
    added_in_schema_version: int = 1
    # STRING only: free text whose line breaks are the writer's (notes). The engine normalises each
    # line (normalize_multiline_text) instead of collapsing the breaks into spaces (normalize_text).
    is_multiline: bool = False


@dataclass(frozen=True)
class WriteActor:
    """Who is writing: a device (with its officer) or the server itself."""

    device_id: str | None
    officer_id: int | None
    unit_id: int | None
    scope_keys: frozenset[str]

    @property
    def writer(self) -> str:
        return self.device_id or "server"


@dataclass(frozen=True)
class AppliedRecord:
    """What the domain returns after applying a write: the canonical row and its scope key."""

    payload: dict[str, Any]
    scope_key: str


class ApplyFunction(Protocol):
    def __call__(
        self, *, record_id: str, values: Mapping[str, Any], is_new: bool, actor: WriteActor
    ) -> AppliedRecord: ...


@dataclass(frozen=True)
class ApplyItem:
    """One record of a batch apply: what `ApplyFunction` gets as keyword arguments."""

    record_id: str
    values: Mapping[str, Any]
    is_new: bool


class ApplyManyFunction(Protocol):
    """A batch form of `ApplyFunction`, for the happy path of a push (optional).

    Contract: the result is exactly what calling `apply` for each item in order would return and
    store (the items name distinct records of the one table), in a constant number of queries (a
    prefetch by id, bulk_create for new rows, bulk_update for changed ones). All or nothing: if any
    item would be rejected it raises (any exception `apply` may raise); the engine then rolls the
    batch back and applies it record by record through `apply`, which rejects the bad record alone.
    """

    def __call__(self, *, items: Sequence[ApplyItem], actor: WriteActor) -> list[AppliedRecord]: ...


class ArchiveFunction(Protocol):
    def __call__(self, *, record_id: str, actor: WriteActor) -> AppliedRecord | None: ...


@dataclass(frozen=True)
class SyncedTable:
    name: str
    columns: tuple[Column, ...]
    apply: ApplyFunction | None = None  # None: read-only for devices
    archive: ArchiveFunction | None = None  # None: devices may not delete
    apply_many: ApplyManyFunction | None = None  # None: a batch is applied through `apply`, record by record
    added_in_schema_version: int = 1
    column_by_name: Mapping[str, Column] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_by_name", {c.name: c for c in self.columns})

    @property
    def is_device_writable(self) -> bool:
        return self.apply is not None


_TABLES: dict[str, SyncedTable] = {}
_SCOPE_RESOLVERS: list[Callable[[Any, Any], set[str]]] = []


def register_table(table: SyncedTable) -> None:
    if table.name in _TABLES and _TABLES[table.name] != table:
        raise RuntimeError(f"sync table {table.name!r} registered twice")
    _TABLES[table.name] = table


def registered_tables() -> Mapping[str, SyncedTable]:
    return _TABLES


def table_get(name: str) -> SyncedTable | None:
    return _TABLES.get(name)


def register_scope_resolver(resolver: Callable[[Any, Any], set[str]]) -> None:
    """Add a function (device, officer) -> scope keys. The device's scope is the union of all."""
    if resolver not in _SCOPE_RESOLVERS:
        _SCOPE_RESOLVERS.append(resolver)


def scope_keys_for(*, device: Any, officer: Any) -> frozenset[str]:
    keys: set[str] = set()
    for resolver in _SCOPE_RESOLVERS:
        keys |= resolver(device, officer)
    return frozenset(keys)


def schema_version() -> int:
    versions = [t.added_in_schema_version for t in _TABLES.values()]
    versions += [c.added_in_schema_version for t in _TABLES.values() for c in t.columns]
    return max(versions, default=1)


def app_schema() -> dict[str, Any]:
    """The WatermelonDB appSchema as JSON (tables sorted, `id` implicit)."""
    return {
        "version": schema_version(),
        "tables": [
            {
                "name": t.name,
                "columns": [
                    {
                        "name": c.name,
                        "type": str(c.type),
                        "isOptional": c.is_optional,
                        "isIndexed": c.is_indexed,
                    }
                    for c in t.columns
                ],
            }
            for t in sorted(_TABLES.values(), key=lambda t: t.name)
        ],
    }
