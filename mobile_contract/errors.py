"""Stable error codes. Codes are never renamed or reused; add new ones at the end of a section."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # generic
    VALIDATION_ERROR = "validation_error"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    # auth / devices
    AUTH_REQUIRED = "auth_required"
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    DEVICE_REVOKED = "device_revoked"
    DEVICE_WIPE_REQUIRED = "device_wipe_required"
    ENROLLMENT_CODE_INVALID = "enrollment_code_invalid"
    LOGIN_FAILED = "login_failed"
    OFFICER_INACTIVE = "officer_inactive"
    DEVICE_CREDENTIAL_INVALID = "device_credential_invalid"
    # sync
    APP_VERSION_UNSUPPORTED = "app_version_unsupported"
    SYNC_CURSOR_INVALID = "sync_cursor_invalid"
    SYNC_TABLE_UNKNOWN = "sync_table_unknown"
    SYNC_COLUMN_UNKNOWN = "sync_column_unknown"
    SYNC_RECORD_ID_INVALID = "sync_record_id_invalid"
    SYNC_RECORD_INVALID = "sync_record_invalid"
    SYNC_RECORD_OUT_OF_SCOPE = "sync_record_out_of_scope"
    SYNC_FIELD_AUTHORITATIVE = "sync_field_authoritative"
    SYNC_RECORD_READ_ONLY = "sync_record_read_only"
    SYNC_RECORD_DELETED = "sync_record_deleted"
    SYNC_PAYLOAD_TOO_LARGE = "sync_payload_too_large"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    MIGRATION_INVALID = "migration_invalid"
    SYNC_QUARANTINE_FULL = "sync_quarantine_full"
    # media
    UPLOAD_NOT_FOUND = "upload_not_found"
    UPLOAD_OFFSET_MISMATCH = "upload_offset_mismatch"
    UPLOAD_TOO_LARGE = "upload_too_large"
    UPLOAD_CHECKSUM_MISMATCH = "upload_checksum_mismatch"
    UPLOAD_INCOMPLETE = "upload_incomplete"
    UPLOAD_LOCKED = "upload_locked"
    UPLOAD_EXPIRED = "upload_expired"
    UPLOAD_QUOTA_EXCEEDED = "upload_quota_exceeded"
    IMAGE_FORMAT_NOT_ALLOWED = "image_format_not_allowed"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_DECOMPRESSION_BOMB = "image_decompression_bomb"
    IMAGE_TRUNCATED = "image_truncated"
    IMAGE_UNREADABLE = "image_unreadable"
    PHOTO_NOT_FOUND = "photo_not_found"
    UPLOAD_STORAGE_FULL = "upload_storage_full"
    PHOTO_INTEGRITY_FAILED = "photo_integrity_failed"
    # faces
    FACE_NOT_FOUND = "face_not_found"
    FACE_TOO_SMALL = "face_too_small"
    FACE_TOO_BLURRY = "face_too_blurry"
    FACE_SEARCH_PURPOSE_INVALID = "face_search_purpose_invalid"
    FACE_SEARCH_NOT_FOUND = "face_search_not_found"
    FACE_DECISION_INVALID = "face_decision_invalid"
    # registry
    PERSON_NOT_FOUND = "person_not_found"
    REVIEW_ITEM_NOT_FOUND = "review_item_not_found"
    REVIEW_ALREADY_RESOLVED = "review_already_resolved"
    QUARANTINE_ITEM_NOT_FOUND = "quarantine_item_not_found"
