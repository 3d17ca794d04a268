"""Units with effective-dated jurisdictions, officers with roles, enrolled devices and their tokens."""

from __future__ import annotations

import uuid
from datetime import date

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class UnitKind(models.TextChoices):
    PROVINCIAL_HQ = "provincial_hq", "Provincial headquarters"
    BORDER_CHECKPOINT = "border_checkpoint", "Border checkpoint post"
    COMMUNE_POST = "commune_post", "Commune police post"


class Unit(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=UnitKind.choices)
    is_province_wide = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name

    def commune_codes_on(self, day: date) -> frozenset[str]:
        """The 5-digit commune codes this unit covers on `day` (effective-dated)."""
        rows = self.jurisdictions.filter(valid_from__lte=day).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=day))
        return frozenset(rows.values_list("commune_code", flat=True))


class Jurisdiction(models.Model):
    """One commune in a unit's area for [valid_from, valid_to)."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="jurisdictions")
    commune_code = models.CharField(max_length=5)
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["unit", "commune_code", "valid_from"], name="jurisdiction_unique_start"),
        ]
        indexes = [models.Index(fields=["commune_code"])]


class Role(models.TextChoices):
    PATROL_OFFICER = "patrol_officer", "Patrol officer"
    COMMUNITY_OFFICER = "community_officer", "Community police officer"
    SYNC_ADMIN = "sync_admin", "Central sync administrator"
    AUDITOR = "auditor", "Auditor (read-only)"


class Officer(AbstractUser):
    """A police officer. Field roles log in on enrolled devices; admins use the console."""

    role = models.CharField(max_length=32, choices=Role.choices, default=Role.PATROL_OFFICER)
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="officers")
    display_name = models.CharField(max_length=200, blank=True)
    badge_number = models.CharField(max_length=32, blank=True)

    @property
    def is_field_officer(self) -> bool:
        return self.role in {Role.PATROL_OFFICER, Role.COMMUNITY_OFFICER}


class DeviceStatus(models.TextChoices):
    PENDING = "pending", "Enrollment code issued"
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"
    WIPED = "wiped", "Revoked and wipe acknowledged"


class Device(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=200, blank=True)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="devices")
    status = models.CharField(max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.PENDING)
    credential_hash = models.CharField(max_length=128, blank=True)
    enrolled_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=300, blank=True)
    wipe_acknowledged_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_push_at = models.DateTimeField(null=True, blank=True)
    app_version = models.CharField(max_length=64, blank=True)
    schema_version = models.IntegerField(null=True, blank=True)
    current_officer = models.ForeignKey(
        Officer, null=True, blank=True, on_delete=models.SET_NULL, related_name="current_devices"
    )

    def __str__(self) -> str:
        return f"{self.label or self.id}"

    @property
    def is_active(self) -> bool:
        return self.status == DeviceStatus.ACTIVE


class EnrollmentCode(models.Model):
    """A one-time code an administrator hands to a device; only its hash is stored."""

    code_hash = models.CharField(max_length=128, unique=True)
    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="enrollment_code")
    issued_by = models.ForeignKey(Officer, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class TokenKind(models.TextChoices):
    ACCESS = "access", "Access"
    REFRESH = "refresh", "Refresh"


class DeviceToken(models.Model):
    """An opaque bearer token bound to one device and one officer; stored as sha256.

    `family_id`: every token descended from one login (the login's pair and each pair issued by
    rotating its refresh token) shares it, so a stolen refresh token's replay can end them all.
    `rotated_at`: set on a refresh token used up by a rotation (not by a revocation): presenting it
    again is the replay signal. Tokens issued before these columns existed have neither.
    """

    token_hash = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=TokenKind.choices)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="tokens")
    officer = models.ForeignKey(Officer, on_delete=models.CASCADE, related_name="device_tokens")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    family_id = models.UUIDField(null=True, blank=True, db_index=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["device", "kind"])]
