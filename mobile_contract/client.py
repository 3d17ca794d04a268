"""Reference device client (Python): what an app does, used by tests and `manage.py simulate`.

It keeps a local store like WatermelonDB does (table -> id -> raw record with _status/_changed),
pulls until `has_more` is false, pushes local changes, and uploads photos with tus 1.0.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from mobile_contract.errors import ErrorCode


class ApiError(Exception):
    """A non-2xx answer from the server, carrying the error envelope."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        self.status, self.code, self.message, self.details = status, code, message, details
        super().__init__(f"{status} {code}: {message}")


@dataclass
class SyncReport:
    pages: int = 0
    pulled_rows: int = 0
    pushed_rows: int = 0
    rejected: dict[str, list[str]] = field(default_factory=dict)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    replacement: bool = False


@dataclass
class LocalStore:
    """Raw records per table, with WatermelonDB's `_status` ('synced'|'created'|'updated') and `_changed`."""

    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    deleted: dict[str, set[str]] = field(default_factory=dict)
    last_pulled_at: int | None = None

    def table(self, name: str) -> dict[str, dict[str, Any]]:
        return self.tables.setdefault(name, {})

    def create(self, table: str, values: dict[str, Any]) -> str:
        record_id = values.get("id") or str(uuid.uuid4())
        self.table(table)[record_id] = {**values, "id": record_id, "_status": "created", "_changed": ""}
        return record_id

    def update(self, table: str, record_id: str, values: dict[str, Any]) -> None:
        record = self.table(table)[record_id]
        record.update(values)
        if record["_status"] != "created":
            record["_status"] = "updated"
            changed = {c for c in record.get("_changed", "").split(",") if c} | set(values)
            record["_changed"] = ",".join(sorted(changed))

    def delete(self, table: str, record_id: str) -> None:
        record = self.table(table).pop(record_id)
        if record["_status"] != "created":
            self.deleted.setdefault(table, set()).add(record_id)

    def local_changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        names = set(self.tables) | set(self.deleted)
        for name in sorted(names):
            rows = self.tables.get(name, {}).values()
            created = [dict(r) for r in rows if r.get("_status") == "created"]
            updated = [dict(r) for r in rows if r.get("_status") == "updated"]
            deleted = sorted(self.deleted.get(name, set()))
            if created or updated or deleted:
                changes[name] = {"created": created, "updated": updated, "deleted": deleted}
        return changes

    def mark_synced(self, changes: dict[str, Any], rejected: dict[str, list[str]]) -> None:
        for name, lists in changes.items():
            skip = set(rejected.get(name, []))
            for row in lists["created"] + lists["updated"]:
                local = self.table(name).get(row["id"])
                if local is not None and row["id"] not in skip:
                    local["_status"], local["_changed"] = "synced", ""
            for record_id in lists["deleted"]:
                if record_id not in skip:
                    self.deleted.get(name, set()).discard(record_id)

    def apply_pull(self, body: dict[str, Any]) -> int:
        if body.get("experimentalStrategy") == "replacement":
            for name, rows in self.tables.items():
                self.tables[name] = {k: v for k, v in rows.items() if v.get("_status") != "synced"}
        count = 0
        for name, lists in body["changes"].items():
            table = self.table(name)
            for row in lists["created"] + lists["updated"]:
                count += 1
                local = table.get(row["id"])
                if local is not None and local.get("_status") != "synced":
                    # keep local changes for the columns changed locally (WatermelonDB's rule)
                    changed = {c for c in local.get("_changed", "").split(",") if c}
                    merged = {**row, **{c: local[c] for c in changed if c in local}}
                    table[row["id"]] = {**merged, "_status": local["_status"], "_changed": local["_changed"]}
                else:
                    table[row["id"]] = {**row, "_status": "synced", "_changed": ""}
            for record_id in lists["deleted"]:
                count += 1
                table.pop(record_id, None)
        return count


class FieldsyncClient:
    """A device: enroll, log in, sync, upload photos, start face searches."""

    def __init__(self, base_url: str, *, timeout_seconds: float = 60.0, transport: httpx.BaseTransport | None = None):
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_seconds, transport=transport)
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.device_id: str | None = None
        self.device_credential: str | None = None
        self.schema_version = 1
        self.store = LocalStore()

    # --- plumbing -------------------------------------------------------------------------------
    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        return headers

    @staticmethod
    def _check(response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiError(
                response.status_code,
                str(body.get("code", ErrorCode.INTERNAL_ERROR)),
                str(body.get("message", response.text[:200])),
                dict(body.get("details") or {}),
            )
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = self._headers(kwargs.pop("headers", None))
        return self._check(self.http.request(method, path, headers=headers, **kwargs))

    # --- auth -----------------------------------------------------------------------------------
    def enroll(self, enrollment_code: str, *, label: str = "", app_version: str = "") -> dict[str, Any]:
        body = self.request(
            "POST",
            "/api/v1/devices/enroll",
            json={"enrollment_code": enrollment_code, "label": label, "app_version": app_version},
        ).json()
        self.device_id, self.device_credential = body["device_id"], body["device_credential"]
        return dict(body)

    def login(self, username: str, password: str) -> dict[str, Any]:
        body = self.request(
            "POST",
            "/api/v1/auth/login",
            json={
                "device_id": self.device_id,
                "device_credential": self.device_credential,
                "username": username,
                "password": password,
            },
        ).json()
        self.access_token, self.refresh_token = body["access_token"], body["refresh_token"]
        return dict(body)

    def use_token(self, access_token: str, device_id: str | None = None) -> None:
        self.access_token, self.device_id = access_token, device_id

    # --- sync -----------------------------------------------------------------------------------
    def schema(self) -> dict[str, Any]:
        return dict(self.request("GET", "/api/v1/sync/schema").json())

    def pull(self, *, last_pulled_at: int | None, migration: dict[str, Any] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"schema_version": self.schema_version}
        if last_pulled_at is not None:
            params["last_pulled_at"] = last_pulled_at
        if migration is not None:
            params["migration"] = json.dumps(migration)
        return dict(self.request("GET", "/api/v1/sync/pull", params=params).json())

    def push(
        self, changes: dict[str, Any], *, last_pulled_at: int, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = self.request(
            "POST",
            "/api/v1/sync/push",
            params={"last_pulled_at": last_pulled_at},
            json={"changes": changes},
            headers=headers,
        )
        return dict(response.json())

    def synchronize(self) -> SyncReport:
        """One WatermelonDB-style sync: pull (saving the cursor), then push local changes.

        Loops while the server says `has_more`, as the app does.
        """
        report = SyncReport()
        while True:
            body = self.pull(last_pulled_at=self.store.last_pulled_at)
            report.pages += 1
            report.replacement = report.replacement or body.get("experimentalStrategy") == "replacement"
            report.pulled_rows += self.store.apply_pull(body)
            self.store.last_pulled_at = int(body["timestamp"])
            changes = self.store.local_changes()
            if changes:
                response = self.push(changes, last_pulled_at=self.store.last_pulled_at)
                rejected = response.get("experimentalRejectedIds") or {}
                self.store.mark_synced(changes, rejected)
                report.pushed_rows += sum(
                    len(v["created"]) + len(v["updated"]) + len(v["deleted"]) for v in changes.values()
                )
                for name, ids in rejected.items():
                    report.rejected.setdefault(name, []).extend(ids)
                report.conflicts.extend(response.get("conflicts") or [])
            if not body.get("has_more"):
                return report

    # --- photos (tus 1.0) -----------------------------------------------------------------------
    def upload_photo(
        self, data: bytes, *, metadata: dict[str, str] | None = None, chunk_bytes: int = 256 * 1024
    ) -> str:
        """Upload with tus creation + PATCH chunks, resuming from HEAD's offset. Returns the sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        meta = {"sha256": sha256, **(metadata or {})}
        encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
        tus = {"Tus-Resumable": "1.0.0"}
        created = self.request(
            "POST",
            "/api/v1/media/uploads",
            headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": encoded},
        )
        location = created.headers["Location"]
        offset = 0
        while offset < len(data):
            chunk = data[offset : offset + chunk_bytes]
            response = self.request(
                "PATCH",
                location,
                content=chunk,
                headers={**tus, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
            )
            offset = int(response.headers["Upload-Offset"])
        return sha256

    # --- faces ----------------------------------------------------------------------------------
    def face_search_start(self, *, photo_sha256: str, purpose: str, case_reference: str) -> dict[str, Any]:
        return dict(
            self.request(
                "POST",
                "/api/v1/faces/searches",
                json={"photo_sha256": photo_sha256, "purpose": purpose, "case_reference": case_reference},
            ).json()
        )

    def face_search_get(self, search_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/v1/faces/searches/{search_id}").json())
