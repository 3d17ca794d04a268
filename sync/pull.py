"""Pull: every change visible to the device's scope since its checkpoint, as one snapshot.

The response is built from pre-serialised payloads by splicing bytes, so an initial sync costs
little more than reading the rows.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import BinaryField, F, Func, QuerySet
from django.utils import timezone

from backend.accounts.models import Device
from sync import registry
from sync.errors import AppVersionUnsupported, MigrationInvalid
from sync.models import DevicePushLog, SyncCheckpoint, SyncHead, SyncRow, SyncScopeExit

ROW_FIELDS = (
    "table",
    "record_id",
    "seq",
    "created_seq",
    "is_deleted",
    "payload_json",
    "last_writer_device_id",
)

# (table, record_id, seq, created_seq, is_deleted, payload_json, last_writer_device_id)
_Row = tuple[str, str, int, int, bool, str, uuid.UUID | None]


def _fetch_rows(queryset: QuerySet[SyncRow, Any]) -> list[_Row]:
    """The rows of a `values_list(*ROW_FIELDS)` queryset, read with a plain cursor.

    A page holds thousands of rows and an initial sync reads every row of the scope: Django's
    per-value converters (booleans and UUIDs on SQLite) cost more than the SQL (measured: a third
    of an initial sync). Only the rare non-null writer id needs converting; `is_deleted` is used
    for its truth value (0/1 on SQLite).
    """
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    return [
        row if row[6] is None or isinstance(row[6], uuid.UUID) else (*row[:6], uuid.UUID(str(row[6])))
        for row in fetched
    ]


@dataclass(frozen=True)
class Migration:
    from_version: int
    tables: tuple[str, ...]
    columns: dict[str, tuple[str, ...]]


def migration_parse(raw: Any) -> Migration | None:
    """Validate WatermelonDB's `migration` object against the registered tables and columns."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise MigrationInvalid()
    tables_known = registry.registered_tables()
    try:
        from_version = int(raw["from"])
        tables = tuple(str(t) for t in raw.get("tables") or [])
        columns: dict[str, tuple[str, ...]] = {}
        for entry in raw.get("columns") or []:
            columns[str(entry["table"])] = tuple(str(c) for c in entry["columns"])
    except (TypeError, ValueError, KeyError) as exc:
        raise MigrationInvalid(details={"reason": str(exc)}) from exc
    for name in tables:
        if name not in tables_known:
            raise MigrationInvalid(details={"table": name})
    for name, cols in columns.items():
        table = tables_known.get(name)
        if table is None or any(c not in table.column_by_name for c in cols):
            raise MigrationInvalid(details={"table": name})
    return Migration(from_version=from_version, tables=tables, columns=columns)


@dataclass
class _Changes:
    # (table, id) -> ("created"|"updated", payload_json) or ("deleted", None); last decision wins
    decisions: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)
    # The initial snapshot's rows (table -> stored payloads as UTF-8 bytes), all `created`. They need
    # no decision: each record has one SyncRow, and nothing else a pull adds (changes, exits,
    # tombstones, scope or migration rows) can name a record whose row lies in the snapshot range.
    snapshot: dict[str, list[bytes]] = field(default_factory=dict)
    snapshot_count: int = 0

    def put(self, table: str, record_id: str, kind: str, payload_json: str | None) -> None:
        self.decisions[(table, record_id)] = (kind, payload_json)

    def put_snapshot(self, rows: list[tuple[str, bytes]]) -> None:
        for table, payload in rows:
            lists = self.snapshot.get(table)
            if lists is None:
                lists = self.snapshot[table] = []
            lists.append(payload)
        self.snapshot_count += len(rows)

    def delete(self, table: str, record_id: str) -> None:
        current = self.decisions.get((table, record_id))
        if current is None or current[0] == "deleted":
            self.decisions[(table, record_id)] = ("deleted", None)

    def count(self) -> int:
        return len(self.decisions) + self.snapshot_count

    def render(self, tables: Iterable[str]) -> bytes:
        # Stored payloads are JSON text: spliced as bytes, never parsed or re-serialised.
        grouped: dict[str, dict[str, list[bytes]]] = {
            t: {"created": list(self.snapshot.get(t, ())), "updated": [], "deleted": []} for t in tables
        }
        for table, payloads in self.snapshot.items():
            if table not in grouped:
                grouped[table] = {"created": list(payloads), "updated": [], "deleted": []}
        for (table, record_id), (kind, payload_json) in self.decisions.items():
            lists = grouped.setdefault(table, {"created": [], "updated": [], "deleted": []})
            if kind == "deleted":
                lists["deleted"].append(orjson.dumps(record_id))
            else:
                lists[kind].append((payload_json or "{}").encode())
        parts = []
        for table, lists in grouped.items():
            parts.append(
                b"".join(
                    (
                        orjson.dumps(table),
                        b':{"created":[',
                        b",".join(lists["created"]),
                        b'],"updated":[',
                        b",".join(lists["updated"]),
                        b'],"deleted":[',
                        b",".join(lists["deleted"]),
                        b"]}",
                    )
                )
            )
        return b"{" + b",".join(parts) + b"}"


@dataclass(frozen=True)
class PullResult:
    body: bytes
    timestamp: int
    has_more: bool
    is_replacement: bool
    change_count: int


def _begin_snapshot() -> None:
    """On PostgreSQL make this transaction one snapshot (REPEATABLE READ).

    Only possible as the transaction's first statement; inside an outer atomic block (tests) the
    caller's isolation stands.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def sync_pull(
    *,
    device: Device,
    scope_keys: frozenset[str],
    last_pulled_at: int | None,
    schema_version: int,
    migration: Migration | None = None,
    page_rows: int | None = None,
) -> PullResult:
    """Build one pull response for `device`.

    Side effects: records a SyncCheckpoint (the returned `timestamp`) and the device's last pull time.
    Raises AppVersionUnsupported. Safe to retry: the same cursor gives the same or a newer answer.
    """
    if schema_version < settings.FIELDSYNC_MIN_SCHEMA_VERSION:
        raise AppVersionUnsupported(
            details={"schema_version": schema_version, "min_schema_version": settings.FIELDSYNC_MIN_SCHEMA_VERSION}
        )
    limit = page_rows or settings.FIELDSYNC_PULL_PAGE_ROWS
    outer = connection.in_atomic_block
    with transaction.atomic():
        if not outer:
            _begin_snapshot()
        head, purged_through = SyncHead.objects.filter(pk=1).values_list("seq", "purged_through_seq").first() or (0, 0)
        checkpoint = _checkpoint_for(
            device=device, last_pulled_at=last_pulled_at, head=int(head), purged_through=int(purged_through)
        )
        changes = _Changes()
        is_replacement = False
        replacement_due = False
        exit_keys: frozenset[str] = frozenset()
        if last_pulled_at and checkpoint is None:
            # Unknown, foreign, stale or future cursor. Replacing now would destroy the device's
            # pending edits (WatermelonDB keeps only never-pushed records), so first an empty page
            # with has_more: the app pushes, then pulls the replacement.
            replacement_due = True
            since, initial_through, cut, has_more = 0, 0, 0, True
        else:
            if checkpoint is None or checkpoint.is_replacement_due:
                is_replacement = checkpoint is not None
                since, initial_through, old_keys = 0, head, scope_keys
            else:
                since, initial_through = checkpoint.seq, checkpoint.initial_through_seq
                old_keys = frozenset(checkpoint.scope_keys)
            cut, has_more = _page(
                changes,
                device_id=device.id,
                keys=scope_keys & old_keys,
                since=since,
                head=head,
                initial_through=initial_through,
                limit=limit,
            )
            if checkpoint is not None and not is_replacement:
                # Deletes the previous page held back (records the device held, which may carry
                # pending edits it has pushed since) are sent now.
                previous_from = max(checkpoint.since_seq, checkpoint.initial_through_seq)
                _exits(
                    changes,
                    device_id=device.id,
                    keys=scope_keys & old_keys,
                    after=previous_from,
                    through=since,
                    since=checkpoint.since_seq,
                    is_second_phase=True,
                )
                _tombstones_second_phase(
                    changes,
                    device_id=device.id,
                    keys=scope_keys & old_keys,
                    after=previous_from,
                    through=since,
                    since=checkpoint.since_seq,
                )
                exit_keys = _scope_diff(
                    changes,
                    keys=scope_keys,
                    old_keys=old_keys,
                    head=head,
                    announced=frozenset(checkpoint.announced_exit_keys or []),
                )
                has_more = has_more or bool(exit_keys)
                if migration is not None:
                    _migration_rows(changes, keys=scope_keys, migration=migration, through=since)
        new_checkpoint = SyncCheckpoint.objects.create(
            device=device,
            seq=cut,
            since_seq=since,
            is_replacement_due=replacement_due,
            initial_through_seq=initial_through,
            # Scope keys whose deletes were held back stay in the checkpoint until they are sent.
            scope_keys=sorted(scope_keys | exit_keys),
            announced_exit_keys=sorted(exit_keys),
            schema_version=schema_version,
            created_at=timezone.now(),
        )
        Device.objects.filter(pk=device.pk).update(
            last_pull_at=timezone.now(), last_seen_at=timezone.now(), schema_version=schema_version
        )
    body = (
        b'{"changes":'
        + changes.render(sorted(registry.registered_tables()))
        + b',"timestamp":'
        + str(new_checkpoint.id).encode()
        + b',"has_more":'
        + (b"true" if has_more else b"false")
        + (b',"experimentalStrategy":"replacement"' if is_replacement else b"")
        + b"}"
    )
    return PullResult(
        body=body,
        timestamp=new_checkpoint.id,
        has_more=has_more,
        is_replacement=is_replacement,
        change_count=changes.count(),
    )


def _checkpoint_for(
    *, device: Device, last_pulled_at: int | None, head: int, purged_through: int = 0
) -> SyncCheckpoint | None:
    """The device's own checkpoint, or None when the device must (re)start from nothing.

    None for: first sync; a cursor this server never issued to this device (restored backup, other
    device); a cursor ahead of the head; a cursor older than the tombstone window, or below the purge
    watermark (tombstones it would need are gone).
    """
    if not last_pulled_at:
        return None
    checkpoint = SyncCheckpoint.objects.filter(pk=last_pulled_at, device=device).first()
    if checkpoint is None or checkpoint.seq > head:
        return None
    if checkpoint.seq < purged_through and not checkpoint.is_replacement_due:
        return None
    window = timedelta(days=settings.FIELDSYNC_MAX_OFFLINE_DAYS)
    if checkpoint.created_at < timezone.now() - window:
        return None
    return checkpoint


def _page(
    changes: _Changes,
    *,
    device_id: uuid.UUID,
    keys: frozenset[str],
    since: int,
    head: int,
    initial_through: int,
    limit: int,
) -> tuple[int, bool]:
    """Add rows with since < seq <= cut; cut ends on a transaction boundary. Returns (cut, has_more)."""
    if not keys or since >= head:
        return head, False
    # The seqs alone first (narrow), to find where the page ends on a transaction boundary; then
    # the rows of whole transactions only. (Fetching limit + 1 full rows and dropping a partial
    # transaction read up to a page of payloads for nothing: measured 1.5x the rows of a 35,000-
    # person initial sync, whose transactions are ~3,600 rows.) Ordered by seq alone: the probe
    # needs the seqs of the first limit + 1 rows, not which rows they are, and PostgreSQL then walks
    # the seq index without sorting each transaction by id.
    probe, params = (
        SyncRow.objects.filter(scope_key__in=keys, seq__gt=since, seq__lte=head)
        .order_by("seq")
        .values_list("seq")[: limit + 1]
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(probe, params)
        seqs = [seq for (seq,) in cursor.fetchall()]
    has_more = len(seqs) > limit
    cut = head
    if has_more:
        last_seq = seqs[limit - 1]
        if seqs[limit] == last_seq:
            # The page would split one transaction: stop before it, or take it whole if it is alone.
            earlier = [s for s in seqs[:limit] if s != last_seq]
            cut = earlier[-1] if earlier else last_seq
        else:
            cut = last_seq
        has_more = cut < head
    # Rows up to `initial_through` are the snapshot of an initial (or replacement) sync: every live
    # one is sent as `created`, no tombstone, no lookup (the device held none of them).
    snapshot_through = min(cut, initial_through)
    if seqs and since < snapshot_through:
        changes.put_snapshot(_snapshot_payloads(keys=keys, after=since, through=snapshot_through))
    # Later rows are changes, also while the initial pages are still being fetched (WatermelonDB
    # pushes after every page), so echo suppression applies to them row by row.
    after = max(since, initial_through)
    rows = (
        _fetch_rows(
            SyncRow.objects.filter(scope_key__in=keys, seq__gt=after, seq__lte=cut)
            .order_by("seq", "id")
            .values_list(*ROW_FIELDS)
        )
        if seqs and after < cut
        else []
    )
    pushed = _pushed_by(
        device_id=device_id,
        pairs=[(r[0], r[1]) for r in rows if r[4] and r[3] > since and _is_writable(r[0])],
    )
    held = _records_the_device_pushed(
        device_id=device_id,
        since=since,
        candidates=[(r[0], r[1], r[3]) for r in rows if r[3] > since and not r[4] and r[6] != device_id],
    )
    deferred_delete = False
    for table, record_id, _seq, created_seq, is_deleted, payload_json, writer_id in rows:
        if writer_id is not None and writer_id == device_id:
            continue  # echo suppression: the device sent exactly this (or deleted it itself)
        if is_deleted:
            if _may_hold_edits(table, record_id, created_seq=created_seq, since=since, pushed=pushed):
                deferred_delete = True  # sent by the next pull, after the app pushed its edits
            else:
                changes.delete(table, record_id)
            continue
        # `updated` when the device had the record at its cursor, or created it itself and the server
        # changed what it sent (normalised text, another writer): WatermelonDB logs an error for a
        # `created` of a record it already holds.
        is_new_to_device = created_seq > since and (table, record_id) not in held
        changes.put(table, record_id, "created" if is_new_to_device else "updated", payload_json)
    deferred = _exits(
        changes,
        device_id=device_id,
        keys=keys,
        after=after,
        through=cut,
        since=since,
        is_second_phase=False,
    )
    return cut, has_more or deferred or deferred_delete


def _snapshot_payloads(*, keys: frozenset[str], after: int, through: int) -> list[tuple[str, bytes]]:
    """(table, payload as UTF-8 bytes) of the live rows with after < seq <= through, in seq order.

    The stored payloads go into the response as they are: read as bytes, they are never decoded to
    str and encoded again (measured: half the time of an initial sync, the payloads being mostly
    Vietnamese text).
    """
    payload: Any = F("payload_json")
    if connection.vendor == "sqlite":  # TEXT is stored as UTF-8: CAST AS BLOB gives the bytes as stored
        payload = Func(payload, template="CAST(%(expressions)s AS BLOB)", output_field=BinaryField())
    sql, params = (
        SyncRow.objects.filter(scope_key__in=keys, seq__gt=after, seq__lte=through, is_deleted=False)
        .order_by("seq")
        .annotate(payload_bytes=payload)
        .values_list("table", "payload_bytes")
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # This cursor only: `text` columns as the bytes the server sent (the client encoding
            # Django sets is UTF-8). `table` is varchar, still str.
            cursor.cursor.adapters.register_loader("text", _text_as_bytes_loader())
        cursor.execute(sql, params)
        fetched: list[tuple[str, Any]] = cursor.fetchall()
    if connection.vendor in ("sqlite", "postgresql"):
        return fetched
    return [(t, p.encode() if isinstance(p, str) else bytes(p)) for t, p in fetched]


@functools.cache
def _text_as_bytes_loader() -> type:
    from psycopg.adapt import Loader

    class TextAsBytes(Loader):
        def load(self, data: Any) -> bytes:
            return bytes(data)

    return TextAsBytes


def _is_writable(table: str) -> bool:
    synced = registry.table_get(table)
    return synced is not None and synced.is_device_writable


def _may_hold_edits(table: str, record_id: str, *, created_seq: int, since: int, pushed: set[tuple[str, str]]) -> bool:
    """Whether the device holds this record (delivered before `since`, or pushed by it) and could
    have edited it: such a record's delete is held back one page, so WatermelonDB (which applies a
    remote delete even over local edits) pushes the edits first and the server quarantines them."""
    return _is_writable(table) and (created_seq <= since or (table, record_id) in pushed)


def _tombstones_second_phase(
    changes: _Changes, *, device_id: uuid.UUID, keys: frozenset[str], after: int, through: int, since: int
) -> None:
    """Send the deletes of held records that the previous page (after < seq <= through) held back."""
    if not keys or after >= through:
        return
    rows = list(
        SyncRow.objects.filter(scope_key__in=keys, is_deleted=True, seq__gt=after, seq__lte=through).values_list(
            "table", "record_id", "created_seq", "last_writer_device_id"
        )
    )
    pushed = _pushed_by(
        device_id=device_id, pairs=[(t, r) for t, r, created_seq, _ in rows if created_seq > since and _is_writable(t)]
    )
    for table, record_id, created_seq, writer_id in rows:
        if writer_id is not None and writer_id == device_id:
            continue
        if _may_hold_edits(table, record_id, created_seq=created_seq, since=since, pushed=pushed):
            changes.delete(table, record_id)


def _records_the_device_pushed(
    *, device_id: uuid.UUID, since: int, candidates: list[tuple[str, str, int]]
) -> set[tuple[str, str]]:
    """Of (table, record_id, created_seq), those this device pushed since the record (last) came to be.

    Only pushes after `since` can count (every candidate was created after `since`). Looked up by id
    through the (device, table, record_id) index, so the cost follows the page, not the device's
    history (bench/sync_own_push_lookup.py prints it against the whole pull).
    """
    created: dict[str, dict[str, int]] = {}
    for table, record_id, created_seq in candidates:
        created.setdefault(table, {})[record_id] = created_seq
    held: set[tuple[str, str]] = set()
    for table, by_id in created.items():
        ids = sorted(by_id)
        for start in range(0, len(ids), 500):
            logs = DevicePushLog.objects.filter(
                device_id=device_id, table=table, record_id__in=ids[start : start + 500], seq__gt=since
            ).values_list("record_id", "seq")
            held.update((table, record_id) for record_id, seq in logs if seq >= by_id[record_id])
    return held


def _exits(
    changes: _Changes,
    *,
    device_id: uuid.UUID,
    keys: frozenset[str],
    after: int,
    through: int,
    since: int,
    is_second_phase: bool,
) -> bool:
    """Turn the scope exits with after < seq <= through into changes. Returns True if any was deferred.

    A hard-deleted record is a delete at once. A record that was *archived* (ARCHIVED_SCOPE_KEY) or
    moved to a scope the device lacks while the device held it (created at or before `since`) is
    delivered first as `updated` — the closed state of an archived record, the bare id of a moved
    one — and the page says `has_more`: WatermelonDB applies it (keeping the officer's local
    values), pushes its pending edits (the server quarantines them with sync_record_deleted or
    sync_record_out_of_scope) and pulls again; that next pull — the second phase, over the previous
    pull's range — sends the delete. A remote delete would otherwise destroy the pending edits on
    the device unseen. The device's own archive is not echoed at all.
    """
    if not keys or after >= through:
        return False
    pairs = set(
        SyncScopeExit.objects.filter(scope_key__in=keys, seq__gt=after, seq__lte=through).values_list(
            "table", "record_id"
        )
    )
    pending = [p for p in pairs if p not in changes.decisions]
    if not pending:
        return False
    by_table: dict[str, list[str]] = {}
    for table, record_id in pending:
        by_table.setdefault(table, []).append(record_id)
    current: dict[tuple[str, str], tuple[str, bool, int, str, uuid.UUID | None]] = {}
    for table, ids in by_table.items():
        for start in range(0, len(ids), 500):
            rows = SyncRow.objects.filter(table=table, record_id__in=ids[start : start + 500]).values_list(
                "table", "record_id", "scope_key", "is_deleted", "created_seq", "payload_json", "last_writer_device_id"
            )
            for row_table, record_id, scope_key, is_deleted, created_seq, payload_json, writer_id in rows:
                current[(row_table, record_id)] = (scope_key, is_deleted, created_seq, payload_json, writer_id)
    # A record the device pushed itself is held even if it was created after the cursor (its own
    # create is never echoed back), so it may carry pending edits too.
    pushed_by_device = _pushed_by(
        device_id=device_id,
        pairs=[p for p, (_, _, created_seq, _, _) in current.items() if created_seq > since and _is_writable(p[0])],
    )
    deferred = False
    for pair in sorted(pending):
        row = current.get(pair)
        if row is None:
            if not is_second_phase:
                changes.delete(*pair)
            continue
        scope_key, is_deleted, created_seq, payload_json, writer_id = row
        if not is_deleted and scope_key in keys:
            continue  # still visible through another of the device's keys
        is_archive = not is_deleted and scope_key == registry.ARCHIVED_SCOPE_KEY
        if is_archive and writer_id is not None and writer_id == device_id:
            continue  # the device archived it itself: echo suppression
        held_with_possible_edits = _may_hold_edits(
            pair[0], pair[1], created_seq=created_seq, since=since, pushed=pushed_by_device
        )
        if is_second_phase:
            if held_with_possible_edits:
                changes.delete(*pair)
        elif held_with_possible_edits:
            if is_archive:  # the closed state is still this scope's data; a moved record's new state is not
                changes.put(pair[0], pair[1], "updated", payload_json)
            deferred = True
        else:
            changes.delete(*pair)
    return deferred


def _pushed_by(*, device_id: uuid.UUID, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    by_table: dict[str, list[str]] = {}
    for table, record_id in pairs:
        by_table.setdefault(table, []).append(record_id)
    for table, ids in by_table.items():
        for start in range(0, len(ids), 500):
            logs = DevicePushLog.objects.filter(
                device_id=device_id, table=table, record_id__in=ids[start : start + 500]
            ).values_list("table", "record_id")
            found.update(logs)
    return found


def _scope_diff(
    changes: _Changes, *, keys: frozenset[str], old_keys: frozenset[str], head: int, announced: frozenset[str]
) -> frozenset[str]:
    """The device's own scope changed since its checkpoint: removed keys become deletes, added keys creates.

    A removed key holding device-writable records is first only announced (returned, kept in the
    new checkpoint, has_more): the app pushes its pending edits (quarantined as out of scope), and
    the next pull sends the deletes. Returns the keys announced now.
    """
    removed, added = old_keys - keys, keys - old_keys
    announce: set[str] = set()
    for key in sorted(removed - announced):
        writable = [name for name, table in registry.registered_tables().items() if table.is_device_writable]
        if SyncRow.objects.filter(scope_key=key, is_deleted=False, table__in=writable).exists():
            announce.add(key)
    gone_keys = removed - announce
    if gone_keys:
        gone = SyncRow.objects.filter(scope_key__in=gone_keys, is_deleted=False).values_list("table", "record_id")
        for table, record_id in gone:
            changes.delete(table, record_id)
    if added:
        rows = SyncRow.objects.filter(scope_key__in=added, is_deleted=False, seq__lte=head).values_list(
            "table", "record_id", "payload_json"
        )
        for table, record_id, payload_json in rows:
            changes.put(table, record_id, "created", payload_json)
    return frozenset(announce)


def _migration_rows(changes: _Changes, *, keys: frozenset[str], migration: Migration, through: int) -> None:
    """Rows a freshly migrated local database lacks: whole new tables, and rows with new columns set."""
    if migration.tables:
        new_rows = SyncRow.objects.filter(
            table__in=migration.tables, scope_key__in=keys, is_deleted=False, seq__lte=through
        ).values_list("table", "record_id", "payload_json")
        for table, record_id, payload_json in new_rows:
            if (table, record_id) not in changes.decisions:
                changes.put(table, record_id, "created", payload_json)
    for table, columns in migration.columns.items():
        if table in migration.tables:
            continue
        rows = SyncRow.objects.filter(table=table, scope_key__in=keys, is_deleted=False, seq__lte=through).values_list(
            "record_id", "payload_json"
        )
        for record_id, payload_json in rows:
            payload = orjson.loads(payload_json)
            if (
                any(payload.get(c) not in (None, "", 0, False) for c in columns)
                and (
                    table,
                    record_id,
                )
                not in changes.decisions
            ):
                changes.put(table, record_id, "updated", payload_json)
