from __future__ import annotations

import io
import re

from django.core.management import call_command
from django.core.management.base import OutputWrapper

from backend.core.progress import progress_bar


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_log_stream_prints_a_start_and_an_end_line_and_no_carriage_return() -> None:
    log = io.StringIO()

    for _ in progress_bar(range(5000), desc="gallery", unit="photo", file=log):
        pass

    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert lines[0] == "gallery: started"
    assert re.fullmatch(r"gallery: done, 5000 photo in 00:00 \(.+photo/s\)", lines[1])
    assert len(lines) == 2


def test_a_bar_on_a_log_stream_prints_whole_progress_lines_at_most_once_per_interval() -> None:
    log = io.StringIO()

    with progress_bar(desc="registry", unit="row", file=log, log_interval_seconds=3600) as bar:
        bar.total = 300
        for _ in range(300):
            bar.update(1)

    assert [line.split(" [")[0].split(" in ")[0] for line in log.getvalue().splitlines()] == [
        "registry: started",
        "registry: done, 300 row",
    ]


def test_a_bar_through_a_commands_output_wrapper_writes_to_the_wrapped_stream() -> None:
    log = io.StringIO()

    with progress_bar(desc="seed", unit="rec", file=OutputWrapper(log)) as bar:
        bar.update(3)

    assert log.getvalue().splitlines()[0] == "seed: started"
    assert log.getvalue().splitlines()[1].startswith("seed: done, 3 rec in ")


def test_a_disabled_bar_prints_nothing() -> None:
    log = io.StringIO()

    with progress_bar(desc="registry", unit="row", file=log, disable=True) as bar:
        bar.update(10)

    assert log.getvalue() == ""


def test_a_bar_on_a_terminal_is_redrawn_in_place() -> None:
    terminal = TerminalStream()

    for _ in progress_bar(range(3), desc="gallery", unit="photo", file=terminal):
        pass

    assert terminal.getvalue().startswith("\rgallery:")
    assert terminal.getvalue().count("\n") == 1  # the kept final bar


def test_faces_gallery_sync_logs_its_progress_as_lines(db: None) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("faces_gallery_sync", stdout=stdout, stderr=stderr)

    assert stderr.getvalue().splitlines()[0] == "face gallery: started"
    assert stderr.getvalue().splitlines()[1].startswith("face gallery: done, 0 photo in ")
    assert "\r" not in stderr.getvalue()
    assert stdout.getvalue() == "gallery v0: 0 enrolled, 0 failed to enrol, 0 retired\n"
