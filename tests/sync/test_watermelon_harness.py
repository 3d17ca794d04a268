"""The pytest side of the WatermelonDB harness itself (no fieldsync server needed)."""

from __future__ import annotations

import pytest

from tests.sync.watermelon import run_scenario

pytestmark = pytest.mark.node


def test_a_token_that_starts_with_a_dash_reaches_the_client_as_a_token_not_an_option() -> None:
    # Server tokens are URL-safe base64: about 1 in 64 starts with "-". Nothing listens on port 9,
    # so the client gets as far as its first call and fails there (exit 1), not on its arguments (2).
    run = run_scenario(
        server_url="http://127.0.0.1:9", token="-Zm9vYmFy", args=["--mode", "pull-only"], timeout_seconds=60
    )

    assert run.code == 1, (run.code, run.stderr[-2000:], run.lines[-3:])
    assert "ambiguous" not in run.stderr
