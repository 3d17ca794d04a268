"""Photos (content-addressed by the sha256 of the original bytes) and resumable tus uploads.

Foreign keys to the device are declared by app label ("accounts.Device"): a model reference, not a
Python import, so media_store still imports nothing from backend.accounts.
"""

from __future__ import annotations

import uuid

from django.db import models

from media_store.imaging import ImageFormat


class Photo(models.Model):
    """One accepted original image. Identical bytes, from any device, are one Photo."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.PositiveBigIntegerField()
    format = models.CharField(max_length=8, choices=[(f.value, f.value) for f in ImageFormat])
    width = models.PositiveIntegerField()  # after EXIF orientation
    height = models.PositiveIntegerField()
    # Device clock reading as recorded in EXIF (ISO 8601, naive unless the phone recorded an offset).
    captured_at_recorded = models.CharField(max_length=40, blank=True)
    # The same instant as an aware datetime, only when the offset was recorded (never guessed).
    captured_at = models.DateTimeField(null=True, blank=True)
    gps_latitude = models.FloatField(null=True, blank=True)
    gps_longitude = models.FloatField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)
    # {"thumb": {"key", "sha256", "size_bytes", "width", "height"}, "display": {...}}
    derivatives = models.JSONField(default=dict)
    original_key = models.CharField(max_length=200)
    uploaded_by_device = models.ForeignKey(
        "accounts.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256


class UploadState(models.TextChoices):
    RECEIVING = "receiving", "Receiving bytes"
    COMPLETE = "complete", "Complete: a Photo was made"
    FAILED = "failed", "Failed: the bytes were refused"


class Upload(models.Model):
    """A tus upload. Its bytes live in MEDIA_ROOT/uploads/<id>.part until completion.

    `offset_hint_bytes` is only a hint for the admin console: the size of the .part file on disk is
    the offset (a server killed mid-write may have written more or fewer bytes than it recorded).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    device = models.ForeignKey("accounts.Device", on_delete=models.CASCADE, related_name="+")
    length_bytes = models.PositiveBigIntegerField()
    offset_hint_bytes = models.PositiveBigIntegerField(default=0)
    declared_sha256 = models.CharField(max_length=64)
    # Whitelisted tus metadata, decoded: filename, record_table, record_id (never used as a path or type).
    metadata = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=UploadState.choices, default=UploadState.RECEIVING)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    failure_details = models.JSONField(default=dict, blank=True)
    photo = models.ForeignKey(Photo, null=True, blank=True, on_delete=models.PROTECT, related_name="uploads")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["device", "state"], name="upload_device_state"),
            models.Index(fields=["state", "expires_at"], name="upload_state_expires"),
        ]

    def __str__(self) -> str:
        return f"upload {self.id} ({self.state})"


class PhotoBlobDeletion(models.Model):
    """Stored bytes of a deleted Photo, waiting to be deleted from media storage.

    Written in the transaction that deletes the Photo row; processed after it committed, one row
    at a time under its lock (`photo_blobs_delete_pending`). An upload that makes the same bytes a
    Photo again deletes this row in its completing transaction (cancelling the deletion), so the
    bytes are never deleted under a Photo that uses them. A crash between the row deletion and the
    storage deletion leaves this row: the next housekeeping run finishes the job.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    keys = models.JSONField(default=list)  # the original's key and every derivative's
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"pending deletion of {self.sha256}"
