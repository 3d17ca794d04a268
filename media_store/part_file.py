"""Appending a PATCH body to an upload's .part file: in order, off the request thread, mostly by direct I/O.

`services.AppendSession` hands each batch of body chunks to a `PartWriter` (written at the next offset)
and to a hashing `Lane` (the running sha256); both run on shared worker threads while the request's
thread receives the next batches, several batches in flight (`services.PIPELINE_BATCHES`).

Where the filesystem allows it the writer opens the file a second time with O_DIRECT and writes the
aligned middle of the body from one page-aligned buffer: the bytes go from that buffer to the disk
while the write call waits, instead of being copied into the page cache and flushed all at once by the
fsync that ends the PATCH. That copy and that flush were the largest costs of an upload after the
sha256 (bench/media_upload.py measures both ways). The few bytes before the first aligned offset and
after the last one are written through the ordinary descriptor. A filesystem without O_DIRECT, or one
that refuses an aligned direct write (EINVAL), gets ordinary writes for the rest of the session.

Bytes reach the file in order and `written_bytes` counts only bytes the kernel accepted, so after a
failed write (a full disk) the caller cuts the file back to exactly the bytes before it.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

# Offset, length and buffer address of a direct write: the page size covers 512-byte and 4Kn disks.
DIRECT_ALIGN_BYTES = 4096
_DIRECT_BUFFER_BYTES = 1024 * 1024

Chunks = Sequence[bytes | memoryview]  # a batch of body chunks, in order


class Batches:
    """Gathers body chunks, as they arrive, into batches of at least `batch_bytes` that end on an aligned
    file offset (the bytes past it start the next batch), so that a whole batch can be written directly.

    `next_offset()`: the file offset the next batch will be written at.
    """

    def __init__(self, *, batch_bytes: int, next_offset: Callable[[], int]) -> None:
        self._batch_bytes = batch_bytes
        self._next_offset = next_offset
        self._chunks: list[bytes | memoryview] = []
        self._gathered = 0

    @property
    def gathered_bytes(self) -> int:
        return self._gathered

    def add(self, chunk: bytes) -> list[bytes | memoryview] | None:
        """Gather `chunk`; returns a batch once there is one."""
        if chunk:
            self._chunks.append(chunk)
            self._gathered += len(chunk)
        if self._gathered < self._batch_bytes:
            return None
        carry = (self._next_offset() + self._gathered) % DIRECT_ALIGN_BYTES
        last = memoryview(self._chunks[-1])
        if carry >= len(last):
            return None  # a small last chunk: the next ones complete the aligned end
        batch = [*self._chunks[:-1], last[: len(last) - carry]]
        self._chunks, self._gathered = ([last[len(last) - carry :]], carry) if carry else ([], 0)
        return batch

    def rest(self) -> list[bytes | memoryview] | None:
        """The bytes gathered and not yet returned (the end of the body), if any."""
        batch, self._chunks, self._gathered = self._chunks, [], 0
        return batch or None


class Lane:
    """Runs the calls submitted to it one at a time, in submission order, on a shared thread pool.

    Each call's Future carries its result or exception. A call starts only after the previous one
    ended (well or not); the callers decide what a failure means for the calls after it.
    The Futures cannot be cancelled: a caller that stops waiting (asyncio.wrap_future cancels what a
    cancelled task awaited) must not skip a queued call while the next ones run, nor make `wait`
    return before it has ended (a skipped write would leave a hole the file size counts).
    """

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._last: Future[None] | None = None

    def submit(self, call: Callable[[], None]) -> Future[None]:
        result: Future[None] = Future()
        result.set_running_or_notify_cancel()  # from now on cancel() refuses: the call will run

        def run(_: object = None) -> None:
            try:
                call()
            except BaseException as error:
                result.set_exception(error)
            else:
                result.set_result(None)

        with self._lock:
            previous, self._last = self._last, result
        if previous is None:
            self._pool.submit(run)
        else:
            previous.add_done_callback(lambda _: self._pool.submit(run))
        return result

    def wait(self) -> None:
        """Block until every call submitted so far has ended (their errors stay in their Futures)."""
        with self._lock:
            last = self._last
        if last is not None:
            with contextlib.suppress(BaseException):
                last.result()


class PartWriter:
    """Writes batches of bytes to a file at consecutive offsets from `start_bytes`, in order, on `pool`.

    `descriptor` stays the caller's (it carries the upload's lock); the direct-I/O descriptor, if any,
    is this writer's and `close()` releases it after the last write.
    """

    def __init__(self, *, descriptor: int, path: Path, start_bytes: int, pool: ThreadPoolExecutor) -> None:
        self.descriptor = descriptor
        self.start_bytes = start_bytes
        self.written_bytes = 0  # bytes the kernel accepted, from start_bytes on; only the lane's thread adds
        self.failure: BaseException | None = None  # the first write error; later batches are not written
        self._lane = Lane(pool)
        self._submitted_bytes = 0
        self._direct = _open_direct(path)
        self._buffer: mmap.mmap | None = None

    @property
    def is_direct(self) -> bool:
        """Whether the next aligned bytes go to the disk directly (False: the filesystem has no O_DIRECT)."""
        return self._direct is not None

    @property
    def submitted_bytes(self) -> int:
        return self._submitted_bytes

    def submit(self, chunks: Chunks, *, on_error: Callable[[OSError], BaseException]) -> Future[None]:
        """Queue `chunks` for the next offset. The Future raises `on_error(error)` (called once, on the
        writing thread, for the first failed write: it may cut the file back) or the first failure again."""
        offset = self.start_bytes + self._submitted_bytes
        self._submitted_bytes += sum(len(chunk) for chunk in chunks)

        def write() -> None:
            if self.failure is not None:
                raise self.failure
            try:
                self._write(chunks, offset)
            except OSError as error:
                self.failure = on_error(error)
                raise self.failure from error

        return self._lane.submit(write)

    def wait(self) -> None:
        self._lane.wait()

    def close(self) -> None:
        """Wait for the queued writes, then release the direct descriptor and the buffer. Idempotent."""
        self._lane.wait()
        if self._direct is not None:
            os.close(self._direct)
            self._direct = None
        self._buffer = None  # unmapped with its last view (a traceback may still hold one)

    def _write(self, chunks: Chunks, offset: int) -> None:
        views = deque(memoryview(chunk).cast("B") for chunk in chunks if chunk)
        remaining = sum(len(view) for view in views)
        position = offset
        if self._direct is not None:
            head = min(-position % DIRECT_ALIGN_BYTES, remaining)
            position = self._write_buffered(_take(views, head), position)
            remaining -= head
            while self._direct is not None and remaining >= DIRECT_ALIGN_BYTES:
                count = min(_DIRECT_BUFFER_BYTES, remaining - remaining % DIRECT_ALIGN_BYTES)
                position = self._write_direct(self._direct, _take(views, count), position, count)
                remaining -= count
        end = self._write_buffered(list(views), position)
        if self._direct is None:
            _start_writeback(self.descriptor, offset, end - offset)

    def _write_direct(self, direct: int, pieces: list[memoryview], position: int, count: int) -> int:
        if self._buffer is None:
            self._buffer = mmap.mmap(-1, _DIRECT_BUFFER_BYTES)  # anonymous: page aligned
        staging = memoryview(self._buffer)
        try:
            filled = 0
            for piece in pieces:
                staging[filled : filled + len(piece)] = piece
                filled += len(piece)
            written = 0
            while written < count:
                try:
                    accepted = os.pwrite(direct, staging[written:count], position + written)
                except OSError as error:
                    if error.errno != errno.EINVAL or written % DIRECT_ALIGN_BYTES:
                        raise
                    self._give_up_direct()  # this filesystem refuses direct writes: ordinary ones from here
                    return self._write_buffered([staging[written:count]], position + written)
                if accepted <= 0:
                    raise OSError(errno.EIO, "direct write accepted no bytes")
                written += accepted
                self.written_bytes += accepted
                if accepted % DIRECT_ALIGN_BYTES:  # a short write (the disk filled up): the rest ordinary
                    return self._write_buffered([staging[written:count]], position + written)
            return position + count
        finally:
            staging.release()

    def _write_buffered(self, pieces: Iterable[memoryview], position: int) -> int:
        for piece in pieces:
            view = piece
            while view:
                accepted = os.pwrite(self.descriptor, view, position)
                view = view[accepted:]
                position += accepted
                self.written_bytes += accepted
        return position

    def _give_up_direct(self) -> None:
        if self._direct is not None:
            os.close(self._direct)
            self._direct = None


def _start_writeback(descriptor: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a just-written range to disk, without waiting for it.

    Linux starts asynchronous writeback of the range's dirty pages on POSIX_FADV_DONTNEED (pages
    still dirty are kept in the cache), so without direct I/O the fsync at the end of the PATCH has
    little left to do instead of flushing the whole body at once. A hint only: elsewhere it may do nothing.
    """
    if length > 0 and hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(descriptor, offset, length, os.POSIX_FADV_DONTNEED)


def _open_direct(path: Path) -> int | None:
    """A second, O_DIRECT descriptor on `path`, or None where the platform or filesystem has none."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, os.O_WRONLY | flag)
    except OSError:
        return None


def _take(views: deque[memoryview], count: int) -> list[memoryview]:
    """Remove the first `count` bytes from `views` and return them as views (nothing is copied)."""
    taken: list[memoryview] = []
    while count > 0:
        view = views.popleft()
        if len(view) > count:
            taken.append(view[:count])
            views.appendleft(view[count:])
            break
        taken.append(view)
        count -= len(view)
    return taken
