"""Media errors: every failure of an upload or an image check, each with a stable code.

Codes come from `mobile_contract.errors.ErrorCode` (never renamed or reused). `details` is JSON-safe
and never contains the uploaded bytes or personal data.
"""

from __future__ import annotations

from backend.core.errors import DomainError
from mobile_contract.errors import ErrorCode


class MediaError(DomainError):
    """Base of every media_store error."""

    code = ErrorCode.VALIDATION_ERROR
    http_status = 400
    default_message = "The media request could not be processed."


# --- image checks (inspect_and_derive) -----------------------------------------------------------


class ImageRejected(MediaError):
    """The bytes are not an image we accept. Re-sending the same bytes will fail the same way."""

    http_status = 422


class ImageFormatNotAllowed(ImageRejected):
    code = ErrorCode.IMAGE_FORMAT_NOT_ALLOWED
    http_status = 415
    default_message = "Only JPEG, PNG, WebP and HEIC photos are accepted."


class ImageTooLarge(ImageRejected):
    code = ErrorCode.IMAGE_TOO_LARGE
    http_status = 413
    default_message = "The photo file is too large."


class ImageDecompressionBomb(ImageRejected):
    code = ErrorCode.IMAGE_DECOMPRESSION_BOMB
    default_message = "The photo has more pixels than allowed."


class ImageTruncated(ImageRejected):
    code = ErrorCode.IMAGE_TRUNCATED
    default_message = "The photo file is incomplete."


class ImageUnreadable(ImageRejected):
    code = ErrorCode.IMAGE_UNREADABLE
    default_message = "The photo could not be decoded."


# --- uploads (tus) -------------------------------------------------------------------------------


class UploadChecksumMismatch(MediaError):
    code = ErrorCode.UPLOAD_CHECKSUM_MISMATCH
    # 460 is the tus checksum extension's "Checksum Mismatch".
    http_status = 460
    default_message = "The received bytes do not match the declared sha256."


class UploadNotFound(MediaError):
    code = ErrorCode.UPLOAD_NOT_FOUND
    http_status = 404
    default_message = "No such upload."


class UploadOffsetMismatch(MediaError):
    code = ErrorCode.UPLOAD_OFFSET_MISMATCH
    http_status = 409
    default_message = "Upload-Offset does not match the bytes the server holds; send HEAD and resume."


class UploadTooLarge(MediaError):
    code = ErrorCode.UPLOAD_TOO_LARGE
    http_status = 413
    default_message = "The upload is larger than allowed."


class UploadIncomplete(MediaError):
    code = ErrorCode.UPLOAD_INCOMPLETE
    http_status = 409
    default_message = "The upload has not received all its bytes yet."


class UploadLocked(MediaError):
    code = ErrorCode.UPLOAD_LOCKED
    http_status = 423
    default_message = "Another request is writing to this upload; retry shortly."


class UploadExpired(MediaError):
    code = ErrorCode.UPLOAD_EXPIRED
    http_status = 410
    default_message = "The upload expired; start a new one."


class UploadQuotaExceeded(MediaError):
    code = ErrorCode.UPLOAD_QUOTA_EXCEEDED
    http_status = 413
    default_message = "This device has too many unfinished upload bytes on the server."


class StorageFull(MediaError):
    """The server's upload disk is full. The bytes received so far are kept; retry later."""

    code = ErrorCode.UPLOAD_STORAGE_FULL
    http_status = 507
    default_message = "The server has no room for this upload right now; retry later."


class UploadRequestInvalid(MediaError):
    """A tus protocol violation (missing/invalid header, wrong content type, bad metadata)."""

    code = ErrorCode.VALIDATION_ERROR
    http_status = 400
    default_message = "The upload request is not valid tus 1.0."


class PhotoNotFound(MediaError):
    code = ErrorCode.PHOTO_NOT_FOUND
    http_status = 404
    default_message = "No such photo."


class PhotoIntegrityError(MediaError):
    """The stored bytes of a photo do not hash to the sha256 recorded for them (or are missing).

    The bytes are never served. A server-side fault (storage corruption), logged at ERROR.
    """

    code = ErrorCode.PHOTO_INTEGRITY_FAILED
    http_status = 500
    default_message = "The stored photo failed its integrity check; it cannot be served."
