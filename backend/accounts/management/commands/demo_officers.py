"""List the demo officers (created by `seed_demo`) with role, unit and communes in force today.

python manage.py demo_officers --json
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from backend.accounts.models import Officer

DEMO_PASSWORD = "fieldsync-demo"  # noqa: S105 - demo data only; documented in the README, never in production
DEMO_GROUP = "demo"  # seed_demo puts every officer it creates in this group


class Command(BaseCommand):
    help = "List demo officers with role, unit code/name and commune codes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print a JSON list")

    def handle(self, *args: Any, **options: Any) -> None:
        today = timezone.localdate()
        rows: list[dict[str, Any]] = []
        for officer in Officer.objects.select_related("unit").filter(groups__name=DEMO_GROUP).order_by("username"):
            unit = officer.unit
            rows.append(
                {
                    "username": officer.username,
                    "display_name": officer.display_name,
                    "role": officer.role,
                    "unit_code": unit.code if unit else None,
                    "unit_name": unit.name if unit else None,
                    "is_province_wide": bool(unit and unit.is_province_wide),
                    "commune_codes": sorted(unit.commune_codes_on(today)) if unit else [],
                }
            )
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        for row in rows:
            communes = row["commune_codes"]
            self.stdout.write(
                f"{row['username']:<28} {row['role']:<18} {row['unit_code'] or '-':<14} {len(communes)} communes"
            )
        self.stdout.write(f"password (demo only): {DEMO_PASSWORD}")
