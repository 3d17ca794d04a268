"""The bridge run: pull registry changes by watermark, write accepted field edits back.

Pull, one batch at a time (one fieldsync transaction per batch):
  read the next rows of the registry above the watermark (every row up to a batch boundary, so a
  batch never splits one change-counter value); translate each (TCVN3, ID numbers, dates, communes
  → quarantine); compare three ways, per field, with the values both sides agreed on last time
  (`BridgeLink.base_values`):
    registry changed, fieldsync not      → applied as an authoritative write (writer "registry")
    fieldsync changed, registry not      → left for the write-back
    both changed to the same value       → agreed
    both changed, differently            → ReviewItem(source="registry_bridge"); neither side moves
  then, in the same transaction, the links and the watermark. Killed mid-batch, the transaction
  rolls back and the next run redoes that batch: nothing lost, nothing twice.

Write-back: persons whose synced row changed since the last run (a field version written by
anyone but the bridge) are compared with the registry again; fields changed only in fieldsync are
UPDATEd in the registry (taking a change-counter value, `NGUOI_CAP_NHAT='FIELDSYNC'`) and become
the new base, so the next pull sees them as already agreed and does not import them again. The
registry commit comes first; if the process dies before the fieldsync side records it, the next
run writes the same values again (harmless) or finds them agreed.

A conflict an administrator resolved is honoured: when the registry still holds the value that was
proposed for review, fieldsync's (resolved) value wins and is written back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from sync.bulk import bulk_insert
from sync.faults import Fault, fault_point
from sync.models import QuarantinedRecord, QuarantineStatus, ReviewItem, ReviewStatus, SyncRow
from sync.registry_bridge.codes import SOURCE, BridgeProblem
from sync.registry_bridge.models import BridgeCursor, BridgeLink, BridgeRun, BridgeRunStatus
from sync.registry_bridge.port import (
    EntityMapping,
    LegacyRow,
    MappingRejected,
    RegistryMapping,
    RegistrySource,
    mapping_get,
)
from sync.registry_bridge.source import PRIMARY_KEYS, json_safe_row
from sync.registry_bridge.translate import (
    NOTICE_FIELDS,
    PERSON_FIELDS,
    PERSON_WRITE_BACK,
    Translated,
    translate_notice,
    translate_person,
    write_back_value,
)
from sync.writer import SyncWriter, head_seq, sync_transaction

logger = logging.getLogger(__name__)

DEFAULT_REGISTRY = "central"
BRIDGE_WRITER = "registry"
PERSONS_LEGACY, NOTICES_LEGACY = "DOI_TUONG", "QD_TRUY_NA"
LEGACY_TABLES = (PERSONS_LEGACY, NOTICES_LEGACY)  # persons first: notices refer to them


@dataclass(frozen=True)
class _Field:
    name: str
    registry: Any
    fieldsync: Any


Progress = Callable[[int, int], None]  # (rows done, rows known so far)
AfterRow = Callable[[int], None]  # called after each row is applied (tests simulate a crash here)


def _fields_of(entity: EntityMapping) -> tuple[str, ...]:
    return PERSON_FIELDS if entity.legacy_table == PERSONS_LEGACY else NOTICE_FIELDS


def _translate(entity: EntityMapping, row: LegacyRow, mapping: RegistryMapping) -> Translated:
    return translate_person(row, mapping) if entity.legacy_table == PERSONS_LEGACY else translate_notice(row)


def _entities(mapping: RegistryMapping) -> dict[str, EntityMapping]:
    return {PERSONS_LEGACY: mapping.persons, NOTICES_LEGACY: mapping.wanted_notices}


def _same(a: Any, b: Any) -> bool:
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)


class _Missing:
    pass


MISSING = _Missing()


def bridge_sync(
    *,
    source: RegistrySource,
    registry_name: str = DEFAULT_REGISTRY,
    batch_size: int = 500,
    trigger: str = "command",
    progress: Progress | None = None,
    after_row: AfterRow | None = None,
    push: bool = True,
    bulk_creates: bool = True,
) -> BridgeRun:
    """Run the bridge once against `source` (a RegistrySource). Returns the recorded BridgeRun.

    Side effects: registry-origin writes staged through sync_transaction (devices receive them),
    ReviewItems and QuarantinedRecords with source "registry_bridge", UPDATEs of the registry for
    fields changed in fieldsync, BridgeLink/BridgeCursor rows. Idempotent: a second run with no new
    changes on either side changes nothing. Resumable: every batch commits with its watermark.
    Re-raises whatever stops it after marking the run FAILED. `bulk_creates=False` creates new
    records one `apply` at a time instead of one `create_many` per batch (for benchmarks).
    """
    mapping = mapping_get()
    cursor, _ = BridgeCursor.objects.get_or_create(registry_name=registry_name)
    _runs_interrupted_close(registry_name=registry_name)
    started_at = timezone.now()
    run = BridgeRun.objects.create(
        registry_name=registry_name,
        started_at=started_at,
        heartbeat_at=started_at,
        trigger=trigger,
        watermark_from=cursor.pulled_through,
        watermark_to=cursor.pulled_through,
    )
    try:
        through = source.head()
        known = sum(
            source.count_changed(table=t, after_seq=cursor.pulled_through, through_seq=through) for t in LEGACY_TABLES
        )
        done = 0
        if progress:
            progress(0, known)
        while True:
            watermark = BridgeCursor.objects.get(pk=cursor.pk).pulled_through
            seqs = sorted(
                s
                for t in LEGACY_TABLES
                for s in source.next_seqs(table=t, after_seq=watermark, through_seq=through, limit=batch_size)
            )
            if not seqs:
                break
            boundary = seqs[min(batch_size, len(seqs)) - 1]
            rows = {
                t: source.changed_rows(table=t, after_seq=watermark, through_seq=boundary, limit=10 * batch_size + 1000)
                for t in LEGACY_TABLES
            }
            count = _pull_batch(
                run=run,
                cursor_pk=cursor.pk,
                expected_watermark=watermark,
                boundary=boundary,
                rows=rows,
                mapping=mapping,
                registry_name=registry_name,
                after_row=after_row,
                bulk_creates=bulk_creates,
            )
            done += count
            if progress:
                progress(done, max(known, done))
        if push:
            _push_phase(run=run, source=source, mapping=mapping, registry_name=registry_name, cursor_pk=cursor.pk)
        run.status = BridgeRunStatus.SUCCEEDED
    except BaseException as exc:
        run.status = BridgeRunStatus.FAILED
        run.error = f"{exc.__class__.__name__}: {exc}"[:2000]
        run.finished_at = timezone.now()
        run.save()
        raise
    run.finished_at = timezone.now()
    run.watermark_to = BridgeCursor.objects.get(pk=cursor.pk).pulled_through
    run.save()
    logger.info(
        "registry bridge run %s: %s rows read, %s created, %s updated, %s written back, %s conflicts, %s quarantined",
        run.pk,
        run.rows_read,
        run.records_created,
        run.records_updated,
        run.fields_written_back,
        run.conflicts_raised,
        run.rows_quarantined,
    )
    return run


def _runs_interrupted_close(*, registry_name: str) -> int:
    """Mark runs that died without recording their end (killed outright) as FAILED, interrupted.

    A run counts as dead when its last heartbeat is older than FIELDSYNC_REGISTRY_RUN_STALE_SECONDS
    (default 900; a live run beats at every committed batch). Nothing else changes: what such a run
    committed stays, and the watermark says where the next run resumes. Returns how many were closed.
    """
    stale_before = timezone.now() - timedelta(
        seconds=int(getattr(settings, "FIELDSYNC_REGISTRY_RUN_STALE_SECONDS", 900))
    )
    closed = 0
    for run in BridgeRun.objects.filter(
        registry_name=registry_name, status=BridgeRunStatus.RUNNING, heartbeat_at__lte=stale_before
    ):
        run.status = BridgeRunStatus.FAILED
        run.finished_at = run.heartbeat_at
        run.error = (
            f"interrupted: no progress since {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC (the process died); "
            "the next run resumed from the committed watermark"
        )
        run.save(update_fields=["status", "finished_at", "error"])
        closed += 1
    return closed


# --- pull ----------------------------------------------------------------------------------------


def _pull_batch(
    *,
    run: BridgeRun,
    cursor_pk: int,
    expected_watermark: int,
    boundary: int,
    rows: dict[str, list[LegacyRow]],
    mapping: RegistryMapping,
    registry_name: str,
    after_row: AfterRow | None,
    bulk_creates: bool = True,
) -> int:
    entities = _entities(mapping)
    counters = _Counters()
    with sync_transaction(drop_no_ops=True) as writer:
        cursor = BridgeCursor.objects.select_for_update().get(pk=cursor_pk)
        if cursor.pulled_through != expected_watermark:  # another bridge process took this batch
            return 0
        for table in LEGACY_TABLES:
            _pull_rows(
                writer=writer,
                entity=entities[table],
                rows=rows[table],
                mapping=mapping,
                registry_name=registry_name,
                counters=counters,
                after_row=after_row,
                rows_done_before=run.rows_read,
                bulk_creates=bulk_creates,
            )
        cursor.pulled_through = boundary
        cursor.save(update_fields=["pulled_through", "updated_at"])
        counters.add_to(run)
        run.batches_committed += 1
        run.watermark_to = boundary
        run.heartbeat_at = timezone.now()
        run.save()
    return sum(len(r) for r in rows.values())


@dataclass
class _Counters:
    rows_read: int = 0
    records_created: int = 0
    records_updated: int = 0
    rows_unchanged: int = 0
    conflicts_raised: int = 0
    rows_quarantined: int = 0
    communes_remapped: int = 0
    fields_written_back: int = 0

    def add_to(self, run: BridgeRun) -> None:
        for name in self.__dataclass_fields__:
            setattr(run, name, getattr(run, name) + getattr(self, name))


def _reviews_by_field(
    record_table: str, record_ids: Sequence[str]
) -> tuple[dict[tuple[str, str], ReviewItem], dict[tuple[str, str], ReviewItem]]:
    """(open, latest resolved) bridge review items per (record_id, field)."""
    open_items: dict[tuple[str, str], ReviewItem] = {}
    resolved: dict[tuple[str, str], ReviewItem] = {}
    items = ReviewItem.objects.filter(source=SOURCE, table=record_table, record_id__in=list(record_ids)).order_by(
        "created_at"
    )
    for item in items:
        key = (item.record_id, item.field)
        if item.status == ReviewStatus.OPEN:
            open_items[key] = item
        else:
            resolved[key] = item
    return open_items, resolved


def _pull_rows(
    *,
    writer: SyncWriter,
    entity: EntityMapping,
    rows: list[LegacyRow],
    mapping: RegistryMapping,
    registry_name: str,
    counters: _Counters,
    after_row: AfterRow | None,
    rows_done_before: int = 0,
    bulk_creates: bool = True,
) -> None:
    if not rows:
        return
    key_column = PRIMARY_KEYS[entity.legacy_table]
    ids = [int(r[key_column]) for r in rows]
    record_ids = {legacy_id: entity.record_id_for(legacy_id) for legacy_id in ids}
    links = {
        link.legacy_id: link
        for link in BridgeLink.objects.filter(
            registry_name=registry_name, legacy_table=entity.legacy_table, legacy_id__in=ids
        )
    }
    current = entity.current_values(list(record_ids.values()))
    open_reviews, resolved_reviews = _reviews_by_field(entity.record_table, list(record_ids.values()))
    # One query per batch instead of one UPDATE per row (~10% of an initial import).
    open_quarantined = set(
        QuarantinedRecord.objects.filter(
            source=SOURCE,
            table=entity.legacy_table,
            record_id__in=[str(legacy_id) for legacy_id in ids],
            status=QuarantineStatus.OPEN,
        ).values_list("record_id", flat=True)
    )
    fields = _fields_of(entity)
    new_links: dict[int, BridgeLink] = {}
    changed_links: dict[int, BridgeLink] = {}
    # New records are created together after the loop (one create_many per batch: bulk reads and
    # INSERTs instead of a handful of queries per row).
    deferred: list[_Deferred] = []
    defer_creates = bulk_creates and entity.create_many is not None
    for row in rows:
        counters.rows_read += 1
        legacy_id = int(row[key_column])
        record_id = record_ids[legacy_id]
        translated = _translate(entity, row, mapping)
        if translated.problem is not None:
            _quarantine(entity=entity, legacy_id=legacy_id, record_id=record_id, row=row, translated=translated)
            counters.rows_quarantined += 1
            continue
        link = new_links.get(legacy_id) or links.get(legacy_id)
        base = link.base_values if link is not None else None
        fieldsync = current.get(record_id)
        to_apply: list[str] = []
        new_base: dict[str, Any] = {}
        conflicts: list[_Field] = []
        for name in fields:
            registry_value = translated.values.get(name)
            if fieldsync is None:
                to_apply.append(name)
                new_base[name] = registry_value
                continue
            fieldsync_value = fieldsync.get(name)
            if base is None or name not in base:  # first contact: the registry is authoritative
                if not _same(registry_value, fieldsync_value):
                    to_apply.append(name)
                new_base[name] = registry_value
                continue
            base_value = base[name]
            registry_changed = not _same(registry_value, base_value)
            fieldsync_changed = not _same(fieldsync_value, base_value)
            if not registry_changed:
                new_base[name] = base_value  # a fieldsync-only change waits for the write-back
            elif not fieldsync_changed:
                to_apply.append(name)
                new_base[name] = registry_value
            elif _same(registry_value, fieldsync_value):
                new_base[name] = registry_value
            else:
                decided = resolved_reviews.get((record_id, name))
                if decided is not None and _same(decided.proposed_value, registry_value):
                    # An administrator already chose; fieldsync holds the choice. Pushable fields are
                    # written back (base unchanged until then); others keep the registry value as base.
                    new_base[name] = base_value if name in PERSON_WRITE_BACK else registry_value
                else:
                    conflicts.append(_Field(name, registry_value, fieldsync_value))
                    new_base[name] = base_value
        is_new = fieldsync is None
        if is_new and defer_creates:
            deferred.append(_Deferred(legacy_id, record_id, row, translated))
        elif to_apply:
            rejected = _apply_one(writer, entity, record_id, translated.values, to_apply, is_new=is_new)
            if rejected is not None:
                _quarantine_rejected(
                    entity, legacy_id, record_id, row, rejected.code, rejected.message, rejected.details
                )
                counters.rows_quarantined += 1
                continue
            if is_new:
                counters.records_created += 1
            else:
                counters.records_updated += 1
            if translated.commune_remapped and (is_new or "address" in to_apply):
                counters.communes_remapped += 1
        elif not conflicts:
            counters.rows_unchanged += 1
        for conflict in conflicts:
            if _review_raise(entity, record_id, conflict, open_reviews):
                counters.conflicts_raised += 1
        change_seq = int(row["SO_THAY_DOI"])
        if link is None:
            new_links[legacy_id] = BridgeLink(
                registry_name=registry_name,
                legacy_table=entity.legacy_table,
                legacy_id=legacy_id,
                record_table=entity.record_table,
                record_id=record_id,
                base_values=new_base,
                legacy_change_seq=change_seq,
            )
        else:
            link.base_values = new_base
            link.legacy_change_seq = change_seq
            if link.pk is not None:
                changed_links[legacy_id] = link
        if str(legacy_id) in open_quarantined and not (is_new and defer_creates):
            _resolve_quarantine_superseded(entity, legacy_id)
        if after_row is not None:
            after_row(legacy_id)
        fault_point(Fault.BRIDGE_MID_BATCH, at=rows_done_before + counters.rows_read)
    if deferred:
        refused = _create_deferred(writer, entity, deferred, fields)
        for item in deferred:
            rejected = refused.get(item.record_id)
            if rejected is not None:
                new_links.pop(item.legacy_id, None)
                _quarantine_rejected(
                    entity, item.legacy_id, item.record_id, item.row, rejected.code, rejected.message, rejected.details
                )
                counters.rows_quarantined += 1
                continue
            counters.records_created += 1
            if item.translated.commune_remapped:
                counters.communes_remapped += 1
            if str(item.legacy_id) in open_quarantined:
                _resolve_quarantine_superseded(entity, item.legacy_id)
    if new_links:
        bulk_insert(BridgeLink, list(new_links.values()))
    if changed_links:
        BridgeLink.objects.bulk_update(
            list(changed_links.values()), ["base_values", "legacy_change_seq", "updated_at"], batch_size=500
        )


@dataclass(frozen=True)
class _Deferred:
    legacy_id: int
    record_id: str
    row: LegacyRow
    translated: Translated


def _apply_one(
    writer: SyncWriter,
    entity: EntityMapping,
    record_id: str,
    values: dict[str, Any],
    changed: Sequence[str],
    *,
    is_new: bool,
) -> MappingRejected | None:
    """One `apply` in its own savepoint; a refused row leaves nothing behind (rows, staged changes)."""
    staged_before = dict(writer.staged)
    savepoint = transaction.savepoint()
    try:
        entity.apply(writer=writer, record_id=record_id, values=values, changed=changed, is_new=is_new)
    except MappingRejected as exc:
        rejected = exc
    except IntegrityError as exc:
        rejected = MappingRejected(BridgeProblem.ROW_INVALID, str(exc))
    else:
        transaction.savepoint_commit(savepoint)
        return None
    transaction.savepoint_rollback(savepoint)
    writer.staged.clear()
    writer.staged.update(staged_before)
    return rejected


def _create_deferred(
    writer: SyncWriter, entity: EntityMapping, deferred: Sequence[_Deferred], fields: Sequence[str]
) -> dict[str, MappingRejected]:
    """Create the batch's new records with one `create_many`; if the database refuses the bulk
    INSERT (a constraint the mapping did not foresee), create them one by one so that only the
    offending rows are refused."""
    assert entity.create_many is not None
    staged_before = dict(writer.staged)
    savepoint = transaction.savepoint()
    try:
        refused = entity.create_many(writer=writer, records=[(d.record_id, d.translated.values) for d in deferred])
    except IntegrityError:
        transaction.savepoint_rollback(savepoint)
        writer.staged.clear()
        writer.staged.update(staged_before)
    else:
        transaction.savepoint_commit(savepoint)
        return refused
    refused = {}
    for item in deferred:
        rejected = _apply_one(writer, entity, item.record_id, item.translated.values, list(fields), is_new=True)
        if rejected is not None:
            refused[item.record_id] = rejected
    return refused


def _review_raise(
    entity: EntityMapping, record_id: str, conflict: _Field, open_reviews: dict[tuple[str, str], ReviewItem]
) -> bool:
    """Create the review item, or refresh the open one. Returns whether a new item was raised."""
    existing = open_reviews.get((record_id, conflict.name))
    if existing is not None:
        if _same(existing.proposed_value, conflict.registry) and _same(existing.server_value, conflict.fieldsync):
            return False
        existing.proposed_value = conflict.registry
        existing.server_value = conflict.fieldsync
        existing.save(update_fields=["proposed_value", "server_value"])
        return False
    item = ReviewItem.objects.create(
        created_at=timezone.now(),
        source=SOURCE,
        table=entity.record_table,
        record_id=record_id,
        field=conflict.name,
        policy="authoritative",
        server_value=conflict.fieldsync,
        proposed_value=conflict.registry,
        server_seq=head_seq(),
    )
    open_reviews[(record_id, conflict.name)] = item
    return True


def _quarantine(
    *, entity: EntityMapping, legacy_id: int, record_id: str, row: LegacyRow, translated: Translated
) -> None:
    assert translated.problem is not None
    _quarantine_rejected(entity, legacy_id, record_id, row, translated.problem, translated.message, translated.details)


def _quarantine_rejected(
    entity: EntityMapping,
    legacy_id: int,
    record_id: str,
    row: LegacyRow,
    code: str,
    message: str,
    details: dict[str, Any],
) -> None:
    """One open quarantine item per registry row: a newer version of the row replaces the payload."""
    payload = {
        "legacy_table": entity.legacy_table,
        "legacy_id": legacy_id,
        "record_table": entity.record_table,
        "record_id": record_id,
        "row": json_safe_row(row),
        "details": details,
    }
    existing = QuarantinedRecord.objects.filter(
        source=SOURCE, table=entity.legacy_table, record_id=str(legacy_id), status=QuarantineStatus.OPEN
    ).first()
    if existing is not None:
        existing.code, existing.message, existing.payload = str(code), message, payload
        existing.save(update_fields=["code", "message", "payload"])
        return
    QuarantinedRecord.objects.create(
        created_at=timezone.now(),
        source=SOURCE,
        table=entity.legacy_table,
        record_id=str(legacy_id),
        operation="registry_row",
        code=str(code),
        message=message,
        payload=payload,
    )


def _resolve_quarantine_superseded(entity: EntityMapping, legacy_id: int) -> None:
    """A row that now maps cleanly closes its open quarantine item (fixed at the source)."""
    QuarantinedRecord.objects.filter(
        source=SOURCE, table=entity.legacy_table, record_id=str(legacy_id), status=QuarantineStatus.OPEN
    ).update(status=QuarantineStatus.REPLAYED, resolved_at=timezone.now(), resolution_note="fixed in the registry")


# --- write-back ----------------------------------------------------------------------------------


def _push_candidates(*, registry_name: str, since_seq: int, through_seq: int, since_time: Any) -> list[str]:
    person_rows = SyncRow.objects.filter(table="persons", seq__gt=since_seq, seq__lte=through_seq).values_list(
        "record_id", "field_versions"
    )
    candidates: set[str] = set()
    for record_id, versions in person_rows.iterator(chunk_size=5000):
        for name, version in (versions or {}).items():
            if name in PERSON_WRITE_BACK and int(version[0]) > since_seq and version[1] != BRIDGE_WRITER:
                candidates.add(record_id)
                break
    resolved = ReviewItem.objects.filter(source=SOURCE, table="persons").exclude(status=ReviewStatus.OPEN)
    if since_time is not None:
        resolved = resolved.filter(resolved_at__gte=since_time)
    candidates.update(resolved.values_list("record_id", flat=True))
    return sorted(candidates)


def _push_phase(
    *, run: BridgeRun, source: RegistrySource, mapping: RegistryMapping, registry_name: str, cursor_pk: int
) -> None:
    through = head_seq()
    cursor = BridgeCursor.objects.get(pk=cursor_pk)
    last = (
        BridgeRun.objects.filter(registry_name=registry_name, status=BridgeRunStatus.SUCCEEDED)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    candidates = _push_candidates(
        registry_name=registry_name, since_seq=cursor.pushed_through_seq, through_seq=through, since_time=last
    )
    entity = mapping.persons
    for start in range(0, len(candidates), 500):
        BridgeRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
        run.heartbeat_at = timezone.now()
        chunk = candidates[start : start + 500]
        links = {
            link.record_id: link
            for link in BridgeLink.objects.filter(
                registry_name=registry_name, legacy_table=PERSONS_LEGACY, record_id__in=chunk
            )
        }
        if not links:
            continue
        current = entity.current_values(list(links))
        legacy_rows = source.rows_by_id(table=PERSONS_LEGACY, ids=[link.legacy_id for link in links.values()])
        open_reviews, resolved_reviews = _reviews_by_field("persons", list(links))
        for record_id, link in links.items():
            fieldsync = current.get(record_id)
            row = legacy_rows.get(link.legacy_id)
            if fieldsync is None or row is None:
                continue
            translated = translate_person(row, mapping)
            if translated.problem is not None:
                continue  # the pull quarantined it; nothing to compare against
            base = dict(link.base_values)
            updates: dict[str, Any] = {}
            new_base = dict(base)
            conflicts: list[_Field] = []
            for name, column in PERSON_WRITE_BACK.items():
                if name not in base:
                    continue
                fieldsync_value, registry_value, base_value = (
                    fieldsync.get(name),
                    translated.values.get(name),
                    base[name],
                )
                if _same(fieldsync_value, base_value):
                    continue
                if _same(registry_value, fieldsync_value):
                    new_base[name] = fieldsync_value
                    continue
                decided = resolved_reviews.get((record_id, name))
                human_chose = decided is not None and _same(decided.proposed_value, registry_value)
                if _same(registry_value, base_value) or human_chose:
                    updates[column] = write_back_value(name, fieldsync_value)
                    new_base[name] = fieldsync_value
                elif (record_id, name) not in open_reviews:
                    conflicts.append(_Field(name, registry_value, fieldsync_value))
            written_seq: int | None = None
            if updates:
                written_seq = source.write_back(table=PERSONS_LEGACY, legacy_id=link.legacy_id, values=updates)
                fault_point(Fault.BRIDGE_AFTER_WRITE_BACK)
            with transaction.atomic():
                for conflict in conflicts:
                    if _review_raise(entity, record_id, conflict, open_reviews):
                        run.conflicts_raised += 1
                if new_base != base or written_seq is not None:
                    link.base_values = new_base
                    if written_seq is not None:
                        link.written_back_seq = written_seq
                    link.save(update_fields=["base_values", "written_back_seq", "updated_at"])
            run.fields_written_back += len(updates)
    BridgeCursor.objects.filter(pk=cursor_pk).update(pushed_through_seq=through, updated_at=timezone.now())
    run.save()
