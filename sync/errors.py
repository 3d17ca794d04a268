"""Sync engine errors (request-level). Record-level problems are rejections, not exceptions."""

from __future__ import annotations

from backend.core.errors import DomainError
from mobile_contract.errors import ErrorCode


class AppVersionUnsupported(DomainError):
    code = ErrorCode.APP_VERSION_UNSUPPORTED
    http_status = 426
    default_message = "This app version is too old to sync; update the app."


class SyncCursorInvalid(DomainError):
    code = ErrorCode.SYNC_CURSOR_INVALID
    http_status = 409
    default_message = "The sync cursor is not known for this device; pull again first."


class MigrationInvalid(DomainError):
    code = ErrorCode.MIGRATION_INVALID
    http_status = 400
    default_message = "The migration parameter is not valid."


class IdempotencyKeyReused(DomainError):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED
    http_status = 422
    default_message = "This Idempotency-Key was already used with a different request body."


class IdempotencyKeyInvalid(DomainError):
    code = ErrorCode.VALIDATION_ERROR
    http_status = 422
    default_message = "Idempotency-Key must be 1 to 128 visible ASCII characters."


class PayloadTooLarge(DomainError):
    code = ErrorCode.SYNC_PAYLOAD_TOO_LARGE
    http_status = 413
    default_message = "Too many records in one push; split it."


class QuarantineFull(DomainError):
    """The push would take the device past its quarantine cap: refused whole, nothing applied."""

    code = ErrorCode.SYNC_QUARANTINE_FULL
    http_status = 429
    default_message = (
        "This device has too many records waiting for a sync administrator; the push was not applied. "
        "Keep the changes and push again once the administrator has dealt with them."
    )


class RecordRejected(DomainError):
    """Raised by domain apply functions for one bad record; the engine turns it into a rejection."""

    code = ErrorCode.SYNC_RECORD_INVALID
    http_status = 422
    default_message = "The record is not valid."


class SyncAdminRequired(DomainError):
    code = ErrorCode.PERMISSION_DENIED
    http_status = 403
    default_message = "Only a sync administrator may do this."


class ReviewItemNotFound(DomainError):
    code = ErrorCode.REVIEW_ITEM_NOT_FOUND
    http_status = 404
    default_message = "No such review item."


class QuarantineItemNotFound(DomainError):
    code = ErrorCode.QUARANTINE_ITEM_NOT_FOUND
    http_status = 404
    default_message = "No such quarantined record."


class AlreadyResolved(DomainError):
    """A review item or quarantined record that is no longer open (for both: REVIEW_ALREADY_RESOLVED)."""

    code = ErrorCode.REVIEW_ALREADY_RESOLVED
    http_status = 409
    default_message = "This item was already resolved."


class ResolutionTargetDeleted(DomainError):
    code = ErrorCode.SYNC_RECORD_DELETED
    http_status = 409
    default_message = "The record was deleted or archived on the server; restore it or discard the item."
