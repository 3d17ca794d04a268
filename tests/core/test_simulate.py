"""The `simulate` command's report (the shift itself needs a running, seeded server: `make simulate`)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from backend.core.management.commands.simulate import candidates_summary, report_lines


def _candidate(*, face: int, rank: int, notice: str, distance: float, within: bool) -> dict[str, Any]:
    return {
        "probe_face_index": face,
        "rank": rank,
        "wanted_notice_id": notice,
        "distance": distance,
        "is_within_threshold": within,
    }


def test_the_summary_gives_the_rank_of_the_expected_notice_when_it_is_not_first() -> None:
    candidates = [
        _candidate(face=0, rank=2, notice="expected", distance=0.47, within=False),
        _candidate(face=0, rank=1, notice="other", distance=0.452341, within=False),
        _candidate(face=1, rank=1, notice="expected", distance=0.2, within=True),
    ]

    summary = candidates_summary(candidates, expected_notice_id="expected")

    assert summary == {
        "rank1_distance": 0.4523,
        "rank1_within_threshold": False,
        "rank1_is_expected_wanted_notice": False,
        "expected_rank": 2,
    }


def test_the_summary_of_a_rank1_match_within_the_threshold() -> None:
    candidates = [
        _candidate(face=0, rank=1, notice="expected", distance=0.31, within=True),
        _candidate(face=0, rank=2, notice="other", distance=0.5, within=False),
    ]

    summary = candidates_summary(candidates, expected_notice_id="expected")

    assert summary == {
        "rank1_distance": 0.31,
        "rank1_within_threshold": True,
        "rank1_is_expected_wanted_notice": True,
        "expected_rank": 1,
    }


def test_the_summary_without_candidates_has_no_rank() -> None:
    summary = candidates_summary([], expected_notice_id="expected")

    assert summary == {
        "rank1_distance": None,
        "rank1_within_threshold": None,
        "rank1_is_expected_wanted_notice": False,
        "expected_rank": None,
    }


def test_report_lines_align_every_value_on_the_longest_key() -> None:
    lines = report_lines({"ok": True, "rank1_is_expected_wanted_notice": True, "enroll_seconds": 0.41})

    assert lines == [
        "                             ok: True",
        "rank1_is_expected_wanted_notice: True",
        "                 enroll_seconds: 0.41",
    ]


def test_simulate_without_a_server_says_so_in_one_line_instead_of_a_traceback(db: None) -> None:
    # `make simulate` with the server on another port (or not started): a new user got 77 lines of
    # httpx traceback. The error says where nothing answered and what to do.
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from tests.conftest import make_officer, make_unit
    from tests.media_store.live import free_port

    make_officer(username="patrol.huunghi", unit=make_unit(code="HN"))
    server = f"http://127.0.0.1:{free_port()}"
    printed = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("simulate", "--server", server, stdout=printed, stderr=io.StringIO())

    message = str(raised.value)
    assert f"no fieldsync server answers at {server}" in message
    assert "make run" in message
    assert "ok" in printed.getvalue() and "error" in printed.getvalue()  # the report is still printed
