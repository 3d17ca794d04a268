"""Test-only fault injection: kill the server process at a named point of the push path.

Off unless the environment variable FIELDSYNC_FAULT_INJECT names a point (read at call time, so a
test starts a server subprocess with it set; never set it in production):

* ``push_before_commit`` — every record applied and staged, the seq assigned, COMMIT not yet sent;
* ``push_after_commit`` — committed, the response not yet sent;
* ``push_mid_response`` — committed, half of the response body sent;
* ``bridge_mid_batch:N`` — the registry bridge has applied the N-th row of its run, inside that row's
  batch transaction (earlier batches committed with their watermark);
* ``bridge_after_write_back`` — a field edit was UPDATEd (and committed) in the registry, the bridge
  has not yet recorded it in fieldsync.

A point may carry a count (``point:N``): it then fires only where the caller reaches N.

The process dies by SIGKILL, as an OOM kill or a power cut would: no cleanup, no rollback by us.
The fault tests (tests/sync/test_faults.py, tests/registry_bridge/test_bridge_runs.py) prove that
a device retrying, or the next bridge run, loses nothing and doubles nothing.
"""

from __future__ import annotations

import os
import signal
from enum import StrEnum

FAULT_ENV = "FIELDSYNC_FAULT_INJECT"


class Fault(StrEnum):
    PUSH_BEFORE_COMMIT = "push_before_commit"
    PUSH_AFTER_COMMIT = "push_after_commit"
    PUSH_MID_RESPONSE = "push_mid_response"
    BRIDGE_MID_BATCH = "bridge_mid_batch"
    BRIDGE_AFTER_WRITE_BACK = "bridge_after_write_back"


def fault_is_armed(point: Fault, *, at: int | None = None) -> bool:
    """Whether FIELDSYNC_FAULT_INJECT names `point` (and, for ``point:N``, whether `at` == N)."""
    name, _, count = os.environ.get(FAULT_ENV, "").partition(":")
    if name != point.value:
        return False
    return not count or (at is not None and count.isdigit() and int(count) == at)


def fault_point(point: Fault, *, at: int | None = None) -> None:
    """SIGKILL this process if FIELDSYNC_FAULT_INJECT names `point` (at count `at`); else do nothing."""
    if fault_is_armed(point, at=at):
        os.kill(os.getpid(), signal.SIGKILL)
