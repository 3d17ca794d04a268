"""Wire schemas. Inputs forbid unknown fields; outputs are built explicitly by the routers."""

from __future__ import annotations

import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

#: Request fields kept exactly as sent (not NFC-normalised).
RAW_TEXT_FIELDS = frozenset({"password"})


class _In(BaseModel):
    """Every request body. Declared text fields arrive NFC (DOMAIN §4.1: normalise at every entry
    point), before their length limits are checked. Raw sync records (`TableChangesIn`'s dicts) are
    left as sent: the sync engine normalises them per column and sends the stored form back.
    Passwords are compared as typed, exactly like the console's login form does."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _text_to_nfc(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str) or info.field_name in RAW_TEXT_FIELDS:
            return value
        return unicodedata.normalize("NFC", value)


class ErrorOut(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class DeviceEnrollIn(_In):
    enrollment_code: str = Field(min_length=8, max_length=200)
    label: str = Field(default="", max_length=200)
    app_version: str = Field(default="", max_length=64)


class DeviceEnrollOut(BaseModel):
    device_id: str
    device_credential: str
    unit_code: str


class LoginIn(_In):
    device_id: str = Field(max_length=64)
    device_credential: str = Field(max_length=200)
    username: str = Field(max_length=150)
    password: str = Field(max_length=200)


class RefreshIn(_In):
    refresh_token: str = Field(max_length=200)


class TokenPairOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in_seconds: int
    officer_username: str
    officer_role: str
    device_id: str


class TableChangesIn(_In):
    created: list[dict[str, Any]] = Field(default_factory=list)
    updated: list[dict[str, Any]] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)


class PushIn(_In):
    changes: dict[str, TableChangesIn]


class RejectionOut(BaseModel):
    table: str
    id: str
    code: str
    message: str


class ConflictOut(BaseModel):
    table: str
    id: str
    field: str
    policy: str
    outcome: str


class PushOut(BaseModel):
    experimentalRejectedIds: dict[str, list[str]]  # noqa: N815 - WatermelonDB's name
    rejections: list[RejectionOut]
    conflicts: list[ConflictOut]


class TableChangesOut(BaseModel):
    created: list[dict[str, Any]]
    updated: list[dict[str, Any]]
    deleted: list[str]


class PullOut(BaseModel):
    changes: dict[str, TableChangesOut]
    timestamp: int
    has_more: bool
    experimentalStrategy: Literal["replacement"] | None = None  # noqa: N815 - WatermelonDB's name


class ColumnSchemaOut(BaseModel):
    name: str
    type: Literal["string", "number", "boolean"]
    isOptional: bool  # noqa: N815
    isIndexed: bool  # noqa: N815


class TableSchemaOut(BaseModel):
    name: str
    columns: list[ColumnSchemaOut]


class AppSchemaOut(BaseModel):
    version: int
    tables: list[TableSchemaOut]


class FaceSearchIn(_In):
    photo_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    purpose: str = Field(max_length=40)
    case_reference: str = Field(min_length=1, max_length=128)


class FaceCandidateOut(BaseModel):
    id: str
    probe_face_index: int
    rank: int
    wanted_notice_id: str
    distance: float
    score: float
    is_within_threshold: bool
    label: Literal["candidate"] = "candidate"


class FaceSearchOut(BaseModel):
    id: str
    status: str
    purpose: str
    case_reference: str
    probe_sha256: str
    error_code: str | None
    faces_found: int
    gallery_version: int | None
    threshold: float | None
    model_name: str | None
    candidates: list[FaceCandidateOut]
    notice: str = "Candidates are leads for a human to verify, never an identification."


class FaceDecisionIn(_In):
    decision: Literal["confirm", "reject", "inconclusive"]
    note: str = Field(default="", max_length=2000)


class FaceDecisionOut(BaseModel):
    candidate_id: str
    decision: str
    confirmations: int
    confirmations_required: int
    is_confirmed: bool


# --- person search (feature level 2) --------------------------------------------------------------


class PersonSearchIn(_In):
    """`q` is a 12-digit personal ID number (exact) or a name (any accents, any case; candidates only).
    `dob` narrows name results: `yyyy` or `dd/mm/yyyy`."""

    q: str = Field(min_length=1, max_length=200)
    dob: str = Field(default="", max_length=10)
    limit: int = Field(default=20, ge=1, le=50)


class PersonCandidateOut(BaseModel):
    id: str
    full_name: str
    personal_id_number: str | None
    sex: str
    dob_year: int | None
    dob_month: int | None
    dob_day: int | None
    dob_precision: str
    primary_commune_code: str
    # id_number: the 12-digit number matched exactly; exact_name: same name with the same tones
    # (spelling of tone placement, case, spaces aside); name_variant: same letters, different or
    # missing accents (Tuấn/Tuân, Nguyen/Nguyễn, Đặng/Dang); partial_name: the query is part of it.
    match: Literal["id_number", "exact_name", "name_variant", "partial_name"]
    # exact; year_compatible (one side has only the year, or the same year); possible_day_month_swap;
    # same_year_date_differs; year_differs (only on an ID-number match: name matches from another
    # year are not returned); not_given (no dob in the query); unknown (the record has no dob).
    birth: Literal[
        "exact",
        "year_compatible",
        "possible_day_month_swap",
        "same_year_date_differs",
        "year_differs",
        "not_given",
        "unknown",
    ]
    # Always "candidate": a search result is never an identification and records are never merged.
    label: Literal["candidate"] = "candidate"


class PersonSearchOut(BaseModel):
    query_kind: Literal["id_number", "name"]
    candidates: list[PersonCandidateOut]
    is_truncated: bool


# --- sync administration (feature level 3): review queue and quarantine --------------------------


class ReviewItemOut(BaseModel):
    id: str
    created_at: str
    source: str
    device_id: str | None
    officer_id: int | None
    table: str
    record_id: str
    field: str
    policy: str
    server_value: Any
    proposed_value: Any
    status: str
    resolved_at: str | None
    resolved_by_id: int | None
    resolved_value: Any


class ReviewItemsOut(BaseModel):
    items: list[ReviewItemOut]


class ReviewResolveIn(_In):
    resolution: Literal["take_server", "take_device", "edit"]
    value: Any = None  # the edited value (resolution "edit" only)
    note: str = Field(default="", max_length=500)


class QuarantinedRecordOut(BaseModel):
    id: str
    created_at: str
    source: str
    device_id: str | None
    officer_id: int | None
    table: str
    record_id: str
    operation: str
    code: str
    message: str
    payload: dict[str, Any]
    status: str
    resolved_at: str | None
    resolved_by_id: int | None
    replayed_payload: dict[str, Any] | None


class QuarantinedRecordsOut(BaseModel):
    items: list[QuarantinedRecordOut]


class QuarantineReplayIn(_In):
    payload: dict[str, Any] | None = None  # the fixed record (push items) or legacy columns (bridge items)
    note: str = Field(default="", max_length=500)


class QuarantineDiscardIn(_In):
    note: str = Field(default="", max_length=500)
