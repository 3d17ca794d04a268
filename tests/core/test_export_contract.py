from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from django.core.management import call_command


def _export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_contract", *args, stdout=out)
    return out.getvalue()


def test_export_contract_writes_the_missing_files_and_says_which(settings: Any, tmp_path: Path) -> None:
    settings.BASE_DIR = tmp_path
    (tmp_path / "mobile_contract").mkdir()

    printed = _export()

    assert printed == "wrote mobile_contract/openapi.json\nwrote mobile_contract/watermelon_schema.json\n"
    assert (tmp_path / "mobile_contract" / "openapi.json").read_text(encoding="utf-8").startswith("{")
    assert (tmp_path / "mobile_contract" / "watermelon_schema.json").read_text(encoding="utf-8").startswith("{")


def test_export_contract_with_nothing_to_write_says_the_files_are_up_to_date(settings: Any, tmp_path: Path) -> None:
    settings.BASE_DIR = tmp_path
    (tmp_path / "mobile_contract").mkdir()
    _export()
    written_at = (tmp_path / "mobile_contract" / "openapi.json").stat().st_mtime_ns

    printed = _export()

    assert printed == "mobile_contract/openapi.json and mobile_contract/watermelon_schema.json are up to date\n"
    assert (tmp_path / "mobile_contract" / "openapi.json").stat().st_mtime_ns == written_at
    assert _export("--check") == "contract files are up to date\n"
