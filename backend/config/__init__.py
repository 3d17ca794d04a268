"""Django project configuration: settings, URLs, ASGI application, the single NinjaAPI."""
