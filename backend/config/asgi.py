"""ASGI entry point: HTTP through Django, /ws/v1/device through channels.

tus PATCHes of an upload are streamed to disk by `media_store.tus_asgi` before Django sees them
(Django would read the whole body first, losing a cut PATCH's bytes); every other request goes to Django,
whose middleware chain runs in one thread hop per request (`asgi_handler`).
"""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from backend.config.asgi_handler import get_sync_chain_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
django_asgi_app = get_sync_chain_asgi_application()
if settings.FIELDSYNC_SERVE_STATIC:
    # Embedded mode has no web server in front: the admin's and console's CSS come from the apps'
    # static folders. Production serves STATIC_ROOT (collectstatic) from its proxy and turns this off.
    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)  # type: ignore[assignment]

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from backend.realtime.routing import websocket_urlpatterns  # noqa: E402
from media_store.tus_asgi import tus_patch_streaming  # noqa: E402

application = ProtocolTypeRouter(
    {"http": tus_patch_streaming(django_asgi_app), "websocket": URLRouter(websocket_urlpatterns)}
)
