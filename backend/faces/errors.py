"""Errors raised by the pure face pipeline, each with a stable string ``code``.

The codes are the same strings as the matching members of ``mobile_contract.errors.ErrorCode``; the
Django layer maps these exceptions onto ``DomainError`` (this package stays free of Django and of the
wire contract). Codes are never renamed or reused.

The exceptions pickle with their ``code``, ``message`` and ``details`` intact, so a worker process can
raise or return them to its parent.
"""

from __future__ import annotations

from typing import Any, Final

IMAGE_UNREADABLE: Final = "image_unreadable"
IMAGE_TRUNCATED: Final = "image_truncated"
IMAGE_FORMAT_NOT_ALLOWED: Final = "image_format_not_allowed"
IMAGE_TOO_LARGE: Final = "image_too_large"
IMAGE_DECOMPRESSION_BOMB: Final = "image_decompression_bomb"

FACE_NOT_FOUND: Final = "face_not_found"
FACE_TOO_SMALL: Final = "face_too_small"
FACE_TOO_BLURRY: Final = "face_too_blurry"

IMAGE_ERROR_CODES: Final = frozenset(
    {
        IMAGE_UNREADABLE,
        IMAGE_TRUNCATED,
        IMAGE_FORMAT_NOT_ALLOWED,
        IMAGE_TOO_LARGE,
        IMAGE_DECOMPRESSION_BOMB,
    }
)
FACE_QUALITY_ERROR_CODES: Final = frozenset({FACE_NOT_FOUND, FACE_TOO_SMALL, FACE_TOO_BLURRY})


class FacePipelineError(Exception):
    """Base class: an expected rejection of a photo, with a stable ``code`` and JSON-safe ``details``."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __reduce__(self) -> tuple[type[FacePipelineError], tuple[str, str, dict[str, Any]]]:
        return (type(self), (self.code, self.message, self.details))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ImageRejectedError(FacePipelineError):
    """The bytes are not an allowed, complete, decodable image (codes in ``IMAGE_ERROR_CODES``)."""


class FaceQualityError(FacePipelineError):
    """The image decoded but holds no usable face (codes in ``FACE_QUALITY_ERROR_CODES``)."""
