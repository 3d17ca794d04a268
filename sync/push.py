"""Push: apply a device's offline changes record by record, field by field, exactly once.

The engine decides per record (policies, conflicts, replays); the domain applies a run of one
table's records in one call when the table declares `apply_many` (a prefetch, bulk writes), all
under one savepoint. If any record fails, that pass is rolled back and the push is applied again
record by record, each under its own savepoint, so one bad record is rejected (and quarantined
whole) while the others apply. Per field: the device's `_changed` columns are compared with what other writers changed
after the device's checkpoint; the column's FieldPolicy decides. A replay (same content pushed
again after a lost acknowledgement) is recognised and changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import DataError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from backend.accounts.models import Device, Officer
from backend.core.errors import DomainError
from backend.core.text import normalize_multiline_text, normalize_text
from mobile_contract.errors import ErrorCode
from sync import registry
from sync.bulk import upsert_push_logs
from sync.errors import IdempotencyKeyReused, PayloadTooLarge, QuarantineFull, RecordRejected, SyncCursorInvalid
from sync.faults import Fault, fault_point
from sync.models import DevicePushLog, PushReceipt, QuarantinedRecord, ReviewItem, SyncCheckpoint, SyncRow
from sync.quarantine import quarantine_admit, quarantine_refusal_record
from sync.registry import ColumnType, FieldPolicy, SyncedTable, WriteActor
from sync.writer import SyncWriter, field_version, sync_transaction

RECORD_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_PUSH_RECORDS = 5000


@dataclass(frozen=True)
class Rejection:
    table: str
    id: str
    code: str
    message: str


@dataclass(frozen=True)
class ConflictOutcome:
    table: str
    id: str
    field: str
    policy: str
    outcome: str


@dataclass
class PushResult:
    rejected_ids: dict[str, list[str]] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    conflicts: list[ConflictOutcome] = field(default_factory=list)
    applied_count: int = 0
    seq: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "experimentalRejectedIds": self.rejected_ids,
            "rejections": [r.__dict__ for r in self.rejections],
            "conflicts": [c.__dict__ for c in self.conflicts],
        }


class _Reject(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(message)


# What rejects one record (and not the whole push).
_REJECTABLE = (_Reject, RecordRejected, DomainError, IntegrityError, DataError, ValueError, TypeError)
_DUPLICATE_MESSAGE = "the record appears more than once in this push"


def _is_duplicate(exc: Exception) -> bool:
    return isinstance(exc, _Reject) and exc.message == _DUPLICATE_MESSAGE


def sync_push(
    *,
    device: Device,
    officer: Officer,
    scope_keys: frozenset[str],
    last_pulled_at: int,
    changes: Any,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Apply a WatermelonDB `changes` object. Returns the response JSON.

    Side effects: domain writes, SyncRows at one new seq, quarantine and review items, pokes after
    commit. Raises SyncCursorInvalid (unknown cursor: pull first), PayloadTooLarge,
    IdempotencyKeyReused. Idempotent: a replay changes nothing; with an Idempotency-Key the stored
    response is returned.
    """
    request_sha = hashlib.sha256(orjson.dumps(changes, option=orjson.OPT_SORT_KEYS)).hexdigest()
    if idempotency_key:
        stored = PushReceipt.objects.filter(device=device, idempotency_key=idempotency_key).first()
        if stored is not None:
            if stored.request_sha256 != request_sha:
                raise IdempotencyKeyReused()
            return dict(orjson.loads(stored.response_json))
    checkpoint = SyncCheckpoint.objects.filter(pk=last_pulled_at, device=device).first() if last_pulled_at else None
    if checkpoint is None:
        raise SyncCursorInvalid()
    entries = _flatten(changes)
    if len(entries) > MAX_PUSH_RECORDS:
        raise PayloadTooLarge(details={"max_records": MAX_PUSH_RECORDS})
    actor = WriteActor(device_id=str(device.id), officer_id=officer.pk, unit_id=device.unit_id, scope_keys=scope_keys)
    result = PushResult()
    quarantine: list[QuarantinedRecord] = []
    try:
        with sync_transaction() as writer:
            rows = writer.lock_rows([(t, i) for t, _, i, _ in entries if isinstance(i, str)])
            logs = _push_logs(device, entries)

            def prepare(table_name: str, operation: str, record_id: Any, raw: Any) -> _PendingApply | None:
                key = (table_name, str(record_id))
                return _prepare_entry(
                    writer=writer,
                    result=result,
                    actor=actor,
                    device=device,
                    officer=officer,
                    checkpoint=checkpoint,
                    table_name=table_name,
                    operation=operation,
                    record_id=record_id,
                    raw=raw,
                    row=rows.get(key),
                    log=logs.get(key),
                )

            def apply(table_name: str, operation: str, record_id: Any, raw: Any) -> None:
                pending = prepare(table_name, operation, record_id, raw)
                if pending is not None:
                    apply_one = pending.table.apply
                    assert apply_one is not None  # prepare rejects a write to a read-only table
                    applied = apply_one(
                        record_id=pending.record_id, values=pending.apply_values, is_new=pending.is_new, actor=actor
                    )
                    _finish_entry(writer=writer, result=result, actor=actor, pending=pending, applied=applied)

            # First the whole batch under one savepoint, each table's records through its batch apply
            # (a prefetch and a bulk write per table instead of a query or two per record). A bad
            # record (or a record sent twice) is the exception: then everything this pass did (rows,
            # review items, staged changes, outcomes) is rolled back and the batch is applied again
            # record by record below, each under its own savepoint, so the bad record is rejected and
            # quarantined alone. `atomic` (unlike a bare savepoint_rollback) also clears the
            # broken-transaction flag after a database error.
            remaining = entries
            if _distinct_records(entries):
                try:
                    with transaction.atomic():
                        _apply_batch(entries, prepare=prepare, apply=apply, writer=writer, result=result, actor=actor)
                    remaining = []
                except _REJECTABLE:
                    writer.staged.clear()  # nothing was staged before this pass
                    result.conflicts.clear()
                    result.applied_count = 0
            seen: set[tuple[str, str]] = set()
            for table_name, operation, record_id, raw in remaining:
                key = (table_name, str(record_id))
                try:
                    if key in seen:  # its first occurrence stands; never apply a record twice in one seq
                        raise _Reject(ErrorCode.SYNC_RECORD_INVALID, _DUPLICATE_MESSAGE)
                    seen.add(key)
                    with transaction.atomic():
                        apply(table_name, operation, record_id, raw)
                except _REJECTABLE as exc:
                    if not _is_duplicate(exc):  # keep the first occurrence's row
                        writer.staged.pop(key, None)
                    code, message = _code_message(exc)
                    rid = str(record_id)
                    rejected = result.rejected_ids.setdefault(table_name, [])
                    if rid not in rejected:
                        rejected.append(rid)
                    result.rejections.append(Rejection(table=table_name, id=rid, code=code, message=message))
                    quarantine.append(
                        QuarantinedRecord(
                            created_at=timezone.now(),
                            device=device,
                            officer=officer,
                            table=table_name[:64],
                            record_id=rid[:64],
                            operation=operation,
                            code=code,
                            message=message,
                            payload=raw if isinstance(raw, dict) else {"id": rid},
                            base_seq=checkpoint.seq,
                        )
                    )
            if quarantine:
                QuarantinedRecord.objects.bulk_create(quarantine_admit(device=device, items=quarantine))
            writer.flush()
            result.seq = writer.seq
            _record_push_logs(device=device, checkpoint=checkpoint, entries=entries, result=result)
            Device.objects.filter(pk=device.pk).update(last_push_at=timezone.now(), last_seen_at=timezone.now())
            response = result.as_json()
            if idempotency_key:
                PushReceipt.objects.create(
                    device=device,
                    idempotency_key=idempotency_key,
                    request_sha256=request_sha,
                    response_json=orjson.dumps(response).decode(),
                    created_at=timezone.now(),
                )
            fault_point(Fault.PUSH_BEFORE_COMMIT)
    except QuarantineFull as refused:  # rolled back: the device keeps every record pending
        quarantine_refusal_record(device=device, officer=officer, error=refused)
        raise
    except IntegrityError:
        if idempotency_key:  # a concurrent retry with the same key won the race
            stored = PushReceipt.objects.filter(device=device, idempotency_key=idempotency_key).first()
            if stored is not None:
                return dict(orjson.loads(stored.response_json))
        raise
    return response


def _flatten(changes: Any) -> list[tuple[str, str, Any, Any]]:
    """(table, operation, record_id, raw) in a stable order: upserts before deletes."""
    if not isinstance(changes, dict):
        raise RecordRejected("`changes` must be an object.", code=ErrorCode.VALIDATION_ERROR, http_status=400)
    upserts: list[tuple[str, str, Any, Any]] = []
    deletes: list[tuple[str, str, Any, Any]] = []
    for table_name, lists in changes.items():
        if not isinstance(lists, dict):
            raise RecordRejected(
                f"changes.{table_name} must be an object.", code=ErrorCode.VALIDATION_ERROR, http_status=400
            )
        for operation in ("created", "updated"):
            for raw in lists.get(operation) or []:
                record_id = raw.get("id") if isinstance(raw, dict) else None
                upserts.append((str(table_name), operation, record_id if record_id is not None else "", raw))
        for record_id in lists.get("deleted") or []:
            deletes.append((str(table_name), "deleted", record_id, {"id": record_id}))
    return upserts + deletes


def _content_sha(operation: str, raw: Any) -> str:
    if isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k != "_status"}
    return hashlib.sha256(orjson.dumps([operation, raw], option=orjson.OPT_SORT_KEYS)).hexdigest()


def _push_logs(device: Device, entries: list[tuple[str, str, Any, Any]]) -> dict[tuple[str, str], DevicePushLog]:
    """The device's push log entries for the records of this push, by (table, record id).

    Looked up by device, table and record ids, the whole key of `devicepushlog_record`: by device
    and record ids alone PostgreSQL reads every entry the device ever made (measured with 200,000
    of them: 2.2 s per lookup, against 4-10 ms with the table in the condition).
    """
    ids_by_table: dict[str, list[str]] = {}
    for table_name, _, record_id, _ in entries:
        # Only a synced table's records are ever logged: a push naming many unknown tables adds nothing.
        if isinstance(record_id, str) and registry.table_get(table_name) is not None:
            ids_by_table.setdefault(table_name, []).append(record_id)
    if not ids_by_table:
        return {}
    condition = Q()
    for table_name, ids in ids_by_table.items():
        condition |= Q(table=table_name, record_id__in_list=ids)
    return {(log.table, log.record_id): log for log in DevicePushLog.objects.filter(condition, device=device)}


def _record_push_logs(
    *, device: Device, checkpoint: SyncCheckpoint, entries: list[tuple[str, str, Any, Any]], result: PushResult
) -> None:
    """Remember what the device sent for each accepted record (the last entry of a record wins).

    One upsert per 500 records instead of an update_or_create (savepoint, SELECT, INSERT or UPDATE)
    per record: measured as the largest engine cost of a push of 500 records.
    """
    if result.seq is None:
        return
    rejected = {(r.table, r.id) for r in result.rejections}
    latest: dict[tuple[str, str], str] = {}
    for table_name, operation, record_id, raw in entries:
        if (table_name, str(record_id)) in rejected or not isinstance(record_id, str):
            continue
        latest[(table_name, record_id)] = _content_sha(operation, raw)
    upsert_push_logs(
        [
            (device.pk, table_name, record_id, sha, result.seq, checkpoint.id)
            for (table_name, record_id), sha in latest.items()
        ]
    )


def _code_message(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, _Reject):
        return str(exc.code), exc.message
    if isinstance(exc, DomainError):
        return str(exc.code), exc.message
    if isinstance(exc, IntegrityError | DataError):  # its text names tables and constraints: not for the device
        return str(ErrorCode.SYNC_RECORD_INVALID), "the server could not store this record"
    return str(ErrorCode.SYNC_RECORD_INVALID), str(exc) or exc.__class__.__name__


def _coerce(table: SyncedTable, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Whitelisted columns only, typed, strings normalised (NFC; multi-line columns line by line).
    Unknown columns are ignored. The domain's apply gets these values: normalising them again there
    (an entry point of its own) is a quick check that returns them as they are."""
    values: dict[str, Any] = {}
    for name, column in table.column_by_name.items():
        if name not in raw:
            continue
        value = raw[name]
        if value is None:
            if not column.is_optional:
                raise _Reject(ErrorCode.SYNC_RECORD_INVALID, f"{name} may not be null")
            values[name] = None
        elif column.type is ColumnType.STRING:
            if not isinstance(value, str):
                raise _Reject(ErrorCode.SYNC_RECORD_INVALID, f"{name} must be a string")
            values[name] = normalize_multiline_text(value) if column.is_multiline else normalize_text(value)
        elif column.type is ColumnType.NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _Reject(ErrorCode.SYNC_RECORD_INVALID, f"{name} must be a number")
            values[name] = value
        else:
            if not isinstance(value, bool):
                raise _Reject(ErrorCode.SYNC_RECORD_INVALID, f"{name} must be a boolean")
            values[name] = value
    return values


@dataclass(frozen=True)
class _PendingApply:
    """A record the domain must apply, as decided by the engine (policies, conflicts, scope)."""

    table: SyncedTable
    record_id: str
    raw: Mapping[str, Any]
    values: dict[str, Any]  # the device's coerced values (what an echo is judged on)
    apply_values: Mapping[str, Any]  # what the domain applies (the accepted fields of an update)
    is_new: bool
    changed: list[str] | None  # None: every column (a new record)


def _distinct_records(entries: list[tuple[str, str, Any, Any]]) -> bool:
    keys = {(table_name, str(record_id)) for table_name, _, record_id, _ in entries}
    return len(keys) == len(entries)


def _apply_batch(
    entries: list[tuple[str, str, Any, Any]],
    *,
    prepare: Callable[[str, str, Any, Any], _PendingApply | None],
    apply: Callable[[str, str, Any, Any], None],
    writer: SyncWriter,
    result: PushResult,
    actor: WriteActor,
) -> None:
    """Apply distinct records, run by run of one table (in the order sent), all or nothing.

    A run of a table with `apply_many` is prepared record by record (the engine's decisions read
    only the SyncRows locked before), then applied by the domain in one call; deletes and other
    tables go through `apply`. Raises whatever rejects a record.
    """
    start = 0
    while start < len(entries):
        table_name, operation = entries[start][0], entries[start][1]
        end = start + 1
        while (
            end < len(entries)
            and entries[end][0] == table_name
            and (entries[end][1] == "deleted") == (operation == "deleted")
        ):
            end += 1
        run, start = entries[start:end], end
        table = registry.table_get(table_name)
        if table is None or table.apply_many is None or operation == "deleted":
            for entry in run:
                apply(*entry)
            continue
        pending = [p for p in (prepare(*entry) for entry in run) if p is not None]
        if not pending:
            continue
        items = [registry.ApplyItem(record_id=p.record_id, values=p.apply_values, is_new=p.is_new) for p in pending]
        applied = table.apply_many(items=items, actor=actor)
        if len(applied) != len(pending):
            raise RuntimeError(f"{table_name}.apply_many returned {len(applied)} records for {len(pending)}")
        for p, a in zip(pending, applied, strict=True):
            _finish_entry(writer=writer, result=result, actor=actor, pending=p, applied=a)


def _prepare_entry(
    *,
    writer: SyncWriter,
    result: PushResult,
    actor: WriteActor,
    device: Device,
    officer: Officer,
    checkpoint: SyncCheckpoint,
    table_name: str,
    operation: str,
    record_id: Any,
    raw: Any,
    row: SyncRow | None,
    log: DevicePushLog | None,
) -> _PendingApply | None:
    """Everything before the domain's apply: validation, replays, policies, conflicts, reviews.

    Returns what the domain must apply, or None when the record needs no domain write (a replay, a
    delete, an update whose fields all went to review or were unchanged).
    """
    table = registry.table_get(table_name)
    if table is None:
        raise _Reject(ErrorCode.SYNC_TABLE_UNKNOWN, f"unknown table {table_name!r}")
    if not isinstance(record_id, str) or not RECORD_ID_RE.match(record_id):
        raise _Reject(ErrorCode.SYNC_RECORD_ID_INVALID, "record id must be 1-64 characters of [A-Za-z0-9_.-]")
    base = conflict_base(checkpoint, row)
    is_replay = (
        log is not None
        and log.content_sha256 == _content_sha(operation, raw)
        and checkpoint.since_seq < log.seq  # the device had not pulled past its own push: ack lost
    )
    if is_replay:
        # Already applied: changes nothing and is no conflict. If others changed the record since,
        # the device (which will mark it synced) must get the server's row back.
        if row is not None and not row.is_deleted and isinstance(raw, dict) and table.column_by_name:
            server = orjson.loads(row.payload_json)
            if any(server.get(k) != v for k, v in raw.items() if k in table.column_by_name):
                _resend(writer, row, server, actor)
        return None
    is_superseded = log is not None and log.checkpoint_id > checkpoint.id
    if is_superseded:
        # This request was composed against an older cursor than a push of the same record that
        # this device already made: a stale request arriving late (an offline chain of updates out
        # of order). The newer state stands; the device is sent the server's row again.
        if row is not None and not row.is_deleted and isinstance(raw, dict) and table.column_by_name:
            _resend(writer, row, orjson.loads(row.payload_json), actor)
        return None
    if operation == "deleted":
        _apply_delete(writer=writer, table=table, record_id=record_id, row=row, actor=actor)
        return None
    if not isinstance(raw, dict):
        raise _Reject(ErrorCode.SYNC_RECORD_INVALID, "record must be an object")
    if table.apply is None:
        raise _Reject(ErrorCode.SYNC_RECORD_READ_ONLY, f"{table_name} is read-only for devices")
    values = _coerce(table, raw)
    if row is not None and (row.is_deleted or row.scope_key == registry.ARCHIVED_SCOPE_KEY):
        raise _Reject(
            ErrorCode.SYNC_RECORD_DELETED, "the record was deleted on the server; the edit is kept for review"
        )
    if row is None and operation == "updated" and checkpoint.is_replacement_due:
        # The device held this record (it was synced), the server has no trace of it, and the
        # cursor is stale: its tombstone was purged (or the server restored from a backup). Applying
        # it would resurrect a deleted record; dropping it would lose the edit. Quarantine it.
        raise _Reject(
            ErrorCode.SYNC_RECORD_DELETED, "the record is not on the server (deleted); the edit is kept for review"
        )
    if row is not None and row.scope_key not in actor.scope_keys:
        raise _Reject(ErrorCode.SYNC_RECORD_OUT_OF_SCOPE, "the record is outside this device's scope")
    if row is None:
        values = {k: v for k, v in values.items() if table.column_by_name[k].policy is not FieldPolicy.SERVER}
        return _PendingApply(table, record_id, raw, values, values, is_new=True, changed=None)
    else:
        server = orjson.loads(row.payload_json)
        changed_names = _changed_columns(raw, values, operation)
        accepted: dict[str, Any] = {}
        for name in changed_names:
            column = table.column_by_name[name]
            device_value, server_value = values[name], server.get(name)
            if device_value == server_value or column.policy is FieldPolicy.SERVER:
                continue
            field_seq, field_writer = field_version(row, name)
            conflicted = field_seq > base and field_writer != actor.writer
            if column.policy is FieldPolicy.AUTHORITATIVE:
                _review(
                    device,
                    officer,
                    table_name,
                    record_id,
                    name,
                    column.policy,
                    server_value,
                    device_value,
                    base,
                    field_seq,
                )
                result.conflicts.append(
                    ConflictOutcome(table_name, record_id, name, column.policy, "rejected_for_review")
                )
                continue
            if not conflicted:
                accepted[name] = device_value
                continue
            if column.policy is FieldPolicy.MERGE:
                accepted[name] = device_value
                outcome = "device_value_applied"
            elif column.policy is FieldPolicy.APPEND:
                accepted[name] = _append(server_value, device_value)
                outcome = "appended"
            else:
                _review(
                    device,
                    officer,
                    table_name,
                    record_id,
                    name,
                    column.policy,
                    server_value,
                    device_value,
                    base,
                    field_seq,
                )
                outcome = "server_value_kept_device_value_in_review"
            result.conflicts.append(ConflictOutcome(table_name, record_id, name, column.policy, outcome))
        if not accepted:
            if any(values[n] != server.get(n) for n in changed_names) or values != raw_subset(raw, values):
                _resend(writer, row, server, actor)  # the device now believes its values are synced
            return None
        return _PendingApply(table, record_id, raw, values, accepted, is_new=False, changed=sorted(accepted))


def _finish_entry(
    *,
    writer: SyncWriter,
    result: PushResult,
    actor: WriteActor,
    pending: _PendingApply,
    applied: registry.AppliedRecord,
) -> None:
    """After the domain's apply: the scope check, and the SyncRow staged (an echo or not)."""
    raw, values, record_id = pending.raw, pending.values, pending.record_id
    if applied.scope_key not in actor.scope_keys:
        raise _Reject(ErrorCode.SYNC_RECORD_OUT_OF_SCOPE, "the record would fall outside this device's scope")
    # Echo only when the stored row is what the device holds (raw, before normalisation): otherwise
    # the device must receive the server's version on its next pull.
    is_echo = all(_same_wire_value(pending.table, k, applied.payload.get(k), raw.get(k)) for k in values)
    writer.stage(
        table=pending.table.name,
        record_id=record_id,
        payload=applied.payload,
        scope_key=applied.scope_key,
        changed_fields=pending.changed,
        writer=actor.writer,
        echo_device_id=actor.device_id if is_echo else None,
    )
    result.applied_count += 1


def _same_wire_value(table: SyncedTable, name: str, stored: Any, sent: Any) -> bool:
    """Equal on the wire. For text, null and "" are the same: a WatermelonDB app leaves the text
    columns it does not fill at null, and the server stores "" for no text."""
    if stored == sent:
        return True
    return table.column_by_name[name].type is ColumnType.STRING and stored in (None, "") and sent in (None, "")


def _resend(writer: SyncWriter, row: SyncRow, server: dict[str, Any], actor: WriteActor) -> None:
    """Bump the row unchanged (no field versions move) so the device pulls the server's values."""
    writer.stage(
        table=row.table,
        record_id=row.record_id,
        payload=server,
        scope_key=row.scope_key,
        changed_fields=[],
        writer=actor.writer,
    )


def conflict_base(checkpoint: SyncCheckpoint, row: SyncRow | None) -> int:
    """The seq the device's copy of `row` reflected when its local edits were made.

    WatermelonDB pulls, keeps local values of locally changed columns, then pushes with the new
    cursor. So for a record that this very pull updated, the device's edits predate the update:
    the base is where the pull started. Otherwise (record untouched by that pull, or first
    delivered by it) the base is the cursor itself. After an unknown cursor, nothing is known: 0.
    """
    if checkpoint.is_replacement_due:
        return 0
    if row is None:
        return checkpoint.seq
    delivered_as_update = (
        checkpoint.since_seq < row.seq <= checkpoint.seq
        and row.created_seq <= checkpoint.since_seq
        and checkpoint.since_seq >= checkpoint.initial_through_seq
    )
    return checkpoint.since_seq if delivered_as_update else checkpoint.seq


def raw_subset(raw: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: raw.get(k) for k in values}


def _changed_columns(raw: Mapping[str, Any], values: Mapping[str, Any], operation: str) -> list[str]:
    """The columns the device changed: `_changed` for updates; every sent column otherwise."""
    changed_raw = raw.get("_changed")
    if operation == "updated" and isinstance(changed_raw, str) and changed_raw:
        names = [n.strip() for n in changed_raw.split(",")]
        return [n for n in names if n in values]
    return list(values)


def _append(server_value: Any, device_value: Any) -> Any:
    if not isinstance(server_value, str) or not server_value:
        return device_value
    if not isinstance(device_value, str) or not device_value or device_value in server_value:
        return server_value
    if server_value in device_value:
        return device_value
    return f"{server_value}\n{device_value}"


def _review(
    device: Device,
    officer: Officer,
    table_name: str,
    record_id: str,
    name: str,
    policy: FieldPolicy,
    server_value: Any,
    device_value: Any,
    base: int,
    server_seq: int,
) -> None:
    ReviewItem.objects.create(
        created_at=timezone.now(),
        device=device,
        officer=officer,
        table=table_name,
        record_id=record_id,
        field=name,
        policy=str(policy),
        server_value=server_value,
        proposed_value=device_value,
        base_seq=base,
        server_seq=server_seq,
    )


def _apply_delete(
    *, writer: SyncWriter, table: SyncedTable, record_id: str, row: SyncRow | None, actor: WriteActor
) -> None:
    if row is None or row.is_deleted or row.scope_key == registry.ARCHIVED_SCOPE_KEY:
        return  # deleting a missing (or already closed) record is a no-op (WatermelonDB Backend.md, push rule 4)
    if row.scope_key not in actor.scope_keys:
        raise _Reject(ErrorCode.SYNC_RECORD_OUT_OF_SCOPE, "the record is outside this device's scope")
    if table.archive is None:
        raise _Reject(ErrorCode.SYNC_RECORD_READ_ONLY, f"{table.name} records cannot be deleted from a device")
    archived = table.archive(record_id=record_id, actor=actor)
    writer.stage(
        table=table.name,
        record_id=record_id,
        payload=None if archived is None else archived.payload,
        scope_key=row.scope_key if archived is None else archived.scope_key,
        writer=actor.writer,
        echo_device_id=actor.device_id,  # the device already dropped it: never send it back
    )
