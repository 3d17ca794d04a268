"""Bridge state, kept in the fieldsync database so that a batch's applied rows, its links and the
watermark commit in one transaction (resumable without loss or duplicates).

`sync.registry_bridge` is its own small Django app (label `registry_bridge`) so the sync engine's
models file stays untouched; it depends only on Django and the sync engine.
"""

from __future__ import annotations

from django.db import models


class BridgeCursor(models.Model):
    """Per registry (by name): how far the bridge has pulled and pushed."""

    registry_name = models.CharField(max_length=64, unique=True)
    # Legacy change counter: every registry change <= this has been applied (or quarantined).
    pulled_through = models.BigIntegerField(default=0)
    # fieldsync SyncRow seq: every fieldsync change <= this was considered for the write-back.
    pushed_through_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


class BridgeLink(models.Model):
    """One registry row ↔ one fieldsync record, with the values both sides agreed on last time.

    `base_values` (bridge field names) is the common ancestor for the three-way comparison: a
    field is changed on a side when that side's value differs from the base.
    """

    registry_name = models.CharField(max_length=64)
    legacy_table = models.CharField(max_length=40)
    legacy_id = models.BigIntegerField()
    record_table = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    base_values = models.JSONField(default=dict)
    legacy_change_seq = models.BigIntegerField(default=0)  # the registry counter of the row last seen
    written_back_seq = models.BigIntegerField(null=True, blank=True)  # counter our last write-back took
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["registry_name", "legacy_table", "legacy_id"], name="bridgelink_legacy_row"
            ),
        ]
        indexes = [models.Index(fields=["record_table", "record_id"], name="bridgelink_record")]


class BridgeRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (resumable)"


class BridgeRun(models.Model):
    """One bridge run and its summary (shown in the console)."""

    registry_name = models.CharField(max_length=64)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life (start, every committed batch, the write-back): a run killed outright (SIGKILL,
    # power cut) never records its end; the next run closes it as interrupted once this is stale.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=BridgeRunStatus.choices, default=BridgeRunStatus.RUNNING)
    trigger = models.CharField(max_length=32, default="command")  # command | task | console | test
    watermark_from = models.BigIntegerField(default=0)
    watermark_to = models.BigIntegerField(default=0)
    rows_read = models.IntegerField(default=0)
    records_created = models.IntegerField(default=0)
    records_updated = models.IntegerField(default=0)
    rows_unchanged = models.IntegerField(default=0)
    fields_written_back = models.IntegerField(default=0)
    conflicts_raised = models.IntegerField(default=0)
    rows_quarantined = models.IntegerField(default=0)
    communes_remapped = models.IntegerField(default=0)
    batches_committed = models.IntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["-started_at"], name="bridgerun_started")]

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
