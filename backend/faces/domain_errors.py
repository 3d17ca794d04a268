"""Face search errors surfaced through the API (the pipeline's own errors carry the same codes)."""

from __future__ import annotations

from backend.core.errors import DomainError
from mobile_contract.errors import ErrorCode


class FaceSearchPurposeInvalid(DomainError):
    code = ErrorCode.FACE_SEARCH_PURPOSE_INVALID
    http_status = 422
    default_message = "A face search needs a purpose from the fixed list and a case reference."


class FaceSearchNotFound(DomainError):
    code = ErrorCode.FACE_SEARCH_NOT_FOUND
    http_status = 404
    default_message = "No such face search."


class FaceDecisionInvalid(DomainError):
    code = ErrorCode.FACE_DECISION_INVALID
    http_status = 422
    default_message = "This decision cannot be recorded."


class ProbePhotoNotFound(DomainError):
    code = ErrorCode.PHOTO_NOT_FOUND
    http_status = 404
    default_message = "The probe photo has not been uploaded (or is not yours)."
