"""Write (or with --check, verify) mobile_contract/openapi.json and watermelon_schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def _render(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


class Command(BaseCommand):
    help = "Export the wire contract: OpenAPI and the WatermelonDB appSchema."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="fail if the committed files are stale")

    def handle(self, *args: Any, **options: Any) -> None:
        from backend.config.api import api
        from sync.registry import app_schema

        folder = Path(settings.BASE_DIR) / "mobile_contract"
        outputs = {
            folder / "openapi.json": _render(api.get_openapi_schema()),
            folder / "watermelon_schema.json": _render(app_schema()),
        }
        stale = [p for p, text in outputs.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        if options["check"]:
            if stale:
                names = ", ".join(p.name for p in stale)
                raise CommandError(f"stale contract files: {names}; run `.venv/bin/python manage.py export_contract`")
            self.stdout.write("contract files are up to date")
            return
        for path in stale:
            path.write_text(outputs[path], encoding="utf-8")
            self.stdout.write(f"wrote {path.relative_to(settings.BASE_DIR)}")
        if not stale:
            names = " and ".join(str(path.relative_to(settings.BASE_DIR)) for path in outputs)
            self.stdout.write(f"{names} are up to date")
