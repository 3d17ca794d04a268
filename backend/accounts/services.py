"""Enrollment, login, token refresh and revocation.

Secrets (enrollment codes, device credentials, tokens) are random 256-bit strings shown once and
stored only as sha256: they are high-entropy, so a fast hash is the right tool (passwords use Argon2).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.accounts.errors import (
    DeviceCredentialInvalid,
    DeviceWipeRequired,
    EnrollmentCodeInvalid,
    LoginFailed,
    OfficerNotAllowedOnDevice,
    TokenExpired,
    TokenInvalid,
)
from backend.accounts.models import (
    Device,
    DeviceStatus,
    DeviceToken,
    EnrollmentCode,
    Officer,
    TokenKind,
    Unit,
)
from backend.accounts.token_lookup import access_token_get
from backend.audit.services import audit_record
from backend.core.errors import RateLimited
from backend.core.rate import rate_counter_incr
from backend.core.text import normalize_text


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedEnrollment:
    device: Device
    code: str


@dataclass(frozen=True)
class EnrolledDevice:
    device: Device
    device_credential: str


@dataclass(frozen=True)
class TokenPair:
    device: Device
    officer: Officer
    access_token: str
    refresh_token: str
    access_expires_at_seconds: int


def enrollment_code_issue(*, actor: Officer | None, unit: Unit, label: str = "") -> IssuedEnrollment:
    """Create a pending device and its one-time enrollment code. Audited."""
    code = _new_secret()
    with transaction.atomic():
        device = Device.objects.create(unit=unit, label=label, status=DeviceStatus.PENDING)
        EnrollmentCode.objects.create(
            code_hash=secret_hash(code),
            device=device,
            issued_by=actor,
            expires_at=timezone.now() + timedelta(seconds=settings.FIELDSYNC_ENROLLMENT_CODE_SECONDS),
        )
        audit_record(
            action="device.enrollment_code_issued",
            officer_id=actor.pk if actor else None,
            device_id=device.id,
            target_type="device",
            target_id=str(device.id),
        )
    return IssuedEnrollment(device=device, code=code)


def device_enroll(*, code: str, label: str = "", app_version: str = "") -> EnrolledDevice:
    """Exchange a one-time enrollment code for a device credential.

    Raises EnrollmentCodeInvalid when the code is unknown, used, expired or its device revoked.
    Not idempotent: the code works once.
    """
    credential = _new_secret()
    # Kept to the columns' lengths after NFC, which can lengthen text (composition exclusions).
    label, app_version = normalize_text(label)[:200], normalize_text(app_version)[:64]
    with transaction.atomic():
        enrollment = (
            EnrollmentCode.objects.select_for_update()
            .select_related("device")
            .filter(code_hash=secret_hash(code))
            .first()
        )
        now = timezone.now()
        if (
            enrollment is None
            or enrollment.used_at is not None
            or enrollment.expires_at <= now
            or enrollment.device.status != DeviceStatus.PENDING
        ):
            raise EnrollmentCodeInvalid()
        enrollment.used_at = now
        enrollment.save(update_fields=["used_at"])
        device = enrollment.device
        device.status = DeviceStatus.ACTIVE
        device.credential_hash = secret_hash(credential)
        device.enrolled_at = now
        device.last_seen_at = now
        if label:
            device.label = label
        device.app_version = app_version
        device.save(update_fields=["status", "credential_hash", "enrolled_at", "last_seen_at", "label", "app_version"])
        audit_record(action="device.enrolled", device_id=device.id, target_type="device", target_id=str(device.id))
    return EnrolledDevice(device=device, device_credential=credential)


def _issue_pair(*, device: Device, officer: Officer, family_id: uuid.UUID | None = None) -> TokenPair:
    """A new access/refresh pair; `family_id` None starts a new session family (a login)."""
    family_id = family_id or uuid.uuid4()
    access, refresh = _new_secret(), _new_secret()
    now = timezone.now()
    access_seconds = settings.FIELDSYNC_ACCESS_TOKEN_SECONDS
    DeviceToken.objects.bulk_create(
        [
            DeviceToken(
                token_hash=secret_hash(access),
                kind=TokenKind.ACCESS,
                device=device,
                officer=officer,
                expires_at=now + timedelta(seconds=access_seconds),
                family_id=family_id,
            ),
            DeviceToken(
                token_hash=secret_hash(refresh),
                kind=TokenKind.REFRESH,
                device=device,
                officer=officer,
                expires_at=now + timedelta(seconds=settings.FIELDSYNC_REFRESH_TOKEN_SECONDS),
                family_id=family_id,
            ),
        ]
    )
    return TokenPair(
        device=device,
        officer=officer,
        access_token=access,
        refresh_token=refresh,
        access_expires_at_seconds=access_seconds,
    )


def login_rate_check(*, username: str, where: str) -> None:
    """Count a login attempt for `username` at `where` (a device, the console); raise RateLimited
    past FIELDSYNC_LOGIN_RATE_PER_MINUTE. Counted before the password is checked."""
    key = f"login-rate:{secret_hash(normalize_text(username).casefold() + '|' + where)}"
    if rate_counter_incr(key=key, timeout_seconds=60) > settings.FIELDSYNC_LOGIN_RATE_PER_MINUTE:
        raise RateLimited(details={"retry_after_seconds": 60})


def officer_login(*, device_id: str, device_credential: str, username: str, password: str) -> TokenPair:
    """Log an officer in on an enrolled device; returns a fresh access/refresh pair bound to both.

    Raises DeviceCredentialInvalid, DeviceWipeRequired, LoginFailed, OfficerNotAllowedOnDevice,
    RateLimited. Audited (success and failure, without the password).
    """
    # One device however its id is spelled (upper case, no hyphens…): else each spelling was a fresh
    # allowance of password guesses.
    canonical_id = str(uuid.UUID(device_id)) if _is_uuid(device_id) else device_id
    login_rate_check(username=username, where=f"device:{canonical_id}")
    device = Device.objects.filter(pk=canonical_id).select_related("unit").first() if _is_uuid(device_id) else None
    if device is None or not device.credential_hash:
        raise DeviceCredentialInvalid()
    if not secrets.compare_digest(device.credential_hash, secret_hash(device_credential)):
        raise DeviceCredentialInvalid()
    if device.status in {DeviceStatus.REVOKED, DeviceStatus.WIPED}:
        raise DeviceWipeRequired()
    from django.contrib.auth import authenticate

    officer = authenticate(username=username, password=password)
    if not isinstance(officer, Officer) or not officer.is_active:
        audit_record(action="auth.login_failed", device_id=device.id, details={"username_hash": secret_hash(username)})
        raise LoginFailed()
    if not officer.is_field_officer or officer.unit_id != device.unit_id:
        audit_record(
            action="auth.login_refused", officer_id=officer.pk, device_id=device.id, details={"reason": "unit_or_role"}
        )
        raise OfficerNotAllowedOnDevice()
    with transaction.atomic():
        pair = _issue_pair(device=device, officer=officer)
        device.current_officer = officer
        device.last_seen_at = timezone.now()
        device.save(update_fields=["current_officer", "last_seen_at"])
        audit_record(action="auth.login", officer_id=officer.pk, device_id=device.id)
    return pair


def token_refresh(*, refresh_token: str) -> TokenPair:
    """Rotate: the refresh token is used up and a new pair of the same session family issued.

    A refresh token presented again after its rotation was copied (or the response of its rotation
    lost): every token of its family, access and refresh, is revoked, audited as
    `auth.refresh_token_reused`, and the officer must log in again. Raises TokenInvalid (that case
    included: the code of every revoked session) and DeviceWipeRequired.
    """
    with transaction.atomic():
        token = (
            DeviceToken.objects.select_for_update()
            .select_related("device", "officer")
            .filter(token_hash=secret_hash(refresh_token), kind=TokenKind.REFRESH)
            .first()
        )
        if token is None:
            raise TokenInvalid()
        if token.device.status in {DeviceStatus.REVOKED, DeviceStatus.WIPED}:
            raise DeviceWipeRequired()
        now = timezone.now()
        is_replay = token.rotated_at is not None
        if is_replay:
            _token_family_revoke(token=token, now=now)  # committed: the TokenInvalid is raised below
        elif (
            token.revoked_at is not None
            or token.expires_at <= now
            or not _officer_may_use(officer=token.officer, device=token.device)
        ):
            raise TokenInvalid()
        else:
            family_id = token.family_id or uuid.uuid4()  # a token from before families: starts one
            token.revoked_at = token.rotated_at = now
            token.family_id = family_id
            token.save(update_fields=["revoked_at", "rotated_at", "family_id"])
            return _issue_pair(device=token.device, officer=token.officer, family_id=family_id)
    raise TokenInvalid()


def _token_family_revoke(*, token: DeviceToken, now: datetime) -> None:
    """Inside a transaction: revoke every live token descended from `token`'s login, audited."""
    if token.family_id is not None:
        family = DeviceToken.objects.filter(family_id=token.family_id)
    else:  # issued before families existed: all of this officer's tokens on this device
        family = DeviceToken.objects.filter(device_id=token.device_id, officer_id=token.officer_id)
    revoked_count = family.filter(revoked_at__isnull=True).update(revoked_at=now)
    audit_record(
        action="auth.refresh_token_reused",
        officer_id=token.officer_id,
        device_id=token.device_id,
        target_type="token_family",
        target_id=str(token.family_id or ""),
        details={
            "revoked_count": revoked_count,
            "rotated_at": token.rotated_at.isoformat() if token.rotated_at else None,
        },
    )


def _officer_may_use(*, officer: Officer, device: Device, for_access: bool = False) -> bool:
    """The login rule, rechecked on every token use: an officer no longer active or in a field role
    keeps no access at all. An officer moved to another unit gets no new tokens on the old unit's
    device (refresh and login refused), but the access token in hand still pulls until it expires:
    that device's scope is then empty, so its next pull deletes the old unit's records from the phone
    (DESIGN §3.6) and pending pushes are quarantined, never lost."""
    if not (officer.is_active and officer.is_field_officer):
        return False
    return for_access or officer.unit_id == device.unit_id


@dataclass(frozen=True)
class DeviceContext:
    """Who is calling: the device and the officer logged in on it."""

    device: Device
    officer: Officer


def device_context_for_access_token(*, token: str) -> DeviceContext:
    """Resolve a bearer access token. Raises TokenInvalid, TokenExpired, DeviceWipeRequired.

    Every call reads the rows as they are now (one query, see `token_lookup`): nothing is cached.
    """
    row = access_token_get(token_hash=secret_hash(token))
    if row is None:
        raise TokenInvalid()
    if row.device.status in {DeviceStatus.REVOKED, DeviceStatus.WIPED}:
        raise DeviceWipeRequired()
    if row.revoked_at is not None or not _officer_may_use(officer=row.officer, device=row.device, for_access=True):
        raise TokenInvalid()
    if row.expires_at <= timezone.now():
        raise TokenExpired()
    return DeviceContext(device=row.device, officer=row.officer)


def device_revoke(*, actor: Officer | None, device: Device, reason: str = "") -> Device:
    """Revoke a device: every token dies at once; its next contact gets a wipe instruction. Idempotent."""
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device.pk)
        now = timezone.now()
        if device.status not in {DeviceStatus.REVOKED, DeviceStatus.WIPED}:
            device.status = DeviceStatus.REVOKED
            device.revoked_at = now
            device.revoked_reason = reason
            device.save(update_fields=["status", "revoked_at", "revoked_reason"])
        DeviceToken.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=now)
        audit_record(
            action="device.revoked",
            officer_id=actor.pk if actor else None,
            device_id=device.id,
            target_type="device",
            target_id=str(device.id),
            details={"reason": reason},
        )
    return device


def officer_revoke_tokens(*, actor: Officer | None, officer: Officer) -> int:
    """Kill every token of an officer on every device. Returns how many were live."""
    with transaction.atomic():
        count = DeviceToken.objects.filter(officer=officer, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit_record(
            action="officer.tokens_revoked",
            officer_id=actor.pk if actor else None,
            target_type="officer",
            target_id=str(officer.pk),
            details={"count": count},
        )
    return count


def device_wipe_acknowledge(*, device: Device) -> None:
    Device.objects.filter(pk=device.pk, status=DeviceStatus.REVOKED).update(
        status=DeviceStatus.WIPED, wipe_acknowledged_at=timezone.now()
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def token_pair_issue_for_ops(*, device: Device, officer: Officer) -> TokenPair:
    """Issue a token pair without a password, for ops scripts and tests (`manage.py enroll_device`).

    Only reachable from the server shell, never from the API. Applies the same rules as a login
    (active device, active field officer of the device's unit) and is audited as
    `auth.ops_token_issued`. Raises DeviceWipeRequired, OfficerNotAllowedOnDevice, LoginFailed.
    """
    if device.status != DeviceStatus.ACTIVE:
        raise DeviceWipeRequired()
    if not officer.is_active:
        raise LoginFailed()
    if not officer.is_field_officer or officer.unit_id != device.unit_id:
        raise OfficerNotAllowedOnDevice()
    with transaction.atomic():
        pair = _issue_pair(device=device, officer=officer)
        device.current_officer = officer
        device.last_seen_at = timezone.now()
        device.save(update_fields=["current_officer", "last_seen_at"])
        audit_record(action="auth.ops_token_issued", officer_id=officer.pk, device_id=device.id)
    return pair
