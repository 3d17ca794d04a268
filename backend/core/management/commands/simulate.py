"""Play a patrol officer's shift against a running server through mobile_contract's reference client.

enroll → initial sync of the scope → a check recorded offline with a photo → push (the check and its photo
row) → tus upload of the photo → face search → candidates received (WebSocket alert, then GET and sync).
Exits non-zero on any failure.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mobile_contract.client import ApiError, FieldsyncClient

DEMO_PASSWORD = "fieldsync-demo"  # noqa: S105 - the documented password of the synthetic demo officers


class Command(BaseCommand):
    help = "Simulate a patrol officer's shift against a running fieldsync server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--server", default="http://127.0.0.1:8000")
        parser.add_argument("--officer", default="patrol.huunghi", help="a demo officer (see demo_officers)")
        parser.add_argument("--password", default=DEMO_PASSWORD)
        parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the face search")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        report: dict[str, Any] = {"server": options["server"], "officer": options["officer"]}
        try:
            self._run(options, report)
        except (ApiError, OSError, httpx.TransportError, KeyError, ValueError, TimeoutError) as exc:
            report["ok"] = False
            report["error"] = f"{type(exc).__name__}: {exc}"
            self._print(report, options)
            raise CommandError(report["error"]) from exc
        report["ok"] = True
        self._print(report, options)

    def _print(self, report: dict[str, Any], options: dict[str, Any]) -> None:
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
            return
        for line in report_lines(report):
            self.stdout.write(line)

    def _step(self, text: str) -> None:
        self.stderr.write(f"· {text}")

    def _run(self, options: dict[str, Any], report: dict[str, Any]) -> None:
        from backend.accounts.models import Officer
        from backend.accounts.services import enrollment_code_issue

        _require_server(options["server"])
        officer = Officer.objects.select_related("unit").filter(username=options["officer"]).first()
        if officer is None or officer.unit is None:
            raise CommandError(f"no demo officer {options['officer']!r}: run `make run` first (it seeds the demo)")
        probe_path, expected_notice = _pick_probe()

        # 1. An administrator issues an enrollment code; the phone enrolls and the officer logs in.
        self._step(f"enrolling a device for {officer.username} ({officer.unit.name})")
        started = time.perf_counter()
        code = enrollment_code_issue(actor=None, unit=officer.unit, label="simulated phone").code
        client = FieldsyncClient(options["server"])
        client.enroll(code, label="simulated phone", app_version="simulate/1")
        client.login(officer.username, options["password"])
        report["device_id"] = client.device_id
        report["enroll_seconds"] = round(time.perf_counter() - started, 2)

        # 2. Initial sync of the unit's scope.
        self._step("initial sync")
        started = time.perf_counter()
        first = client.synchronize()
        seconds = time.perf_counter() - started
        report["initial_sync_rows"] = first.pulled_rows
        report["initial_sync_pages"] = first.pages
        report["initial_sync_seconds"] = round(seconds, 2)
        report["initial_sync_rows_per_second"] = round(first.pulled_rows / seconds) if seconds else None
        if first.pulled_rows == 0:
            raise ValueError("the initial sync brought no rows")

        # 3. Offline: a check at the gate with a photo (the photo row may be pushed before the upload).
        self._step("recording a check offline with a photo")
        data = probe_path.read_bytes()
        import hashlib

        sha256 = hashlib.sha256(data).hexdigest()
        now_ms = int(time.time() * 1000)
        check_id = client.store.create(
            "checks",
            {
                "id": str(uuid.uuid4()),
                "person_id": None,
                "personal_id_number_seen": None,
                "full_name_seen": None,
                "commune_code": None,
                "location_text": "Cửa khẩu Hữu Nghị, làn nhập cảnh 2",
                "latitude": None,
                "longitude": None,
                "captured_at": now_ms,
                "purpose": "BORDER_CROSSING",
                "result": "NO_HIT",
                "notes": "Người đi đường không mang giấy tờ tùy thân.",
            },
        )
        client.store.create(
            "photos",
            {
                "id": str(uuid.uuid4()),
                "record_table": "checks",
                "record_id": check_id,
                "sha256": sha256,
                "captured_at": now_ms,
                "kind": "subject",
            },
        )

        # 4. Back in coverage: push, then upload the photo with tus.
        self._step("pushing the check")
        pushed = client.synchronize()
        if pushed.rejected:
            raise ValueError(f"the server rejected records: {pushed.rejected}")
        report["pushed_rows"] = pushed.pushed_rows
        self._step("uploading the photo (tus)")
        started = time.perf_counter()
        client.upload_photo(data, metadata={"record_table": "checks", "record_id": check_id, "filename": "probe.jpg"})
        report["upload_seconds"] = round(time.perf_counter() - started, 2)

        # 5. Face search with a purpose and a case reference; wait for the device's alert.
        self._step("starting a face search")
        socket = _open_socket(options["server"], client.access_token or "")
        started = time.perf_counter()
        search = client.face_search_start(
            photo_sha256=sha256, purpose="border_check", case_reference=f"SIM-{time.strftime('%Y%m%d')}-{check_id[:8]}"
        )
        alerted = _wait_for_alert(socket, search["id"], timeout=options["timeout"]) if socket else False
        deadline = time.monotonic() + options["timeout"]
        result = client.face_search_get(search["id"])
        while result["status"] in {"queued", "running"}:
            if time.monotonic() > deadline:
                raise TimeoutError(f"face search {search['id']} still {result['status']}")
            time.sleep(0.3)
            result = client.face_search_get(search["id"])
        report["face_search_seconds"] = round(time.perf_counter() - started, 2)
        report["face_search_alert_received"] = alerted
        if result["status"] != "done":
            raise ValueError(f"face search ended {result['status']}: {result.get('error_code')}")
        after = client.synchronize()
        synced = client.store.table("face_candidates")
        report["gallery_version"] = result["gallery_version"]
        report["threshold"] = result["threshold"]
        report["candidates"] = len(result["candidates"])
        report["candidates_via_sync"] = len([c for c in synced.values() if c["face_search_id"] == search["id"]])
        report.update(candidates_summary(result["candidates"], expected_notice_id=expected_notice))
        report["final_pull_rows"] = after.pulled_rows
        if socket:
            socket.close()
        if not report["rank1_is_expected_wanted_notice"]:
            raise ValueError("the wanted person was not the rank-1 candidate")
        if report["candidates_via_sync"] != len(result["candidates"]):
            raise ValueError("the candidates did not all arrive through sync")


def candidates_summary(candidates: list[dict[str, Any]], *, expected_notice_id: str) -> dict[str, Any]:
    """The report's view of the first probe face's candidates.

    Every search returns its top-k candidates; `is_within_threshold` says whether a candidate's distance is
    within the gallery threshold. `expected_rank` is the rank of the wanted notice the probe photo belongs to
    (None when it is not among the candidates).
    """
    top = sorted((c for c in candidates if c["probe_face_index"] == 0), key=lambda c: c["rank"])
    expected_rank = next((c["rank"] for c in top if c["wanted_notice_id"] == expected_notice_id), None)
    return {
        "rank1_distance": round(top[0]["distance"], 4) if top else None,
        "rank1_within_threshold": top[0]["is_within_threshold"] if top else None,
        "rank1_is_expected_wanted_notice": expected_rank == 1,
        "expected_rank": expected_rank,
    }


def report_lines(report: dict[str, Any]) -> list[str]:
    """`key: value` lines with the keys right-aligned on the longest one."""
    width = max((len(key) for key in report), default=0)
    return [f"{key:>{width}}: {value}" for key, value in report.items()]


def _pick_probe() -> tuple[Path, str]:
    """The second photo of a wanted identity (never enrolled) and that notice's id."""
    mapping_path = Path(settings.DATA_DIR) / "demo_faces.json"
    if not mapping_path.exists():
        raise CommandError(f"{mapping_path} not found: seed_demo needs ../shared/data/faces to build the handbook")
    mapping: dict[str, Any] = json.loads(mapping_path.read_text(encoding="utf-8"))
    for notice_id, entry in sorted(mapping.items()):
        probes = entry.get("unused_probes") or []
        if probes and Path(probes[0]).exists():
            return Path(probes[0]), notice_id
    raise CommandError("no wanted identity with a spare photo in the demo handbook")


def _open_socket(server: str, token: str) -> Any:
    try:
        from websockets.sync.client import connect
    except ImportError:  # pragma: no cover - websockets is a dependency
        return None
    url = server.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/ws/v1/device"
    try:
        socket = connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10)
        hello = json.loads(socket.recv(timeout=10))
        return socket if hello.get("type") == "hello" else None
    except (OSError, TimeoutError, ValueError):
        return None


def _wait_for_alert(socket: Any, search_id: str, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        except (TimeoutError, OSError, ValueError):
            return False
        if message.get("type") == "alert" and message.get("search_id") == search_id:
            return True
    return False


def _require_server(server: str) -> None:
    """Raise ConnectionError (one line, what to do) when nothing answers HTTP at `server`."""
    try:
        httpx.get(f"{server.rstrip('/')}/", timeout=5.0)
    except httpx.TransportError as exc:
        raise ConnectionError(
            f"no fieldsync server answers at {server} ({exc}): start it with `make run` in another terminal "
            "(the same HOST and PORT as this command) and wait for 'fieldsync serving on'"
        ) from exc
