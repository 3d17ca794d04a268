"""The only way synced data changes: stage row changes, then `flush` assigns one sequence number.

    with sync_transaction() as writer:
        person.save()
        writer.stage(table="persons", record_id=str(person.id), payload=..., scope_key=...)

`sync_transaction(drop_no_ops=True)` (the registry bridge) drops a staged row whose payload and
scope equal what its SyncRow already holds: a write that changes nothing takes no sequence number
and sends no device anything; a block that staged only such rows leaves the head alone. Off by
default: push restages unchanged rows on purpose (a device whose review-field edit was kept aside
must pull the server's value back).

`flush` runs at the end of the block, inside the transaction: it locks `SyncHead` (always the last
lock taken, so lock order is stable), bumps it, and writes every staged row with that number. The
head lock is held only from there to COMMIT, so slow work earlier in the block does not stall
other writers, and a transaction that commits later always gets a larger number: a pull that reads
`head` in its snapshot can never skip a row that commits afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from backend.core.bulk import bulk_update_fields
from sync.bulk import insert_values
from sync.models import SyncHead, SyncRow, SyncScopeExit

# Sent after COMMIT with seq (int) and scope_keys (frozenset[str]) of everything that changed.
changes_committed = Signal()


def dumps_payload(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload).decode()


# Bumped whenever SyncRows are written in this process (a flush, `sync_rows_written`): a writer's
# locked rows are reused by its flush only if no SyncRow was written since they were read.
_rows_written = [0]


def sync_rows_written() -> None:
    """Tell the writers that SyncRows were written outside `SyncWriter.flush` (bulk loads)."""
    _rows_written[0] += 1


def _lock_state() -> tuple[int, tuple[str, ...]]:
    """What must be unchanged for rows locked earlier to be still locked and as read: no SyncRow
    written since, and the same savepoints open (a lock taken in a savepoint rolled back since is lost)."""
    return _rows_written[0], tuple(connection.savepoint_ids)


_NEW_ROW_FIELDS = (
    "table",
    "record_id",
    "seq",
    "created_seq",
    "changed_at",
    "scope_key",
    "is_deleted",
    "payload_json",
    "field_versions",
    "last_writer_device_id",
)


@dataclass
class StagedRow:
    table: str
    record_id: str
    payload: dict[str, Any] | None  # None: deleted
    scope_key: str
    changed_fields: Sequence[str] | None  # None: every column
    writer: str
    echo_device_id: str | None


@dataclass
class SyncWriter:
    staged: dict[tuple[str, str], StagedRow] = field(default_factory=dict)
    seq: int | None = None
    touched_scope_keys: set[str] = field(default_factory=set)
    drop_no_ops: bool = False
    _locked: dict[tuple[str, str], SyncRow] = field(default_factory=dict, repr=False)
    _locked_state: tuple[int, tuple[str, ...]] | None = field(default=None, repr=False)

    def lock_rows(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], SyncRow]:
        """Lock existing SyncRows for update, in a stable order; returns those that exist.

        `flush` reuses the rows found instead of reading them again, as long as they cannot have
        changed (see `_lock_state`): locked by this transaction, no other writer can touch them.
        """
        found: dict[tuple[str, str], SyncRow] = {}
        by_table: dict[str, list[str]] = {}
        for table, record_id in sorted(set(keys)):
            by_table.setdefault(table, []).append(record_id)
        for table, ids in by_table.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = (
                    SyncRow.objects.select_for_update()
                    .filter(table=table, record_id__in_list=chunk)
                    .order_by("record_id")
                )
                for row in rows:
                    found[(row.table, row.record_id)] = row
        state = _lock_state()
        if self._locked_state != state:
            self._locked.clear()
        self._locked.update(found)
        self._locked_state = state
        return found

    def _rows_to_write(self) -> dict[tuple[str, str], SyncRow]:
        """The staged rows' SyncRows, locked: those `lock_rows` found (if still valid), the others read now.

        A key not found before is read again: another transaction may have created its row since.
        """
        known = self._locked if self._locked_state == _lock_state() else {}
        existing = {key: known[key] for key in self.staged if key in known}
        missing = [key for key in self.staged if key not in known]
        if missing:
            existing.update(self.lock_rows(missing))
        return existing

    def stage(
        self,
        *,
        table: str,
        record_id: str,
        payload: dict[str, Any] | None,
        scope_key: str,
        changed_fields: Sequence[str] | None = None,
        writer: str = "server",
        echo_device_id: str | None = None,
    ) -> None:
        """Queue a row change. A second stage of the same row in one transaction merges into it."""
        key = (table, record_id)
        previous = self.staged.get(key)
        if previous is not None and changed_fields is not None and previous.changed_fields is not None:
            changed_fields = sorted(set(previous.changed_fields) | set(changed_fields))
        elif previous is not None:
            changed_fields = None
        self.staged[key] = StagedRow(
            table=table,
            record_id=record_id,
            payload=payload,
            scope_key=scope_key,
            changed_fields=changed_fields,
            writer=writer,
            echo_device_id=echo_device_id,
        )

    def flush(self) -> int | None:
        """Assign the sequence number and write staged rows. Returns the seq, or None if nothing staged."""
        if not self.staged:
            return None
        now = timezone.now()
        existing = self._rows_to_write()
        if self.drop_no_ops:
            for key in [k for k, staged in self.staged.items() if _is_no_op(existing.get(k), staged)]:
                del self.staged[key]  # a write that changes nothing is not a change: no seq, no pull
            if not self.staged:
                return None
        head, _ = SyncHead.objects.select_for_update().get_or_create(pk=1)
        head.seq += 1
        head.save(update_fields=["seq"])
        seq = head.seq
        self.seq = seq
        to_create: list[tuple[Any, ...]] = []
        to_update: list[SyncRow] = []
        exits: list[SyncScopeExit] = []
        for key, staged in self.staged.items():
            row = existing.get(key)
            deleted = staged.payload is None
            if row is None:
                if deleted:
                    continue  # deleting something never synced: nothing to tell anyone
                to_create.append(  # in the order of _NEW_ROW_FIELDS
                    (
                        staged.table,
                        staged.record_id,
                        seq,
                        seq,
                        now,
                        staged.scope_key,
                        False,
                        dumps_payload(staged.payload or {}),
                        _versions(None, staged, seq),
                        staged.echo_device_id,
                    )
                )
                self.touched_scope_keys.add(staged.scope_key)
                continue
            self.touched_scope_keys.add(row.scope_key)
            if row.scope_key != staged.scope_key and not row.is_deleted:
                exits.append(
                    SyncScopeExit(
                        seq=seq, changed_at=now, table=row.table, record_id=row.record_id, scope_key=row.scope_key
                    )
                )
            row.field_versions = _versions(row, staged, seq)
            if row.is_deleted and not deleted:
                row.created_seq = seq  # resurrected: devices must create it again
            row.seq = seq
            row.changed_at = now
            row.scope_key = staged.scope_key
            row.is_deleted = deleted
            if not deleted:
                row.payload_json = dumps_payload(staged.payload or {})
            row.last_writer_device_id = staged.echo_device_id
            to_update.append(row)
            self.touched_scope_keys.add(staged.scope_key)
        # From here SyncRows change: rows any writer locked before must be read again.
        sync_rows_written()
        self._locked.clear()
        self._locked_state = None
        if to_create:
            insert_values(SyncRow, _NEW_ROW_FIELDS, to_create)
        if to_update:
            bulk_update_fields(
                to_update,
                list(_NEW_ROW_FIELDS[2:]),  # every field but the key (table, record_id)
                batch_size=500,
            )
        if exits:
            SyncScopeExit.objects.bulk_create(exits, batch_size=1000)
        keys = frozenset(self.touched_scope_keys)
        transaction.on_commit(lambda: changes_committed.send(sender=SyncWriter, seq=seq, scope_keys=keys))
        self.staged.clear()
        return seq


def _is_no_op(row: SyncRow | None, staged: StagedRow) -> bool:
    """Whether writing `staged` over `row` would change nothing a device can see."""
    if row is None:
        return staged.payload is None  # deleting something never synced
    if row.scope_key != staged.scope_key:
        return False
    if staged.payload is None:
        return row.is_deleted
    if row.is_deleted:
        return False
    return bool(orjson.loads(row.payload_json) == orjson.loads(dumps_payload(staged.payload)))


def _versions(row: SyncRow | None, staged: StagedRow, seq: int) -> dict[str, Any]:
    """Per-field [seq, writer]. "*" stands for every field not listed (set when the row is created).

    A server restage without an explicit field list records only the fields whose value really
    changed, so devices are not told of conflicts that are not there.
    """
    if row is None or row.is_deleted:
        return {"*": [seq, staged.writer]}
    versions = dict(row.field_versions or {})
    if staged.payload is None:
        return versions
    if staged.changed_fields is None:
        old = orjson.loads(row.payload_json)
        fields = [k for k, v in staged.payload.items() if old.get(k) != v]
    else:
        fields = list(staged.changed_fields)
    for name in fields:
        if name != "id":
            versions[name] = [seq, staged.writer]
    return versions


def field_version(row: SyncRow, name: str) -> tuple[int, str]:
    version = (row.field_versions or {}).get(name) or (row.field_versions or {}).get("*") or [row.created_seq, "server"]
    return int(version[0]), str(version[1])


@contextmanager
def sync_transaction(*, drop_no_ops: bool = False) -> Iterator[SyncWriter]:
    """An atomic block whose staged sync changes get one sequence number just before COMMIT
    (`drop_no_ops`: see the module docstring)."""
    with transaction.atomic():
        writer = SyncWriter(drop_no_ops=drop_no_ops)
        yield writer
        writer.flush()


def head_seq() -> int:
    head = SyncHead.objects.filter(pk=1).values_list("seq", flat=True).first()
    return int(head or 0)


def now() -> datetime:
    return timezone.now()
