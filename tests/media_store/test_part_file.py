"""The .part file writer: batches written in order off the caller's thread, aligned bytes by direct I/O."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

from media_store import part_file
from media_store.errors import StorageFull
from media_store.part_file import DIRECT_ALIGN_BYTES, Batches, Lane, PartWriter
from tests.media_store.factories import pwrite_filling_the_disk_after


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def open_part(tmp_path: Path, prefix: bytes = b"") -> tuple[Path, int]:
    path = tmp_path / "upload.part"
    path.write_bytes(prefix)
    return path, os.open(path, os.O_RDWR)


def cutting_back(
    writer: PartWriter, descriptor: int
) -> tuple[Callable[[BaseException], BaseException], list[BaseException]]:
    """An `on_error` doing what AppendSession's does (the file cut back to the bytes written, StorageFull),
    and the list of the errors it was called with."""
    failures: list[BaseException] = []

    def on_error(error: BaseException) -> BaseException:
        failures.append(error)
        os.ftruncate(descriptor, writer.start_bytes + writer.written_bytes)
        return StorageFull(details={"offset_bytes": writer.start_bytes + writer.written_bytes})

    return on_error, failures


def batches(data: bytes, seed: int) -> list[list[bytes | memoryview]]:
    """`data` cut into batches of 1 to 5 chunks of assorted sizes: tiny, unaligned, empty, over 1 MiB."""
    rng = random.Random(seed)
    sizes = [0, 1, 7, 4095, 4096, 4097, 65_536, 262_144, 1_048_576 + 3, 2_500_000]
    result: list[list[bytes | memoryview]] = []
    position = 0
    while position < len(data):
        batch: list[bytes | memoryview] = []
        for _ in range(rng.randint(1, 5)):
            size = rng.choice(sizes)
            piece = data[position : position + size]
            batch.append(memoryview(piece) if rng.random() < 0.3 else piece)
            position += len(piece)
        result.append(batch)
    return result


@pytest.mark.parametrize("start_bytes", [0, 4096, 12_345], ids=["start_0", "start_aligned", "start_unaligned"])
def test_batches_submitted_without_waiting_land_in_order_and_aligned_bytes_go_direct(
    tmp_path: Path, pool: ThreadPoolExecutor, start_bytes: int
) -> None:
    prefix = os.urandom(start_bytes)
    data = os.urandom(9 * 1024 * 1024 + 777)
    path, descriptor = open_part(tmp_path, prefix)
    writer = PartWriter(descriptor=descriptor, path=path, start_bytes=start_bytes, pool=pool)
    running, checksum = hashlib.sha256(), hashlib.sha1()
    try:
        assert writer.is_direct  # ext4 and tmpfs here take O_DIRECT: the fast path is the one tested
        futures = [
            writer.submit(batch, on_error=lambda error: error, hashers=[running, checksum])
            for batch in batches(data, seed=start_bytes)
        ]
        for future in futures:
            future.result()
        assert writer.is_direct  # every aligned write was accepted directly
        assert writer.written_bytes == writer.submitted_bytes == len(data)
    finally:
        writer.close()
        os.close(descriptor)
    assert path.read_bytes() == prefix + data
    # Each hasher saw every byte once, in order (heads and tails from the chunks, middles from the buffers).
    assert running.hexdigest() == hashlib.sha256(data).hexdigest()
    assert checksum.hexdigest() == hashlib.sha1(data).hexdigest()


def test_more_batches_than_staging_buffers_behind_a_busy_disk_pool_all_land_hashed_in_order(tmp_path: Path) -> None:
    # The staging lane waits for a buffer the disk lane gives back; the disk lane never waits for staging.
    # With every disk thread busy, the staging lane fills its few buffers and waits; nothing is lost or
    # reordered once the disk threads are free, and no buffer beyond the limit is made meanwhile.
    path, descriptor = open_part(tmp_path)
    data = os.urandom(5 * part_file.STAGING_BUFFERS * part_file.STAGING_BUFFER_BYTES + 12_345)
    running = hashlib.sha256()
    with ThreadPoolExecutor(max_workers=1) as busy_pool:
        gate = threading.Event()
        busy_pool.submit(gate.wait)
        writer = PartWriter(descriptor=descriptor, path=path, start_bytes=0, pool=busy_pool)
        step = part_file.STAGING_BUFFER_BYTES + 4096  # two buffers a batch: the staging lane has to wait
        futures = [
            writer.submit([data[start : start + step]], on_error=lambda error: error, hashers=[running])
            for start in range(0, len(data), step)
        ]
        time.sleep(0.2)  # the staging lane runs ahead until its buffers are all queued for the disk
        assert writer._buffers_made == part_file.STAGING_BUFFERS
        assert not any(future.done() for future in futures)
        gate.set()
        for future in futures:
            future.result()
        writer.close()
    os.close(descriptor)
    assert writer._buffers_made == part_file.STAGING_BUFFERS
    assert path.read_bytes() == data
    assert running.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_filesystem_refusing_direct_writes_gets_ordinary_ones_with_the_same_bytes(
    tmp_path: Path, pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, descriptor = open_part(tmp_path)
    writer = PartWriter(descriptor=descriptor, path=path, start_bytes=0, pool=pool)
    real_pwrite = os.pwrite
    refused: list[int] = []

    def pwrite(fd: int, data: memoryview, offset: int) -> int:
        if fd != descriptor:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")  # what a filesystem without direct I/O answers
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(part_file.os, "pwrite", pwrite)
    data = os.urandom(3 * 1024 * 1024 + 5)
    try:
        for batch in batches(data, seed=7):
            writer.submit(batch, on_error=lambda error: error).result()
        assert len(refused) == 1  # tried once, then ordinary writes for the rest of the session
        assert not writer.is_direct
    finally:
        writer.close()
        os.close(descriptor)
    assert path.read_bytes() == data


def test_after_a_failed_write_later_batches_are_not_written_and_raise_the_same_error(
    tmp_path: Path, pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, descriptor = open_part(tmp_path)
    writer = PartWriter(descriptor=descriptor, path=path, start_bytes=0, pool=pool)
    failures: list[OSError] = []

    def on_error(error: OSError) -> BaseException:
        failures.append(error)
        return StorageFull(details={"offset_bytes": writer.written_bytes})

    monkeypatch.setattr(part_file.os, "pwrite", pwrite_filling_the_disk_after(2 * 1024 * 1024))
    data = os.urandom(6 * 1024 * 1024)
    megabyte = 1024 * 1024
    futures = [
        writer.submit([data[start : start + megabyte]], on_error=on_error) for start in range(0, len(data), megabyte)
    ]
    outcomes = []
    for future in futures:
        try:
            future.result()
            outcomes.append("written")
        except StorageFull as error:
            outcomes.append(error.details["offset_bytes"])
    writer.close()
    os.close(descriptor)
    assert outcomes == ["written", "written", 2 * megabyte, 2 * megabyte, 2 * megabyte, 2 * megabyte]
    assert len(failures) == 1 and failures[0].errno == errno.ENOSPC
    assert writer.written_bytes == 2 * megabyte
    assert path.read_bytes() == data[: 2 * megabyte]


def test_a_lane_runs_its_calls_one_at_a_time_in_order_on_a_wide_pool() -> None:
    log: list[int] = []
    running = threading.Semaphore(1)
    overlaps: list[int] = []

    def call(index: int) -> None:
        if not running.acquire(blocking=False):
            overlaps.append(index)
            return
        try:
            time.sleep(0.0005 * (index % 3))  # uneven durations: a later call would overtake if it could start
            log.append(index)
        finally:
            running.release()

    with ThreadPoolExecutor(max_workers=8) as executor:
        lane = Lane(executor)
        futures = [lane.submit(partial(call, index)) for index in range(200)]
        for future in futures:
            future.result()
    assert overlaps == []
    assert log == list(range(200))


def test_a_failing_call_does_not_stop_the_lane() -> None:
    with ThreadPoolExecutor(max_workers=2) as executor:
        lane = Lane(executor)
        ran: list[str] = []

        def fail() -> None:
            raise ValueError("first")

        first = lane.submit(fail)
        second = lane.submit(lambda: ran.append("second"))
        second.result()
        lane.wait()
    with pytest.raises(ValueError, match="first"):
        first.result()
    assert ran == ["second"]


@pytest.mark.parametrize("start_bytes", [0, 12_345])
def test_batches_end_on_aligned_offsets_and_keep_every_byte_in_order(start_bytes: int) -> None:
    rng = random.Random(start_bytes)
    chunks = [os.urandom(rng.choice([1, 4095, 4097, 65_536, 262_144, 300_001])) for _ in range(60)]
    submitted = {"bytes": 0}
    gathered = Batches(batch_bytes=1024 * 1024, next_offset=lambda: start_bytes + submitted["bytes"])
    out: list[list[bytes | memoryview]] = []
    for chunk in chunks:
        batch = gathered.add(chunk)
        if batch:
            assert sum(len(piece) for piece in batch) >= 1024 * 1024 - DIRECT_ALIGN_BYTES
            submitted["bytes"] += sum(len(piece) for piece in batch)
            assert (start_bytes + submitted["bytes"]) % DIRECT_ALIGN_BYTES == 0
            out.append(batch)
    rest = gathered.rest()
    assert rest and gathered.rest() is None
    out.append(rest)
    assert len(out) > 5
    assert b"".join(bytes(piece) for batch in out for piece in batch) == b"".join(chunks)


def test_cancelling_the_future_of_a_queued_batch_neither_skips_it_nor_leaves_a_hole(tmp_path: Path) -> None:
    # asyncio.wrap_future cancels the concurrent Future when the awaiting task is cancelled (a request
    # cancelled while it waits for its oldest batch). A batch still queued behind a busy pool must be
    # written all the same, before the next: a skipped one would leave zeros the file size counts.
    path, descriptor = open_part(tmp_path)
    with ThreadPoolExecutor(max_workers=1) as busy_pool:
        gate = threading.Event()
        busy_pool.submit(gate.wait)  # every worker is busy: the batches below stay queued
        writer = PartWriter(descriptor=descriptor, path=path, start_bytes=0, pool=busy_pool)
        first, second = os.urandom(3 * DIRECT_ALIGN_BYTES), os.urandom(2 * DIRECT_ALIGN_BYTES + 5)
        queued = writer.submit([first], on_error=lambda error: error)
        writer.submit([second], on_error=lambda error: error)

        queued.cancel()
        gate.set()
        writer.close()
    os.close(descriptor)
    assert path.read_bytes() == first + second
    assert writer.written_bytes == len(first) + len(second)


def test_a_lane_call_whose_future_was_cancelled_still_runs_before_the_next_and_wait_waits_for_it() -> None:
    with ThreadPoolExecutor(max_workers=1) as busy_pool:
        gate = threading.Event()
        busy_pool.submit(gate.wait)
        lane = Lane(busy_pool)
        ran: list[str] = []
        only = lane.submit(lambda: ran.append("only"))

        only.cancel()
        gate.set()
        lane.wait()  # returns once the call has ended, not at the cancellation

        assert ran == ["only"]


@pytest.fixture
def small_ext4(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB ext4 filesystem on a loop device (needs root and mount rights; skipped without)."""
    image, mountpoint = tmp_path / "ext4.img", tmp_path / "ext4"
    mountpoint.mkdir()
    with image.open("wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True)
    mounted = made.returncode == 0 and (
        subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], capture_output=True).returncode == 0
    )
    if not mounted:
        pytest.skip("no loop-mounted ext4 here (needs root and mkfs.ext4)")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


@pytest.mark.parametrize("start_bytes", [0, 4096, 12_345])
def test_a_real_ext4_filling_up_under_direct_writes_keeps_a_true_prefix_and_fails_once(
    small_ext4: Path, pool: ThreadPoolExecutor, start_bytes: int
) -> None:
    free = os.statvfs(small_ext4).f_bavail * os.statvfs(small_ext4).f_frsize
    (small_ext4 / "filler").write_bytes(b"\0" * (free - 1300 * 1024))
    os.sync()
    prefix = os.urandom(start_bytes)
    path, descriptor = open_part(small_ext4, prefix)
    writer = PartWriter(descriptor=descriptor, path=path, start_bytes=start_bytes, pool=pool)
    on_error, failures = cutting_back(writer, descriptor)

    data = os.urandom(4 * 1024 * 1024)
    megabyte = 1024 * 1024
    futures = [writer.submit([data[at : at + megabyte]], on_error=on_error) for at in range(0, len(data), megabyte)]
    outcomes = []
    for future in futures:
        try:
            future.result()
            outcomes.append("written")
        except StorageFull:
            outcomes.append("full")
    is_direct = writer.is_direct
    writer.close()
    os.close(descriptor)

    stored = path.read_bytes()
    assert is_direct
    assert "full" in outcomes and outcomes == sorted(outcomes, key=lambda outcome: outcome == "full")
    assert len(failures) == 1 and failures[0].errno == errno.ENOSPC
    assert len(stored) == start_bytes + writer.written_bytes
    assert stored == prefix + data[: writer.written_bytes]


def close_within(writer: PartWriter, seconds: float = 10.0) -> None:
    """`writer.close()`, failing the test (not hanging it) if it does not return in time."""
    closing = threading.Thread(target=writer.close, daemon=True)
    closing.start()
    closing.join(seconds)
    if closing.is_alive():
        for _ in range(16):  # let the stuck staging lane (a thread of the process's pool) finish, then fail
            writer._free_buffers.put(part_file.mmap.mmap(-1, part_file.STAGING_BUFFER_BYTES))
        closing.join(seconds)
        pytest.fail("close() hangs: the staging lane waits for a buffer that never comes back")


class FailingHasher:
    """A hasher whose `update` raises for the aligned middles (the buffer-sized updates) `times` times."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.inner = hashlib.sha256()

    def update(self, data: memoryview, /) -> None:
        if len(data) >= DIRECT_ALIGN_BYTES and self.times > 0:
            self.times -= 1
            raise MemoryError("hashing failed")
        self.inner.update(data)


@pytest.mark.parametrize("start_bytes", [0, 12_345], ids=["start_0", "start_unaligned"])
def test_a_failure_while_staging_fails_the_writer_once_keeps_a_true_prefix_and_leaks_no_buffer(
    tmp_path: Path, pool: ThreadPoolExecutor, start_bytes: int
) -> None:
    # Staging can fail too (a hasher, a buffer that cannot be mapped). That batch's bytes never reach the
    # file, so none after them may: later batches written at their offsets would leave a hole of zeros
    # the file size counts. Its buffer must come back, or the staging lane waits for it for good.
    prefix = os.urandom(start_bytes)
    path, descriptor = open_part(tmp_path, prefix)
    writer = PartWriter(descriptor=descriptor, path=path, start_bytes=start_bytes, pool=pool)
    on_error, failures = cutting_back(writer, descriptor)

    step = 2 * 1024 * 1024 + 100
    data = os.urandom((part_file.STAGING_BUFFERS + 3) * step)
    hasher = FailingHasher(times=part_file.STAGING_BUFFERS + 3)  # every middle fails, were it hashed
    futures = [
        writer.submit([data[at : at + step]], on_error=on_error, hashers=[hasher]) for at in range(0, len(data), step)
    ]
    close_within(writer)
    os.close(descriptor)
    outcomes = []
    for future in futures:
        try:
            future.result(timeout=0)
            outcomes.append("written")
        except StorageFull:
            outcomes.append("failed")
    assert outcomes == ["failed"] * len(futures)
    assert len(failures) == 1 and isinstance(failures[0], MemoryError)
    stored = path.read_bytes()
    assert len(stored) == start_bytes + writer.written_bytes
    assert stored == prefix + data[: writer.written_bytes]
    assert writer.written_bytes < step


def test_an_unmappable_staging_buffer_fails_the_writer_instead_of_leaving_a_hole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, descriptor = open_part(tmp_path)
    real_mmap = part_file.mmap.mmap
    made = {"count": 0}

    def mmap(*args: object, **kwargs: object) -> object:
        made["count"] += 1
        if made["count"] == 2:
            raise OSError(errno.ENOMEM, "Cannot allocate memory")
        return real_mmap(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(part_file.mmap, "mmap", mmap)
    running = hashlib.sha256()
    step = 2 * 1024 * 1024
    data = os.urandom(4 * step)
    with ThreadPoolExecutor(max_workers=1) as busy_pool:
        gate = threading.Event()
        busy_pool.submit(gate.wait)  # the first batch keeps its buffer: the second has to map another one
        writer = PartWriter(descriptor=descriptor, path=path, start_bytes=0, pool=busy_pool)
        futures = [
            writer.submit([data[at : at + step]], on_error=lambda error: error, hashers=[running])
            for at in range(0, len(data), step)
        ]
        time.sleep(0.1)
        gate.set()
        close_within(writer)
    os.close(descriptor)
    errors = [future.exception(timeout=0) for future in futures]
    assert errors[0] is None
    assert all(isinstance(error, OSError) and error.errno == errno.ENOMEM for error in errors[1:]), errors
    assert writer.written_bytes == step
    assert path.read_bytes() == data[:step]


@pytest.mark.parametrize("on_error_raises", [False, True], ids=["on_error_returns", "on_error_raises"])
def test_a_write_failing_once_stops_every_later_write_even_when_on_error_itself_raises(
    tmp_path: Path, pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch, on_error_raises: bool
) -> None:
    # An I/O error can be transient (the next write would succeed) and cutting the file back can fail too
    # (the same sick disk). Either way the writer has failed: a later batch written at its offset would
    # sit past the bytes the failed one never wrote, with a hole between them.
    path, descriptor = open_part(tmp_path)
    writer = PartWriter(descriptor=descriptor, path=path, start_bytes=0, pool=pool)
    real_pwrite = os.pwrite
    step = 2 * 1024 * 1024 + 100
    calls: list[BaseException] = []

    def pwrite(fd: int, data: memoryview, offset: int) -> int:
        if step <= offset < 2 * step and not calls:
            raise OSError(errno.EIO, "Input/output error")  # once: the writes after it would succeed
        return real_pwrite(fd, data, offset)

    def on_error(error: BaseException) -> BaseException:
        calls.append(error)
        if on_error_raises:
            raise RuntimeError("cutting the file back failed")
        return error

    monkeypatch.setattr(part_file.os, "pwrite", pwrite)
    data = os.urandom(5 * step)
    futures = [writer.submit([data[at : at + step]], on_error=on_error) for at in range(0, len(data), step)]
    close_within(writer)
    os.close(descriptor)
    errors = [future.exception(timeout=0) for future in futures]
    assert errors[0] is None
    assert all(error is not None and error is errors[1] for error in errors[1:]), errors
    assert isinstance(errors[1], RuntimeError if on_error_raises else OSError)
    assert len(calls) == 1
    stored = path.read_bytes()
    assert step <= len(stored) < 2 * step
    assert stored == data[: len(stored)]


def test_chunks_are_counted_in_bytes_whatever_the_format_of_their_memoryview(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    # len() of a memoryview counts its items, not its bytes: the offset of the next batch must not.
    import array

    path, descriptor = open_part(tmp_path)
    writer = PartWriter(descriptor=descriptor, path=path, start_bytes=0, pool=pool)
    running = hashlib.sha256()
    words = array.array("I", range(5000))  # 20_000 bytes, 5000 items
    grid = memoryview(os.urandom(6 * 4096)).cast("B", (6, 4096))  # two dimensions: len() is 6
    after = os.urandom(3 * 4096 + 11)
    try:
        for batch in ([memoryview(words)], [grid, b"xyz"], [after]):
            writer.submit(batch, on_error=lambda error: error, hashers=[running]).result()
        expected = words.tobytes() + grid.tobytes() + b"xyz" + after
        assert path.read_bytes() == expected
        assert writer.submitted_bytes == writer.written_bytes
        with pytest.raises((TypeError, ValueError)):  # not contiguous: refused at once, nothing queued
            writer.submit([memoryview(os.urandom(8192))[::2]], on_error=lambda error: error)
        writer.submit([b"!"], on_error=lambda error: error, hashers=[running]).result()  # the writer goes on
    finally:
        writer.close()
        os.close(descriptor)
    expected += b"!"
    assert path.read_bytes() == expected
    assert running.hexdigest() == hashlib.sha256(expected).hexdigest()
    assert writer.written_bytes == len(expected)


def test_batches_count_memoryview_chunks_in_bytes() -> None:
    import array

    submitted = {"bytes": 0}
    gathered = Batches(batch_bytes=8192, next_offset=lambda: 5 + submitted["bytes"])
    words = array.array("I", range(3000))  # 12_000 bytes
    batch = gathered.add(memoryview(words))  # type: ignore[arg-type]
    assert batch is not None
    submitted["bytes"] += sum(memoryview(piece).nbytes for piece in batch)
    assert (5 + submitted["bytes"]) % DIRECT_ALIGN_BYTES == 0
    rest = gathered.rest()
    assert rest is not None
    assert b"".join(bytes(memoryview(piece).cast("B")) for piece in [*batch, *rest]) == words.tobytes()


@pytest.mark.parametrize("seed", range(4))
def test_short_and_refused_direct_writes_at_random_moments_keep_every_byte_in_order(
    tmp_path: Path, pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # The kernel may accept part of a write (aligned or not) and a filesystem may refuse direct I/O
    # (EINVAL) only once staged buffers are already queued: every byte lands once, in order, all the same.
    rng = random.Random(seed)
    start_bytes = rng.choice([0, 4096, 12_345, 4095])
    prefix = os.urandom(start_bytes)
    path, descriptor = open_part(tmp_path, prefix)
    writer = PartWriter(descriptor=descriptor, path=path, start_bytes=start_bytes, pool=pool)
    real_pwrite = os.pwrite
    refuse_after = rng.randint(2, 12)
    direct_calls = {"count": 0}

    def pwrite(fd: int, data: memoryview, offset: int) -> int:
        view = memoryview(data)
        if fd != descriptor:
            direct_calls["count"] += 1
            if direct_calls["count"] == refuse_after:
                raise OSError(errno.EINVAL, "Invalid argument")
            if len(view) > DIRECT_ALIGN_BYTES and rng.random() < 0.4:
                cut = rng.choice([DIRECT_ALIGN_BYTES, len(view) // 2, len(view) - 1])
                if cut % DIRECT_ALIGN_BYTES == 0 or rng.random() < 0.5:
                    view = view[:cut]
        elif len(view) > 1 and rng.random() < 0.3:
            view = view[: rng.randint(1, len(view) - 1)]
        return real_pwrite(fd, view, offset)

    monkeypatch.setattr(part_file.os, "pwrite", pwrite)
    running = hashlib.sha256()
    data = os.urandom(14 * 1024 * 1024 + rng.randint(0, 9999))
    try:
        futures = [
            writer.submit(batch, on_error=lambda error: error, hashers=[running]) for batch in batches(data, seed=seed)
        ]
        for future in futures:
            future.result()
    finally:
        writer.close()
        os.close(descriptor)
    assert writer.written_bytes == len(data)
    assert path.read_bytes() == prefix + data
    assert running.hexdigest() == hashlib.sha256(data).hexdigest()


def test_many_writers_on_a_one_thread_disk_pool_one_failing_all_end_and_keep_true_prefixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More writers than staging threads, one disk thread for all, staging lanes waiting for buffers, and
    # one writer's disk failing mid-way: every writer ends (none waits for good) with a true prefix.
    real_pwrite = os.pwrite
    failing: dict[str, int] = {}

    def pwrite(fd: int, data: memoryview, offset: int) -> int:
        if fd in failing.values() and offset >= 5 * 1024 * 1024:
            raise OSError(errno.EIO, "Input/output error")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(part_file.os, "pwrite", pwrite)
    step = part_file.STAGING_BUFFER_BYTES + 4096 + 7
    data = os.urandom(4 * step)
    writers: list[tuple[PartWriter, int, Path, hashlib._Hash]] = []
    with ThreadPoolExecutor(max_workers=1) as disk_pool:
        gate = threading.Event()
        disk_pool.submit(gate.wait)
        for index in range(7):
            (tmp_path / str(index)).mkdir()
            path, descriptor = open_part(tmp_path / str(index))
            writer = PartWriter(descriptor=descriptor, path=path, start_bytes=0, pool=disk_pool)
            if index == 3:
                failing["direct"] = writer._direct or -1
                failing["buffered"] = descriptor
            writers.append((writer, descriptor, path, hashlib.sha256()))
        futures = [
            [
                writer.submit([data[at : at + step]], on_error=lambda error: error, hashers=[hasher])
                for at in range(0, len(data), step)
            ]
            for writer, _, _, hasher in writers
        ]
        time.sleep(0.1)
        gate.set()
        for writer, _, _, _ in writers:
            close_within(writer)
    for index, (writer, descriptor, path, hasher) in enumerate(writers):
        os.close(descriptor)
        stored = path.read_bytes()
        if index == 3:
            assert [future.exception(timeout=0) is None for future in futures[index]] == [True, False, False, False]
            assert 5 * 1024 * 1024 <= len(stored) == writer.written_bytes < 2 * step
            assert stored == data[: len(stored)]
        else:
            assert all(future.exception(timeout=0) is None for future in futures[index])
            assert stored == data
            assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "buffered"])
def test_a_write_accepting_no_bytes_fails_the_writer_instead_of_spinning(
    tmp_path: Path, pool: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    # A pwrite that returns 0 makes no progress: retrying it forever would hold the upload's lock for good.
    path, descriptor = open_part(tmp_path)
    writer = PartWriter(descriptor=descriptor, path=path, start_bytes=0, pool=pool)
    if not direct:
        writer._give_up_direct()
    monkeypatch.setattr(part_file.os, "pwrite", lambda fd, data, offset: 0)
    failures: list[BaseException] = []

    def on_error(error: BaseException) -> BaseException:
        failures.append(error)
        return error

    future = writer.submit([os.urandom(3 * DIRECT_ALIGN_BYTES + 5)], on_error=on_error)
    with pytest.raises(OSError) as raised:
        future.result(timeout=10)
    writer.close()
    os.close(descriptor)
    assert raised.value.errno == errno.EIO
    assert len(failures) == 1 and writer.written_bytes == 0
