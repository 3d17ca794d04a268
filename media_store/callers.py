"""Who is calling: the device behind a request, without importing backend.accounts.

The setting FIELDSYNC_DEVICE_AUTHENTICATOR names (dotted path) a callable that takes the Django
request and returns an object with a `.device` (a model instance whose pk is the device id), or
raises a DomainError (401/403). It is resolved at call time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string


class CallerDevice(Protocol):
    @property
    def pk(self) -> Any: ...


class Caller(Protocol):
    @property
    def device(self) -> CallerDevice: ...


DeviceAuthenticator = Callable[[HttpRequest], Caller]


def caller_from_request(request: HttpRequest) -> Caller:
    """Authenticate the request. Raises whatever DomainError the configured authenticator raises."""
    authenticator = cast(DeviceAuthenticator, import_string(settings.FIELDSYNC_DEVICE_AUTHENTICATOR))
    return authenticator(request)
