"""Bearer-token authentication for ninja routes, plain Django views and WebSocket scopes."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from backend.accounts.errors import TokenInvalid
from backend.accounts.services import DeviceContext, device_context_for_access_token
from backend.core.errors import AuthenticationFailed


class DeviceBearer(HttpBearer):
    """`Authorization: Bearer <access token>` → request.auth is a DeviceContext."""

    def authenticate(self, request: HttpRequest, token: str) -> DeviceContext:
        return device_context_for_access_token(token=token)


def device_from_bearer(request: HttpRequest) -> DeviceContext:
    """For plain Django views (tus): raise AuthenticationFailed/TokenInvalid/DeviceWipeRequired."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed()
    return device_context_for_access_token(token=token.strip())


def device_from_query_token(token: Any) -> DeviceContext:
    if not isinstance(token, str) or not token:
        raise TokenInvalid()
    return device_context_for_access_token(token=token)
