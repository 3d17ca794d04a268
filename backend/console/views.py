"""Console pages: thin views that parse a form, call one selector or service, and render.

Access: a session login (Django auth, Argon2 passwords). Sync administrators (and superusers) see
and act on everything; auditors see every page read-only (any POST is 403); every other role gets
403 on every page, and the login form refuses them. Service errors (DomainError) come back as a
message on the page with their stable code, never as a 5xx.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any, TypeVar, cast

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from backend.accounts import services as account_services
from backend.accounts.models import Device, DeviceStatus, Officer, Role, Unit
from backend.audit.services import audit_chain_verify
from backend.console import selectors
from backend.console.services import console_bridge_run, console_session_record
from backend.core.errors import DomainError, RateLimited
from backend.core.text import json_loads_storable, normalize_text
from sync import review as review_services
from sync.models import QuarantineStatus, ReviewStatus
from sync.registry_bridge import services as bridge_services
from sync.registry_bridge.codes import SOURCE as BRIDGE_SOURCE

View = TypeVar("View", bound=Callable[..., HttpResponse])


def _is_admin(officer: Officer) -> bool:
    return officer.is_active and (officer.role == Role.SYNC_ADMIN or officer.is_superuser)


def _may_read(officer: Officer) -> bool:
    return _is_admin(officer) or (officer.is_active and officer.role == Role.AUDITOR)


def console_page(*, write: bool = False) -> Callable[[View], View]:
    """Anonymous → login page; a role without console access → 403; an auditor on a write → 403."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect(f"{reverse('console:login')}?{urlencode({'next': request.get_full_path()})}")
            officer = user
            allowed = _is_admin(officer) if write or request.method not in {"GET", "HEAD"} else _may_read(officer)
            if not allowed:
                return render(request, "console/forbidden.html", {"officer": officer}, status=403)
            return view(request, *args, **kwargs)

        return cast(View, wrapper)

    return decorate


def _context(request: HttpRequest, section: str, **extra: Any) -> dict[str, Any]:
    officer = cast(Officer, request.user)
    return {
        "section": section,
        "officer": officer,
        "officer_name": selectors.officer_label(officer),
        "is_admin": _is_admin(officer),
        **extra,
    }


def _fail(request: HttpRequest, exc: DomainError) -> None:
    messages.error(request, f"{exc.message} [{exc.code}]")


# --- login ----------------------------------------------------------------------------------------


class ConsoleAuthenticationForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        # Counted before the password is checked, like a device login: the console's accounts are
        # the most powerful ones, and Django's LoginView has no limit of its own.
        try:
            account_services.login_rate_check(username=str(self.data.get("username", "")), where="console")
        except RateLimited:
            raise forms.ValidationError("Too many login attempts; wait a minute.", code="rate_limited")
        return super().clean()

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not _may_read(cast(Officer, user)):
            raise forms.ValidationError(
                "This console is for central sync administrators and auditors.", code="console_role"
            )


class ConsoleLoginView(LoginView):
    template_name = "console/login.html"
    authentication_form = ConsoleAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        console_session_record(officer=form.get_user(), action="console.login")
        return response

    def get_default_redirect_url(self) -> str:
        return reverse("console:fleet")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        console_session_record(officer=request.user, action="console.logout")
    logout(request)
    return redirect("console:login")


@require_GET
@console_page()
def index(request: HttpRequest) -> HttpResponse:
    return redirect("console:fleet")


# --- device fleet ---------------------------------------------------------------------------------


@require_GET
@console_page()
def fleet(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in DeviceStatus.values:
        status = ""
    return render(
        request,
        "console/fleet.html",
        _context(
            request,
            "fleet",
            rows=selectors.fleet_list(status=status),
            status=status,
            statuses=DeviceStatus.choices,
            units=selectors.units_sorted(),
        ),
    )


@require_POST
@console_page(write=True)
def device_revoke(request: HttpRequest, device_id: str) -> HttpResponse:
    device = Device.objects.filter(pk=device_id).first() if _is_uuid(device_id) else None
    if device is None:
        return render(request, "console/not_found.html", _context(request, "fleet"), status=404)
    reason = normalize_text(request.POST.get("reason", ""))[:300]
    account_services.device_revoke(actor=cast(Officer, request.user), device=device, reason=reason)
    messages.success(request, f"Device {device} revoked: its tokens are dead; it will be told to wipe.")
    return redirect("console:fleet")


@require_POST
@console_page(write=True)
def device_enroll(request: HttpRequest) -> HttpResponse:
    unit = Unit.objects.filter(pk=request.POST.get("unit_id") or 0).first()
    if unit is None:
        messages.error(request, "Choose a unit for the new device.")
        return redirect("console:fleet")
    label = normalize_text(request.POST.get("label", ""))[:200]
    issued = account_services.enrollment_code_issue(actor=cast(Officer, request.user), unit=unit, label=label)
    # Shown once, on this response only: the code is stored hashed.
    return render(
        request,
        "console/enrolled.html",
        _context(request, "fleet", device=issued.device, code=issued.code, unit=unit),
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- conflict review ------------------------------------------------------------------------------


@require_GET
@console_page()
def reviews(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", ReviewStatus.OPEN)
    if status not in ReviewStatus.values:
        status = ReviewStatus.OPEN
    sort = "oldest" if request.GET.get("sort") == "oldest" else "name"
    return render(
        request,
        "console/reviews.html",
        _context(
            request,
            "reviews",
            rows=selectors.review_list(status=status, sort=sort),
            status=status,
            statuses=ReviewStatus.choices,
            sort=sort,
        ),
    )


def _edited_value(raw: str, like: Any) -> Any:
    """The administrator's typed value, read as the type of the values in dispute."""
    text = normalize_text(raw)
    if isinstance(like, str) or like is None:
        return text
    try:
        return json_loads_storable(text)
    except ValueError:
        return text


@require_POST
@console_page(write=True)
def review_resolve(request: HttpRequest, item_id: str) -> HttpResponse:
    item = selectors.review_item_get(item_id=item_id) if _is_uuid(item_id) else None
    if item is None:
        return render(request, "console/not_found.html", _context(request, "reviews"), status=404)
    actor = cast(Officer, request.user)
    resolution = request.POST.get("resolution", "")
    note = normalize_text(request.POST.get("note", ""))[:500]
    like = item.proposed_value if item.proposed_value is not None else item.server_value
    value = _edited_value(request.POST.get("value", ""), like) if resolution == "edit" else None
    try:
        if item.source == BRIDGE_SOURCE:
            choice = {
                "take_server": ReviewStatus.TOOK_SERVER,
                "take_device": ReviewStatus.TOOK_DEVICE,
                "edit": ReviewStatus.EDITED,
            }.get(resolution, resolution)
            bridge_services.bridge_review_apply(actor=actor, item_id=item.id, choice=choice, edited_value=value)
        else:
            if resolution not in review_services.ReviewResolution.__members__.values():
                messages.error(request, "Choose take server, take device or edit.")
                return redirect("console:reviews")
            review_services.review_item_resolve(
                actor=actor,
                item_id=item.id,
                resolution=review_services.ReviewResolution(resolution),
                value=value,
                note=note,
            )
    except DomainError as exc:
        _fail(request, exc)
        return redirect("console:reviews")
    messages.success(
        request, f"Resolved {item.table}.{item.field} ({resolution}); devices in scope get it on their next pull."
    )
    return redirect("console:reviews")


# --- quarantine -----------------------------------------------------------------------------------


@require_GET
@console_page()
def quarantine(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", QuarantineStatus.OPEN)
    if status not in QuarantineStatus.values:
        status = QuarantineStatus.OPEN
    sort = "oldest" if request.GET.get("sort") == "oldest" else "name"
    rows = selectors.quarantine_list(status=status, sort=sort)
    return render(
        request,
        "console/quarantine.html",
        _context(
            request,
            "quarantine",
            rows=[(row, json.dumps(row.fix_template, ensure_ascii=False, indent=1)) for row in rows],
            status=status,
            statuses=QuarantineStatus.choices,
            sort=sort,
        ),
    )


@require_POST
@console_page(write=True)
def quarantine_act(request: HttpRequest, item_id: str) -> HttpResponse:
    item = selectors.quarantine_item_get(item_id=item_id) if _is_uuid(item_id) else None
    if item is None:
        return render(request, "console/not_found.html", _context(request, "quarantine"), status=404)
    actor = cast(Officer, request.user)
    action = request.POST.get("action", "")
    note = normalize_text(request.POST.get("note", ""))[:500]
    try:
        if action == "discard":
            review_services.quarantined_record_discard(actor=actor, item_id=item.id, note=note)
            messages.success(request, "Discarded; the payload is kept.")
            return redirect("console:quarantine")
        if action != "replay":
            messages.error(request, "Choose replay or discard.")
            return redirect("console:quarantine")
        try:
            fixed = json_loads_storable(request.POST.get("payload", "") or "{}")
        except ValueError:
            messages.error(request, "The fixed payload is not valid JSON.")
            return redirect("console:quarantine")
        if not isinstance(fixed, dict):
            messages.error(request, "The fixed payload must be a JSON object.")
            return redirect("console:quarantine")
        fixed = {k: normalize_text(v) if isinstance(v, str) else v for k, v in fixed.items()}
        if item.source == BRIDGE_SOURCE:
            bridge_services.bridge_quarantine_replay(actor=actor, item_id=item.id, fixed_columns=fixed)
        else:
            review_services.quarantined_record_replay(actor=actor, item_id=item.id, payload=fixed, note=note)
    except DomainError as exc:
        _fail(request, exc)
        return redirect("console:quarantine")
    messages.success(request, "Fixed and replayed.")
    return redirect("console:quarantine")


# --- registry bridge ------------------------------------------------------------------------------


@require_GET
@console_page()
def bridge_runs(request: HttpRequest) -> HttpResponse:
    return render(request, "console/bridge.html", _context(request, "bridge", runs=selectors.bridge_runs_list()))


@require_POST
@console_page(write=True)
def bridge_run(request: HttpRequest) -> HttpResponse:
    try:
        run = console_bridge_run(actor=cast(Officer, request.user))
    except DomainError as exc:
        _fail(request, exc)
        return redirect("console:bridge")
    messages.success(
        request,
        f"Bridge run {run.pk}: {run.rows_read} rows read, {run.conflicts_raised} conflicts, "
        f"{run.rows_quarantined} quarantined.",
    )
    return redirect("console:bridge")


# --- audit ----------------------------------------------------------------------------------------


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@require_GET
@console_page()
def audit(request: HttpRequest) -> HttpResponse:
    filters = selectors.AuditFilters(
        action=normalize_text(request.GET.get("action", ""))[:64],
        officer=normalize_text(request.GET.get("officer", ""))[:150],
        target_type=normalize_text(request.GET.get("target_type", ""))[:64],
        target_id=normalize_text(request.GET.get("target_id", ""))[:64],
        day_from=_day(request.GET.get("from")),
        day_to=_day(request.GET.get("to")),
    )
    events, names = selectors.audit_events_list(filters=filters)
    rows = [(e, names.get(e.actor_officer_id or 0, "")) for e in events]
    return render(
        request,
        "console/audit.html",
        _context(
            request,
            "audit",
            rows=rows,
            filters=filters,
            actions=selectors.audit_actions(),
            verification=audit_chain_verify() if request.GET.get("verify") == "1" else None,
        ),
    )
