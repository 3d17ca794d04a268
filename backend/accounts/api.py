"""Device enrollment and officer login."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from backend.accounts import services
from mobile_contract.schemas import (
    DeviceEnrollIn,
    DeviceEnrollOut,
    ErrorOut,
    LoginIn,
    RefreshIn,
    TokenPairOut,
)

router = Router(tags=["auth"])


@router.post("/devices/enroll", response={200: DeviceEnrollOut, 400: ErrorOut, 429: ErrorOut}, auth=None)
def device_enroll(request: HttpRequest, payload: DeviceEnrollIn) -> DeviceEnrollOut:
    enrolled = services.device_enroll(
        code=payload.enrollment_code, label=payload.label, app_version=payload.app_version
    )
    return DeviceEnrollOut(
        device_id=str(enrolled.device.id),
        device_credential=enrolled.device_credential,
        unit_code=enrolled.device.unit.code,
    )


def _pair_out(pair: services.TokenPair) -> TokenPairOut:
    return TokenPairOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in_seconds=pair.access_expires_at_seconds,
        officer_username=pair.officer.username,
        officer_role=pair.officer.role,
        device_id=str(pair.device.id),
    )


@router.post("/auth/login", response={200: TokenPairOut, 401: ErrorOut, 403: ErrorOut, 429: ErrorOut}, auth=None)
def login(request: HttpRequest, payload: LoginIn) -> TokenPairOut:
    pair = services.officer_login(
        device_id=payload.device_id,
        device_credential=payload.device_credential,
        username=payload.username,
        password=payload.password,
    )
    return _pair_out(pair)


@router.post("/auth/refresh", response={200: TokenPairOut, 401: ErrorOut, 403: ErrorOut}, auth=None)
def refresh(request: HttpRequest, payload: RefreshIn) -> TokenPairOut:
    return _pair_out(services.token_refresh(refresh_token=payload.refresh_token))
