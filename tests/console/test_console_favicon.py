"""Console pages carry their own icon, so browsers do not request /favicon.ico (a 404 warning each time)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote

import pytest
from django.test import Client

from backend.accounts.models import Officer
from tests.console.conftest import console_client

pytestmark = pytest.mark.django_db


def _icon_svg(html: str) -> ET.Element:
    links = re.findall(r'<link rel="icon" href="data:image/svg\+xml,([^"]+)">', html)
    assert len(links) == 1
    return ET.fromstring(unquote(links[0]))


def test_the_login_page_has_an_inline_svg_icon() -> None:
    response = Client().get("/console/login/")

    assert response.status_code == 200
    assert _icon_svg(response.content.decode()).tag == "{http://www.w3.org/2000/svg}svg"


def test_every_console_page_has_the_inline_icon(admin: Officer) -> None:
    client = console_client(admin)

    response = client.get("/console/devices/")

    assert response.status_code == 200
    assert _icon_svg(response.content.decode()).attrib["viewBox"] == "0 0 16 16"
