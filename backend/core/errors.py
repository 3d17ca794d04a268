"""The one application error type. Every package's errors subclass DomainError."""

from __future__ import annotations

from typing import Any

from mobile_contract.errors import ErrorCode


class DomainError(Exception):
    """An expected failure with a stable code, an HTTP status and JSON-safe details."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR
    http_status: int = 400
    default_message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: ErrorCode | None = None,
        http_status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.details: dict[str, Any] = details or {}
        super().__init__(self.message)

    def as_envelope(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message, "details": self.details}


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND
    http_status = 404
    default_message = "Not found."


class PermissionDenied(DomainError):
    code = ErrorCode.PERMISSION_DENIED
    http_status = 403
    default_message = "You may not do this."


class AuthenticationFailed(DomainError):
    code = ErrorCode.AUTH_REQUIRED
    http_status = 401
    default_message = "Authentication required."


class RateLimited(DomainError):
    code = ErrorCode.RATE_LIMITED
    http_status = 429
    default_message = "Too many requests; try again later."
