"""Progress bars for management commands that stay readable in logs.

On a terminal `progress_bar` is a plain tqdm bar. When its stream is not a terminal (a log file, `make run`
piped to `tee`, systemd, CI) a redrawn bar would become one ever-growing line joined by carriage returns, so
it prints a start line, a progress line at most every `log_interval_seconds`, and an end line instead.

Use it instead of `tqdm(...)` everywhere in the project.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any, TypeVar, overload

from tqdm import tqdm

T = TypeVar("T")

LOG_INTERVAL_SECONDS = 30.0
_START_FORMAT = "{desc}: started"
_PROGRESS_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}, {rate_fmt}{postfix}]"
_END_FORMAT = "{desc}: done, {n_fmt} {unit} in {elapsed} ({rate_fmt}{postfix})"


class _LineStream:
    """A text stream for tqdm that turns each redraw (`\\r...`) into one complete line."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.encoding = getattr(stream, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        for part in text.replace("\r", "\n").split("\n"):
            line = part.strip()
            if line:
                self._stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False


class _LogProgress(tqdm):  # type: ignore[type-arg]  # generic over the wrapped iterable, like tqdm
    """tqdm writing whole lines: a start line at creation, throttled progress lines, an end line at close."""

    def __init__(self, iterable: Any, **kwargs: Any) -> None:
        super().__init__(iterable, bar_format=_START_FORMAT, **kwargs)  # the first display is the start line
        self.bar_format = _PROGRESS_FORMAT

    def close(self) -> None:
        if not self.disable:
            self.bar_format = _END_FORMAT
        super().close()


def _stream_of(file: Any) -> IO[str]:
    # Django's OutputWrapper (`self.stderr` of a command) appends a newline to every write: use its stream.
    return getattr(file, "_out", file) if file is not None else sys.stderr


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@overload
def progress_bar(
    iterable: Iterable[T],
    *,
    desc: str,
    unit: str = ...,
    total: float | None = ...,
    file: Any = ...,
    disable: bool = ...,
    leave: bool = ...,
    log_interval_seconds: float = ...,
) -> tqdm[T]: ...


@overload
def progress_bar(
    iterable: None = ...,
    *,
    desc: str,
    unit: str = ...,
    total: float | None = ...,
    file: Any = ...,
    disable: bool = ...,
    leave: bool = ...,
    log_interval_seconds: float = ...,
) -> tqdm[Any]: ...


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    desc: str,
    unit: str = "it",
    total: float | None = None,
    file: Any = None,
    disable: bool = False,
    leave: bool = True,
    log_interval_seconds: float = LOG_INTERVAL_SECONDS,
) -> tqdm[Any]:
    """A tqdm bar on `file` (default: stderr) that degrades to a few log lines when `file` is not a terminal.

    `disable=True` prints nothing at all (a command's `--no-progress`). `leave` only applies on a terminal:
    in a log the end line is always kept.
    """
    stream = _stream_of(file)
    if _is_terminal(stream):
        return tqdm(iterable, desc=desc, unit=unit, total=total, file=stream, disable=disable, leave=leave)
    return _LogProgress(
        iterable,
        desc=desc,
        unit=unit,
        total=total,
        file=_LineStream(stream),
        disable=disable,
        leave=True,
        mininterval=log_interval_seconds,
        maxinterval=log_interval_seconds,
        miniters=1,
        dynamic_ncols=False,
    )
