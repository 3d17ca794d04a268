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


class PayloadTooLarge(DomainError):
    code = ErrorCode.SYNC_PAYLOAD_TOO_LARGE
    http_status = 413
    default_message = "Too many records in one push; split it."


class RecordRejected(DomainError):
    """Raised by domain apply functions for one bad record; the engine turns it into a rejection."""

    code = ErrorCode.SYNC_RECORD_INVALID
    http_status = 422
    default_message = "The record is not valid."
