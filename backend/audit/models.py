"""AuditEvent: each row carries the sha256 of the previous row, so any edit breaks the chain."""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField()
    action = models.CharField(max_length=64, db_index=True)
    actor_officer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_device_id = models.UUIDField(null=True, blank=True, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    purpose = models.CharField(max_length=64, blank=True)
    case_reference = models.CharField(max_length=128, blank=True)
    details = models.JSONField(default=dict)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
