"""Django's ASGI handler with the middleware chain built for sync views: one thread hop per request.

Every view here is sync. Under Django's own ASGIHandler the middleware chain is built async, so each
of Django's middlewares runs its `process_request` and `process_response` (and CSRF its
`process_view`) through `sync_to_async`: about fifteen round trips between the event loop and the
request's worker thread, each costing more CPU than the middleware's work (Django's docs put the
price of such a switch near a millisecond). Here the chain is built exactly as under WSGI and the
test client (`load_middleware(is_async=False)`: same middlewares, same order, same sync methods) and
the whole of it runs in one `sync_to_async` call, in the request's thread-sensitive worker thread as
before. Everything ASGIHandler does around the chain (request_started/finished, disconnects, the
response sending) is unchanged.
"""

from __future__ import annotations

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        chain = self._middleware_chain  # type: ignore[has-type]  # set by BaseHandler.load_middleware
        self._middleware_chain = sync_to_async(chain, thread_sensitive=True)


def get_sync_chain_asgi_application() -> SyncChainASGIHandler:
    """`django.core.asgi.get_asgi_application` with the handler above."""
    django.setup(set_prefix=False)
    return SyncChainASGIHandler()
