"""Run the real @nozbe/watermelondb client (clients/watermelon/scenario.mjs) from pytest.

`run_scenario` runs one whole scenario (full or pull-only mode) and parses its JSON lines;
`WatermelonDevice` keeps one Node process in driver mode, so a test can interleave server-side
writes with the device's own steps (sync, local edits, a pause just before a push).

Node 20 and `npm ci` in clients/watermelon are required: locally a test skips without them, in CI
(CI=true) it fails.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from django.conf import settings

from tests.conftest import IS_CI

CLIENT_DIR = Path(settings.BASE_DIR) / "clients" / "watermelon"
SCENARIO = CLIENT_DIR / "scenario.mjs"
ANSWER_SECONDS = 120.0


def require_node() -> str:
    """The `node` executable, after checking that the harness is installed (fail in CI, else skip)."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed (Node 20 is needed for the WatermelonDB client)"
    elif not (CLIENT_DIR / "node_modules" / "@nozbe" / "watermelondb" / "package.json").is_file():
        problem = f"{CLIENT_DIR}/node_modules is missing: run `cd clients/watermelon && npm ci` (or `make node-setup`)"
    if problem is not None:
        if IS_CI:
            pytest.fail(problem)
        pytest.skip(problem)
    assert node is not None
    return node


@dataclass(frozen=True)
class ScenarioRun:
    code: int
    lines: list[dict[str, Any]]
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        return self.lines[-1]

    def step(self, name: str) -> dict[str, Any]:
        return next(line for line in self.lines if line.get("step") == name)

    @property
    def failed_expectations(self) -> list[str]:
        return [line["name"] for line in self.lines if line.get("step") == "expect" and not line["ok"]]


def run_scenario(*, server_url: str, token: str, args: list[str], timeout_seconds: float = 180.0) -> ScenarioRun:
    node = require_node()
    completed = subprocess.run(
        [node, str(SCENARIO), "--server", server_url, f"--token={token}", *args],
        cwd=str(CLIENT_DIR),
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    assert lines, f"scenario printed nothing (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
    return ScenarioRun(code=completed.returncode, lines=lines, stderr=completed.stderr)


class WatermelonDevice:
    """One phone: a WatermelonDB database in a Node process, driven command by command."""

    def __init__(self, *, server_url: str, token: str, stderr_path: Path) -> None:
        node = require_node()
        self.stderr_path = stderr_path
        self._stderr: IO[str] = stderr_path.open("w")
        self.process = subprocess.Popen(
            [node, str(SCENARIO), "--mode", "driver", "--server", server_url, f"--token={token}"],
            cwd=str(CLIENT_DIR),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        ready = self.read()
        assert ready.get("step") == "ready", ready
        self.tables: list[str] = ready["tables"]

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def read(self) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=ANSWER_SECONDS)
        except queue.Empty:
            raise AssertionError(f"no answer from the WatermelonDB client in {ANSWER_SECONDS}s:\n{self.log()}")
        if line is None:
            raise AssertionError(f"the WatermelonDB client exited ({self.process.wait()}):\n{self.log()}")
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def send(self, op: str, **arguments: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **arguments}, ensure_ascii=False) + "\n")
        self.process.stdin.flush()

    def call(self, op: str, **arguments: Any) -> dict[str, Any]:
        """Run one command; fails the test if the client reports an error."""
        answer = self.try_call(op, **arguments)
        assert answer["ok"], f"{op} failed: {answer}\n{self.log()}"
        return answer

    def try_call(self, op: str, **arguments: Any) -> dict[str, Any]:
        self.send(op, **arguments)
        answer = self.read()
        assert answer.get("op") == op, answer
        return answer

    # --- conveniences ---------------------------------------------------------------------------
    def sync(self, **arguments: Any) -> dict[str, Any]:
        return self.call("sync", **arguments)

    def create(self, table: str, values: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = self.call("create", table=table, values=values)["record"]
        return record

    def update(self, table: str, record_id: str, values: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = self.call("update", table=table, id=record_id, values=values)["record"]
        return record

    def delete(self, table: str, record_id: str) -> None:
        self.call("delete", table=table, id=record_id)

    def find(self, table: str, record_id: str) -> dict[str, Any] | None:
        record: dict[str, Any] | None = self.call("find", table=table, id=record_id)["record"]
        return record

    def ids(self, table: str) -> set[str]:
        return {record["id"] for record in self.call("list", table=table)["records"]}

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.call("counts")["counts"]
        return counts

    def unsynced(self) -> bool:
        return bool(self.call("unsynced")["unsynced"])

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send("exit")
                self.process.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)
        self._stderr.close()

    def log(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def __enter__(self) -> WatermelonDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pushed_ids(sync: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Every id each push of a driver `sync` answer carried, per table and list (non-empty only)."""
    found: dict[str, dict[str, list[str]]] = {}
    for round_ in sync["rounds"]:
        for table, lists in ((round_["push"] or {}).get("ids") or {}).items():
            for name, ids in lists.items():
                if ids:
                    found.setdefault(table, {}).setdefault(name, []).extend(ids)
    return found


def pulled_ids(sync: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, list[str]]] = {}
    for round_ in sync["rounds"]:
        for table, lists in round_["pulled_ids"].items():
            for name, ids in lists.items():
                if ids:
                    found.setdefault(table, {}).setdefault(name, []).extend(ids)
    return found


def rejected_ids(sync: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for round_ in sync["rounds"]:
        response = (round_["push"] or {}).get("response") or {}
        for table, ids in (response.get("experimentalRejectedIds") or {}).items():
            if ids:
                found.setdefault(table, []).extend(ids)
    return found


def push_responses(sync: dict[str, Any]) -> list[dict[str, Any]]:
    return [round_["push"]["response"] for round_ in sync["rounds"] if round_["push"]]
