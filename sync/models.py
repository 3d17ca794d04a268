"""Engine tables. `SyncRow` is the materialised, pre-serialised view of every syncable record."""

from __future__ import annotations

import uuid

from django.db import models


class SyncHead(models.Model):
    """Single row (pk=1): the last committed sequence number.

    Every writing transaction locks this row just before it commits (see sync.writer), so commits
    that touch synced data are serialised and their sequence order equals their visibility order.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    # Tombstones and scope exits with seq <= this were purged (sync.purge): a checkpoint below it may
    # have missed a delete, so it gets the replacement flow.
    purged_through_seq = models.BigIntegerField(default=0)


class SyncRow(models.Model):
    table = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    created_seq = models.BigIntegerField()
    changed_at = models.DateTimeField()
    scope_key = models.CharField(max_length=80)
    is_deleted = models.BooleanField(default=False)
    # The raw WatermelonDB record (no _status/_changed), serialised once with orjson.
    payload_json = models.TextField()
    # {column: [seq, writer]} where writer is a device uuid string or "server".
    field_versions = models.JSONField(default=dict)
    # Set only when the stored payload is exactly what this device sent: echo suppression.
    last_writer_device_id = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["table", "record_id"], name="syncrow_table_record")]
        indexes = [
            models.Index(fields=["scope_key", "seq"], name="syncrow_scope_seq"),
            models.Index(fields=["seq"], name="syncrow_seq"),
        ]


class SyncScopeExit(models.Model):
    """At `seq`, record (table, record_id) stopped being visible under `scope_key`."""

    seq = models.BigIntegerField()
    changed_at = models.DateTimeField()
    table = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    scope_key = models.CharField(max_length=80)

    class Meta:
        indexes = [models.Index(fields=["scope_key", "seq"], name="syncexit_scope_seq")]


class SyncCheckpoint(models.Model):
    """What a device's opaque `last_pulled_at` integer points to.

    seq: everything visible to `scope_keys` with seq <= this was delivered.
    since_seq / is_replacement_due: see the fields.
    initial_through_seq: while an initial (or replacement) sync is being paged, tombstones and exits
    at or below this seq are never sent (the device never had those records).
    """

    id = models.BigAutoField(primary_key=True)
    device = models.ForeignKey("accounts.Device", on_delete=models.CASCADE, related_name="sync_checkpoints")
    seq = models.BigIntegerField()
    initial_through_seq = models.BigIntegerField(default=0)
    # The seq the pull that issued this checkpoint started from. WatermelonDB pulls, keeps its local
    # values for locally changed columns, then pushes with the new cursor: so a push's conflict base
    # is where that pull started, not where it ended.
    since_seq = models.BigIntegerField(default=0)
    # Issued for an unknown/stale cursor: the device first pushes what it holds (base 0, every
    # disagreement goes through the field policies), then its next pull is a replacement sync.
    is_replacement_due = models.BooleanField(default=False)
    scope_keys = models.JSONField()
    # Keys the device lost whose records' deletes were held back one page (see sync.pull._scope_diff);
    # they are still in scope_keys, and the next pull sends the deletes.
    announced_exit_keys = models.JSONField(default=list)
    schema_version = models.IntegerField()
    created_at = models.DateTimeField()


class PushReceipt(models.Model):
    """The stored response of a push sent with an Idempotency-Key."""

    device = models.ForeignKey("accounts.Device", on_delete=models.CASCADE)
    idempotency_key = models.CharField(max_length=128)
    request_sha256 = models.CharField(max_length=64)
    response_json = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "idempotency_key"], name="pushreceipt_key")]


class QuarantineStatus(models.TextChoices):
    OPEN = "open", "Open"
    REPLAYED = "replayed", "Fixed and replayed"
    DISCARDED = "discarded", "Discarded"


class QuarantinedRecord(models.Model):
    """A pushed record (or field edit) the server would not apply, kept whole for an administrator."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField()
    device = models.ForeignKey("accounts.Device", null=True, on_delete=models.SET_NULL)
    officer = models.ForeignKey("accounts.Officer", null=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=32, default="push")  # push | registry_bridge
    table = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    operation = models.CharField(max_length=16)  # created | updated | deleted | field
    code = models.CharField(max_length=64)
    message = models.TextField()
    payload = models.JSONField()
    # Size of `payload` as JSON, for the per-device cap (sync.quarantine); 0 on rows from before it.
    payload_bytes = models.PositiveIntegerField(default=0)
    base_seq = models.BigIntegerField(null=True)
    status = models.CharField(max_length=16, choices=QuarantineStatus.choices, default=QuarantineStatus.OPEN)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        "accounts.Officer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    # What an administrator replayed (the fixed payload); `payload` stays what the device sent.
    replayed_payload = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]


class ReviewStatus(models.TextChoices):
    OPEN = "open", "Open"
    TOOK_SERVER = "took_server", "Kept the server value"
    TOOK_DEVICE = "took_device", "Applied the device value"
    EDITED = "edited", "Applied an edited value"


class ReviewItem(models.Model):
    """A same-field disagreement on a `review` (or authoritative) field: both values kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField()
    source = models.CharField(max_length=32, default="push")
    device = models.ForeignKey("accounts.Device", null=True, on_delete=models.SET_NULL)
    officer = models.ForeignKey("accounts.Officer", null=True, on_delete=models.SET_NULL)
    table = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    field = models.CharField(max_length=64)
    policy = models.CharField(max_length=16)
    server_value = models.JSONField(null=True)
    proposed_value = models.JSONField(null=True)
    base_seq = models.BigIntegerField(null=True)
    server_seq = models.BigIntegerField(null=True)
    status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        "accounts.Officer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_value = models.JSONField(null=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]


class DevicePushLog(models.Model):
    """The last content each device pushed for a record, to recognise a replay after a lost ack."""

    device = models.ForeignKey("accounts.Device", on_delete=models.CASCADE)
    table = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    content_sha256 = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    # The cursor (SyncCheckpoint id) that push was sent with: a request composed against an older
    # cursor that arrives later (delayed in the network) is superseded and changes nothing.
    checkpoint_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "table", "record_id"], name="devicepushlog_record"),
        ]
