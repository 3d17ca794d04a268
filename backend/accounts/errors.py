"""Account and device errors."""

from __future__ import annotations

from backend.core.errors import DomainError
from mobile_contract.errors import ErrorCode


class TokenInvalid(DomainError):
    code = ErrorCode.TOKEN_INVALID
    http_status = 401
    default_message = "The access token is not valid."


class TokenExpired(DomainError):
    code = ErrorCode.TOKEN_EXPIRED
    http_status = 401
    default_message = "The access token has expired; refresh it."


class DeviceWipeRequired(DomainError):
    code = ErrorCode.DEVICE_WIPE_REQUIRED
    http_status = 403
    default_message = "This device has been revoked: erase all local data now."


class EnrollmentCodeInvalid(DomainError):
    code = ErrorCode.ENROLLMENT_CODE_INVALID
    http_status = 400
    default_message = "The enrollment code is unknown, used or expired."


class DeviceCredentialInvalid(DomainError):
    code = ErrorCode.DEVICE_CREDENTIAL_INVALID
    http_status = 401
    default_message = "The device credential is not valid."


class LoginFailed(DomainError):
    code = ErrorCode.LOGIN_FAILED
    http_status = 401
    default_message = "Wrong username or password."


class OfficerNotAllowedOnDevice(DomainError):
    code = ErrorCode.PERMISSION_DENIED
    http_status = 403
    default_message = "This officer may not use this device."
