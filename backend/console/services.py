"""Console writes that no other service owns: a bridge run started from the console and the
console's own login/logout trail. Everything else the console does goes through the owning
services (sync.review, sync.registry_bridge.services, backend.accounts.services), which audit."""

from __future__ import annotations

from backend.accounts.models import Officer
from backend.audit.services import audit_record
from sync.registry_bridge.models import BridgeRun
from sync.registry_bridge.services import bridge_run_now
from sync.review import sync_admin_check


def console_bridge_run(*, actor: Officer) -> BridgeRun:
    """Run the registry bridge now (synchronously) and audit who started it.

    Side effects: everything a bridge run does (see sync.registry_bridge.engine). Audited as
    `registry_bridge.run_started` before the run and `registry_bridge.run_finished` after it, so a
    run that fails is still attributed. Raises SyncAdminRequired, and whatever stops the run.
    """
    sync_admin_check(actor=actor)
    audit_record(action="registry_bridge.run_started", officer_id=actor.pk, target_type="registry_bridge")
    run = bridge_run_now(trigger="console")
    audit_record(
        action="registry_bridge.run_finished",
        officer_id=actor.pk,
        target_type="registry_bridge",
        target_id=str(run.pk),
        details={"status": run.status, "conflicts_raised": run.conflicts_raised, "rows_read": run.rows_read},
    )
    return run


def console_session_record(*, officer: Officer, action: str) -> None:
    """Audit a console login or logout (`console.login`, `console.logout`)."""
    audit_record(action=action, officer_id=officer.pk, target_type="console")
