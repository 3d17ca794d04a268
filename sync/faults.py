"""Test-only fault injection: kill the server process at a named point of the push path.

Off unless the environment variable FIELDSYNC_FAULT_INJECT names a point (read at call time, so a
test starts a server subprocess with it set; never set it in production):

* ``push_before_commit`` — every record applied and staged, the seq assigned, COMMIT not yet sent;
* ``push_after_commit`` — committed, the response not yet sent;
* ``push_mid_response`` — committed, half of the response body sent.

The process dies by SIGKILL, as an OOM kill or a power cut would: no cleanup, no rollback by us.
The fault tests in tests/sync/test_faults.py prove that a device retrying loses nothing and
doubles nothing.
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


def fault_is_armed(point: Fault) -> bool:
    return os.environ.get(FAULT_ENV, "") == point.value


def fault_point(point: Fault) -> None:
    """SIGKILL this process if FIELDSYNC_FAULT_INJECT names `point`; otherwise do nothing."""
    if fault_is_armed(point):
        os.kill(os.getpid(), signal.SIGKILL)
