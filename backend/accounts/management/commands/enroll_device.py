"""Enroll a device for an officer's unit and issue tokens, non-interactively (ops scripts, tests).

    python manage.py enroll_device --officer patrol.huunghi --json [--label "Phone 3"]

Prints {"device_id", "device_credential", "access_token", "refresh_token", ...}. The secrets are shown
once; treat the output like a password.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.accounts import services
from backend.accounts.models import Officer


class Command(BaseCommand):
    help = "Enroll a new device for an officer's unit and print its credential and a token pair."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--officer", required=True, help="username of a field officer")
        parser.add_argument("--label", default="", help="device label shown in the console")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        officer = Officer.objects.select_related("unit").filter(username=options["officer"]).first()
        if officer is None:
            raise CommandError(f"no officer {options['officer']!r}")
        if officer.unit is None or not officer.is_field_officer:
            raise CommandError(f"{officer.username} is not a field officer with a unit")
        label = options["label"] or f"{officer.username} (ops)"
        issued = services.enrollment_code_issue(actor=None, unit=officer.unit, label=label)
        enrolled = services.device_enroll(code=issued.code, label=label)
        pair = services.token_pair_issue_for_ops(device=enrolled.device, officer=officer)
        result = {
            "device_id": str(enrolled.device.id),
            "device_credential": enrolled.device_credential,
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "access_expires_in_seconds": pair.access_expires_at_seconds,
            "officer": officer.username,
            "unit_code": officer.unit.code,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key}: {value}")
