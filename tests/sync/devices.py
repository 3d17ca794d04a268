"""Simulated devices for failure-mode scenarios: mobile_contract's reference client over the real
Django stack in this process (no server subprocess), with a transport that can lose a response or
run a server-side write between a device's pull and its push."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
from django.test import Client

from mobile_contract.client import FieldsyncClient
from tests.conftest import make_device_session, make_officer


class ResponseLost(httpx.ReadError):
    """The server handled the request, but its answer never reached the device."""


class DjangoTransport(httpx.BaseTransport):
    """httpx → django.test.Client: every request runs through middleware, ninja and the services.

    `lose_response(method, path_part, times)`: the next matching requests are handled by the server,
    then the device gets a network error instead of the answer. `before(method, path_part, hook)`:
    run `hook()` (a server-side write) just before the next matching request reaches the server.
    """

    def __init__(self) -> None:
        self.client = Client()
        self.requests: list[tuple[str, str]] = []
        self._lose: list[tuple[str, str]] = []
        self._before: list[tuple[str, str, Callable[[], None]]] = []

    def lose_response(self, method: str, path_part: str, times: int = 1) -> None:
        self._lose += [(method, path_part)] * times

    def before(self, method: str, path_part: str, hook: Callable[[], None]) -> None:
        self._before.append((method, path_part, hook))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        self.requests.append((request.method, path))
        for entry in list(self._before):
            if entry[0] == request.method and entry[1] in path:
                self._before.remove(entry)
                entry[2]()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", "content-length"}}
        content_type = headers.pop("content-type", "application/octet-stream")
        response = self.client.generic(
            request.method, path, data=request.read(), content_type=content_type, headers=headers
        )
        body = (
            b"".join(response.streaming_content)  # type: ignore[arg-type]
            if response.streaming
            else response.content
        )
        for entry in list(self._lose):
            if entry[0] == request.method and entry[1] in path:
                self._lose.remove(entry)
                raise ResponseLost("connection reset after the server answered", request=request)
        return httpx.Response(response.status_code, headers=dict(response.items()), content=body)


class Device(FieldsyncClient):
    """A phone with an officer logged in, speaking HTTP through mobile_contract's client."""

    def __init__(self, *, username: str, unit: Any, role: str = "community_officer", officer: Any = None) -> None:
        self.transport = DjangoTransport()
        super().__init__("http://testserver", transport=self.transport)
        self.officer = officer or make_officer(username=username, unit=unit, role=role)
        pair = make_device_session(officer=self.officer, label=username)
        self.device = pair.device
        self.use_token(pair.access_token, str(pair.device.id))

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        return self.store.table(table)

    def pull_bodies(self) -> list[dict[str, Any]]:
        """Pull until has_more is false without pushing; returns every page (applied to the store)."""
        pages = []
        while True:
            body = self.pull(last_pulled_at=self.store.last_pulled_at)
            self.store.apply_pull(body)
            self.store.last_pulled_at = int(body["timestamp"])
            pages.append(body)
            if not body.get("has_more"):
                return pages


class EndpointPhone:
    """A device driving the sync endpoints with raw bodies (no reference client): one initial pull on
    creation, then `push(changes)` against that cursor; the answer is Django's test response."""

    def __init__(self, *, username: str, unit: Any, label: str = "phone") -> None:
        session = make_device_session(officer=make_officer(username=username, unit=unit), label=label)
        self.unit = unit
        self.token, self.device_id = session.access_token, str(session.device.pk)
        self.client = Client(raise_request_exception=False)
        pulled = self.client.get("/api/v1/sync/pull", headers={"Authorization": f"Bearer {self.token}"})
        assert pulled.status_code == 200, pulled.content
        self.cursor = pulled.json()["timestamp"]

    def push(self, changes: dict[str, Any]) -> Any:
        return self.client.post(
            f"/api/v1/sync/push?last_pulled_at={self.cursor}",
            data=orjson.dumps({"changes": changes}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.token}"},
        )
