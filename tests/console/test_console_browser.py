"""The console in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium)
against a real server process: a sync administrator logs in, resolves a review item in the
browser, and a device's next pull (the mobile_contract reference client, over HTTP) carries the
outcome. Screenshots go to var/screenshots/ (the path is printed).

In CI (CI=true) a missing browser fails the test; locally it skips. `.ci/run` installs both.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from backend.audit.models import AuditEvent
from backend.registry.models import DrugUseRecord
from mobile_contract.client import FieldsyncClient
from sync.models import ReviewItem, ReviewStatus
from tests.conftest import IS_CI, TEST_PASSWORD, make_officer
from tests.console.conftest import make_drug_conflict
from tests.media_store.live import running_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_SECONDS = 30


@pytest.fixture(autouse=True)
def _fast_password_hashing() -> None:
    """Overrides the console conftest: the server process checks passwords with the real hashers."""


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        message = f"headless browser not installed: {missing} (apt-get install chromium chromium-driver)"
        if IS_CI:
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def _screenshot(driver: Any, name: str) -> Path:
    folder = Path(settings.DATA_DIR) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert driver.save_screenshot(str(path)), f"screenshot not written: {path}"
    print(f"screenshot: {path}")
    return path


def test_a_review_resolved_in_the_browser_reaches_the_devices_next_pull(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    conflict = make_drug_conflict()
    admin = make_officer(username="quan.tri", unit=None, role="sync_admin")
    admin.display_name = "Trần Thị Quản Trị"
    admin.save(update_fields=["display_name"])
    wait = WebDriverWait(browser, WAIT_SECONDS)

    with running_server(media_root=tmp_path / "media", log_path=tmp_path / "server.log") as server:
        browser.get(f"{server.base_url}/console/reviews/")
        wait.until(ec.presence_of_element_located((By.ID, "login-submit")))
        assert "/console/login/" in browser.current_url
        browser.find_element(By.NAME, "username").send_keys("quan.tri")
        browser.find_element(By.NAME, "password").send_keys(TEST_PASSWORD)
        browser.find_element(By.ID, "login-submit").click()
        row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-review="{conflict.item.id}"]')))
        assert row.find_element(By.CSS_SELECTOR, '[data-testid="server-value"]').text == "07/QĐ-UBND"
        assert row.find_element(By.CSS_SELECTOR, '[data-testid="device-value"]').text == "09/QĐ-UBND"
        assert "Nông Văn Bắc" in row.text
        before = _screenshot(browser, "console-review-before.png")

        row.find_element(By.CSS_SELECTOR, '[data-testid="take-device"]').click()
        message = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="message"]')))
        assert "Resolved drug_use_records.decision_no (take_device)" in message.text
        assert browser.find_elements(By.CSS_SELECTOR, '[data-testid="no-reviews"]')
        after = _screenshot(browser, "console-review-resolved.png")

        device = FieldsyncClient(server.base_url, timeout_seconds=WAIT_SECONDS)
        device.use_token(conflict.second.token)
        body = device.pull(last_pulled_at=conflict.second.cursor)

        browser.get(f"{server.base_url}/console/devices/")
        fleet = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="fleet"]')))
        assert "Máy Đồng Đăng 1" in fleet.text and "Máy Đồng Đăng 2" in fleet.text
        fleet_shot = _screenshot(browser, "console-fleet.png")
        browser.get(f"{server.base_url}/console/audit/?action=sync.review")
        audit = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="audit"]')))
        assert "sync.review_resolved" in audit.text and "quan.tri" in audit.text
        audit_shot = _screenshot(browser, "console-audit.png")

    updated = body["changes"]["drug_use_records"]["updated"]
    assert [(r["id"], r["decision_no"]) for r in updated] == [(str(conflict.drug.id), "09/QĐ-UBND")]
    item = ReviewItem.objects.get(pk=conflict.item.pk)
    assert (item.status, item.resolved_by_id) == (ReviewStatus.TOOK_DEVICE, admin.pk)
    assert DrugUseRecord.objects.get(pk=conflict.drug.pk).decision_no == "09/QĐ-UBND"
    assert AuditEvent.objects.filter(action="sync.review_resolved", actor_officer_id=admin.pk).count() == 1
    assert AuditEvent.objects.filter(action="console.login", actor_officer_id=admin.pk).count() == 1
    assert all(shot.stat().st_size > 10_000 for shot in (before, after, fleet_shot, audit_shot))
