"""Appending a PATCH body to an upload's .part file: in order, off the request thread, mostly by direct I/O.

`services.AppendSession` hands each batch of body chunks to a `PartWriter` with the hashes it keeps (the
running sha256, an Upload-Checksum): the batch is staged and hashed on one lane and written on another,
on shared worker threads, while the request's thread receives the next batches, several batches in
flight (`services.PIPELINE_BATCHES`).

Where the filesystem allows it the writer opens the file a second time with O_DIRECT and writes the
aligned middle of the body from page-aligned staging buffers: the bytes go from a buffer to the disk
while the write call waits, instead of being copied into the page cache and flushed all at once by the
fsync that ends the PATCH. That copy and that flush were the largest costs of an upload after the
sha256 (bench/media_upload.py measures both ways). The few bytes before the first aligned offset and
after the last one are written through the ordinary descriptor. A filesystem without O_DIRECT, or one
that refuses an aligned direct write (EINVAL), gets ordinary writes for the rest of the session.

Bytes reach the file in order and `written_bytes` counts only bytes the kernel accepted, so after a
failed write (a full disk) the caller cuts the file back to exactly the bytes before it. A batch that
fails on its way to the disk (its staging buffer cannot be mapped, a hasher raises) fails the writer
the same way, once it is the disk lane's turn: no byte after a missing one is ever written.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Protocol

# Offset, length and buffer address of a direct write: the page size covers 512-byte and 4Kn disks.
DIRECT_ALIGN_BYTES = 4096
# A writer stages at most this many bytes per buffer and keeps at most STAGING_BUFFERS of them: one
# being hashed while the others wait for or go to the disk. Room for a whole batch (its gathered bytes
# plus the chunk that took it past an aligned end): a batch split over two buffers costs twice the
# hand-overs. Anonymous mappings: only the pages a batch fills are ever in memory.
STAGING_BUFFER_BYTES = 4 * 1024 * 1024
STAGING_BUFFERS = 3
# The staging lanes of every writer in the process share these threads (hashing is most of their work).
_stage_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="upload-stage")

Chunks = Sequence[bytes | memoryview]  # a batch of body chunks, in order


def chunks_bytes(chunks: Chunks) -> int:
    """The bytes in `chunks` (len() of a memoryview counts its items, which may be wider than a byte)."""
    return sum(memoryview(chunk).nbytes for chunk in chunks)


def _byte_views(chunks: Chunks) -> list[memoryview]:
    """`chunks` as flat views of bytes; raises TypeError for a view that is not contiguous."""
    return [memoryview(chunk).cast("B") for chunk in chunks]


class Hasher(Protocol):
    """What `hashlib` objects offer to a writer: `update` with the bytes, in order."""

    def update(self, data: memoryview, /) -> None: ...


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

    def add(self, chunk: bytes | memoryview) -> list[bytes | memoryview] | None:
        """Gather `chunk`; returns a batch once there is one."""
        if isinstance(chunk, memoryview):
            chunk = chunk.cast("B")  # counted and cut in bytes
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
    Calls queued back to back run in the same worker, one after the other (no hand-over to another
    thread, no wake-up, between them); after RUN_LENGTH of them the worker goes back to the pool and the
    lane queues itself again, so lanes sharing a pool take turns.
    The Futures cannot be cancelled: a caller that stops waiting (asyncio.wrap_future cancels what a
    cancelled task awaited) must not skip a queued call while the next ones run, nor make `wait`
    return before it has ended (a skipped write would leave a hole the file size counts).
    """

    RUN_LENGTH = 8

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._calls: deque[tuple[Callable[[], None], Future[None]]] = deque()
        self._is_scheduled = False  # a worker is running this lane's calls, or is queued to
        self._last: Future[None] | None = None

    def submit(self, call: Callable[[], None]) -> Future[None]:
        result: Future[None] = Future()
        result.set_running_or_notify_cancel()  # from now on cancel() refuses: the call will run
        with self._lock:
            self._calls.append((call, result))
            self._last = result
            is_idle, self._is_scheduled = not self._is_scheduled, True
        if is_idle:
            self._pool.submit(self._run)
        return result

    def wait(self) -> None:
        """Block until every call submitted so far has ended (their errors stay in their Futures)."""
        with self._lock:
            last = self._last
        if last is not None:
            with contextlib.suppress(BaseException):
                last.result()

    def _run(self) -> None:
        for _ in range(self.RUN_LENGTH):
            with self._lock:
                if not self._calls:
                    self._is_scheduled = False
                    return
                call, result = self._calls.popleft()
            try:
                call()
            except BaseException as error:
                result.set_exception(error)
            else:
                result.set_result(None)
        with self._lock:
            if not self._calls:
                self._is_scheduled = False
                return
        self._pool.submit(self._run)  # more queued: the lane's turn again, after the others queued meanwhile


class PartWriter:
    """Writes batches of bytes to a file at consecutive offsets from `start_bytes`, in order, hashing them
    on the way.

    Two lanes per writer. The staging lane (on a small pool of its own) copies the aligned middle of each
    batch into one of a few page-aligned buffers and feeds the batch's bytes, in order, to the batch's
    hashers (the middle from that buffer, just copied and still in the CPU cache, one call per buffer);
    the disk lane (on `pool`) writes them: the middle by direct I/O from the buffer, the unaligned head
    and tail through the ordinary descriptor, then gives the buffer back. So the next batch is staged
    and hashed while this one goes to the disk, and each byte is read from memory by Python's side once.
    The staging lane may wait for a free buffer (that is, for the disk lane); the disk lane never waits
    for staging, so two writers sharing pools cannot hold each other up for good.

    `descriptor` stays the caller's (it carries the upload's lock); the direct-I/O descriptor, if any,
    is this writer's and `close()` releases it after the last write.
    """

    def __init__(self, *, descriptor: int, path: Path, start_bytes: int, pool: ThreadPoolExecutor) -> None:
        self.descriptor = descriptor
        self.start_bytes = start_bytes
        self.written_bytes = 0  # bytes the kernel accepted, from start_bytes on; only the disk lane adds
        self.failure: BaseException | None = None  # the first write error; later batches are not written
        self._is_failing = False  # a batch failed on the staging lane: every later one fails with it
        self._staging = Lane(_stage_pool)
        self._disk = Lane(pool)
        self._submitted_bytes = 0
        self._direct = _open_direct(path)
        self._free_buffers: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        self._buffers_made = 0
        self._is_closed = False

    @property
    def is_direct(self) -> bool:
        """Whether the next aligned bytes go to the disk directly (False: the filesystem has no O_DIRECT)."""
        return self._direct is not None

    @property
    def submitted_bytes(self) -> int:
        return self._submitted_bytes

    def submit(
        self, chunks: Chunks, *, on_error: Callable[[BaseException], BaseException], hashers: Sequence[Hasher] = ()
    ) -> Future[None]:
        """Queue `chunks` for the next offset; `hashers` get its bytes, in order, before it is written.

        The Future (it cannot be cancelled) ends once the batch is in the file. It raises
        `on_error(error)` (called once, on the disk lane's thread once every earlier write has ended, for
        the first failure: a failed write, or a batch that could not be staged; it may cut the file back;
        if it raises, what it raised is the failure) or that first failure again for every later batch."""
        views = _byte_views(chunks)  # a view it cannot write raises here, before anything is queued
        offset = self.start_bytes + self._submitted_bytes
        self._submitted_bytes += sum(len(view) for view in views)
        done: Future[None] = Future()
        done.set_running_or_notify_cancel()

        def stage() -> None:
            try:
                if self.failure is not None:
                    raise self.failure  # nothing more is written after a failed write: no need to hash it
                if self._is_failing:  # the failure of a batch before, once the disk lane has it
                    last = self._queue_write(_nothing, on_error)
                else:
                    try:
                        last = self._stage(views, offset, hashers, on_error)
                    except BaseException as error:
                        # Not staged (its writes queued so far go first): the disk lane fails the writer
                        # after them, so no later batch is written past the bytes missing here.
                        self._is_failing = True
                        last = self._disk.submit(partial(self._fail, error, on_error))
            except BaseException as error:
                done.set_exception(error)
                raise
            last.add_done_callback(lambda written: _copy_outcome(written, done))

        self._staging.submit(stage)
        return done

    def wait(self) -> None:
        """Block until every batch submitted so far has been hashed and written (or failed)."""
        self._staging.wait()  # a staged batch has queued its writes: the disk lane's last is the batch's
        self._disk.wait()

    def close(self) -> None:
        """Wait for the queued batches, then release the direct descriptor and the buffers. Idempotent."""
        self.wait()
        if self._direct is not None:
            os.close(self._direct)
            self._direct = None
        self._is_closed = True
        while not self._free_buffers.empty():  # unmapped with their last view (a traceback may hold one)
            self._free_buffers.get()

    def _stage(
        self,
        chunks: list[memoryview],
        offset: int,
        hashers: Sequence[Hasher],
        on_error: Callable[[BaseException], BaseException],
    ) -> Future[None]:
        """On the staging lane: hash the batch (flat byte views) and queue its writes; returns the Future
        of its last write."""
        views = deque(chunk for chunk in chunks if chunk)
        remaining = sum(len(view) for view in views)
        position = offset
        last: Future[None] | None = None
        if self._direct is not None:
            head_bytes = min(-position % DIRECT_ALIGN_BYTES, remaining)
            if head_bytes:
                head = _take(views, head_bytes)
                _hash(hashers, head)
                last = self._queue_write(partial(self._write_buffered, head, position), on_error)
                position += head_bytes
                remaining -= head_bytes
            while remaining >= DIRECT_ALIGN_BYTES:
                count = min(STAGING_BUFFER_BYTES, remaining - remaining % DIRECT_ALIGN_BYTES)
                buffer = self._buffer()
                staged = memoryview(buffer)[:count]
                try:
                    filled = 0
                    for piece in _take(views, count):
                        staged[filled : filled + len(piece)] = piece
                        filled += len(piece)
                    _hash(hashers, [staged])
                except BaseException:
                    self._give_back(buffer, staged)  # the staging lane may wait for it later
                    raise
                last = self._queue_write(
                    partial(self._write_direct, staged, position), on_error, staged=(buffer, staged)
                )
                position += count
                remaining -= count
        if views:
            tail = list(views)
            _hash(hashers, tail)
            last = self._queue_write(partial(self._write_buffered, tail, position), on_error)
        if last is None:  # an empty batch: nothing to write, ready once the writes before it are
            last = self._queue_write(_nothing, on_error)
        return last

    def _buffer(self) -> mmap.mmap:
        """A free staging buffer: a new one while fewer than STAGING_BUFFERS exist, else the next given back."""
        if self._free_buffers.empty() and self._buffers_made < STAGING_BUFFERS:
            buffer = mmap.mmap(-1, STAGING_BUFFER_BYTES)  # anonymous: page aligned
            self._buffers_made += 1
            return buffer
        return self._free_buffers.get()  # waits for the disk lane to finish with one

    def _queue_write(
        self,
        write: Callable[[], None],
        on_error: Callable[[BaseException], BaseException],
        *,
        staged: tuple[mmap.mmap, memoryview] | None = None,
    ) -> Future[None]:
        """Queue `write` on the disk lane; `staged`, the buffer it writes from, is given back afterwards
        (also when it is skipped after a failure: the staging lane may be waiting for it)."""

        def run() -> None:
            try:
                if self.failure is not None:
                    raise self.failure
                try:
                    write()
                except BaseException as error:
                    self._fail(error, on_error)
            finally:
                if staged is not None:
                    self._give_back(*staged)

        return self._disk.submit(run)

    def _fail(self, error: BaseException, on_error: Callable[[BaseException], BaseException]) -> None:
        """On the disk lane, every earlier write ended: the writer's first failure, through `on_error` once.

        Whatever `on_error` raises is the failure instead: the writer fails all the same."""
        if self.failure is not None:
            raise self.failure
        try:
            self.failure = on_error(error)
        except BaseException as raised:
            self.failure = raised
        raise self.failure from error

    def _write_direct(self, staged: memoryview, position: int) -> None:
        """On the disk lane: `staged` (aligned, in a staging buffer) at `position`, directly when possible."""
        direct = self._direct
        if direct is None:
            self._write_buffered([staged], position)
            return
        count, written = len(staged), 0
        while written < count:
            try:
                accepted = os.pwrite(direct, staged[written:], position + written)
            except OSError as error:
                if error.errno != errno.EINVAL or written % DIRECT_ALIGN_BYTES:
                    raise
                self._give_up_direct()  # this filesystem refuses direct writes: ordinary ones from here
                self._write_buffered([staged[written:]], position + written)
                return
            if accepted <= 0:
                raise OSError(errno.EIO, "direct write accepted no bytes")
            written += accepted
            self.written_bytes += accepted
            if accepted % DIRECT_ALIGN_BYTES:  # a short write (the disk filled up): the rest ordinary
                self._write_buffered([staged[written:]], position + written)
                return

    def _write_buffered(self, pieces: Iterable[memoryview], position: int) -> None:
        """On the disk lane: `pieces` at `position` through the caller's descriptor."""
        start = position
        for piece in pieces:
            view = piece
            while view:
                accepted = os.pwrite(self.descriptor, view, position)
                if accepted <= 0:  # no progress: retrying would spin for good (with the upload's lock held)
                    raise OSError(errno.EIO, "write accepted no bytes")
                view = view[accepted:]
                position += accepted
                self.written_bytes += accepted
        if self._direct is None:
            _start_writeback(self.descriptor, start, position - start)

    def _give_back(self, buffer: mmap.mmap, view: memoryview) -> None:
        view.release()
        if not self._is_closed:
            self._free_buffers.put(buffer)

    def _give_up_direct(self) -> None:
        if self._direct is not None:
            os.close(self._direct)
            self._direct = None


def _nothing() -> None:
    """The disk lane's part of an empty batch (or of one after a staging failure): its place in the order."""


def _hash(hashers: Sequence[Hasher], pieces: Iterable[memoryview]) -> None:
    for piece in pieces:
        for hasher in hashers:
            hasher.update(piece)


def _copy_outcome(source: Future[None], target: Future[None]) -> None:
    error = source.exception()
    if error is None:
        target.set_result(None)
    else:
        target.set_exception(error)


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
