"""Wire schemas. Inputs forbid unknown fields; outputs are built explicitly by the routers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
