"""fieldsync settings. Defaults give the embedded mode (SQLite, in-memory channel layer, local media).

Production sets FIELDSYNC_DATABASE_URL (PostgreSQL), FIELDSYNC_REDIS_URL and object storage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.config.env import database_from_url, env_bool, env_int, env_path, env_str
from backend.core.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = env_path("FIELDSYNC_DATA_DIR", BASE_DIR / "var")
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("FIELDSYNC_SECRET_KEY", "embedded-mode-only-not-secret")
DEBUG = env_bool("FIELDSYNC_DEBUG", False)
ALLOWED_HOSTS = env_str("FIELDSYNC_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "backend.core",
    "backend.accounts",
    "backend.audit",
    "sync",
    "media_store",
    "backend.registry",
    "backend.faces",
    "backend.realtime",
    "sync.registry_bridge",
    "backend.console",
]

MIDDLEWARE = [
    "backend.config.middleware.ApiErrorEnvelopeMiddleware",  # outermost: sees every /api/ answer
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.config.urls"
ASGI_APPLICATION = "backend.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "backend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": database_from_url(
        env_str("FIELDSYNC_DATABASE_URL", f"sqlite:///{DATA_DIR / 'fieldsync.sqlite3'}"), base_dir=BASE_DIR
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.Officer"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

REDIS_URL = env_str("FIELDSYNC_REDIS_URL", "")
CHANNEL_LAYERS: dict[str, Any]
if REDIS_URL:
    # The prefix keeps deployments (or test runs) that share one Redis from poking each other's sockets.
    # Pub/sub, not channels_redis.core: core keeps each socket's group membership as Redis keys written
    # once at connect, so a FLUSHDB (Django's cache.clear() on this same Redis), a restart or eviction
    # silently cut the socket off from every later poke (invariant 10). Pub/sub subscriptions live on
    # the server process' own connection and are re-sent when it reconnects; pokes carry no data, so
    # at-most-once delivery is enough (a missed one is recovered by the next pull). docs/architecture.md.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("FIELDSYNC_CHANNEL_PREFIX", "asgi")},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

TASKS = {
    "default": {
        "BACKEND": env_str("FIELDSYNC_TASK_BACKEND", "django_tasks_db.backend.DatabaseBackend"),
    }
}

LANGUAGE_CODE = "vi"
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
FIELDSYNC_SERVE_STATIC = env_bool("FIELDSYNC_SERVE_STATIC", True)
MEDIA_ROOT = env_path("FIELDSYNC_MEDIA_ROOT", DATA_DIR / "media")

# ISO 8601 timestamps with their offset; django_tasks' per-task INFO lines only with FIELDSYNC_LOG_LEVEL=DEBUG.
LOGGING = logging_config(level=env_str("FIELDSYNC_LOG_LEVEL", "INFO"))

# --- fieldsync ---------------------------------------------------------------------------------
FIELDSYNC_SHARED_FACES_DIR = env_path("FIELDSYNC_FACES_DIR", BASE_DIR.parent / "shared" / "data" / "faces")
FIELDSYNC_REGISTRY_URL = env_str("FIELDSYNC_REGISTRY_URL", f"sqlite:///{DATA_DIR / 'central_registry.sqlite3'}")
FIELDSYNC_REGISTRY_SYNC_SECONDS = env_int("FIELDSYNC_REGISTRY_SYNC_SECONDS", 300)  # periodic bridge run; 0 = off
# A bridge run with no heartbeat (committed batch) for this long died without recording it: closed as interrupted.
FIELDSYNC_REGISTRY_RUN_STALE_SECONDS = env_int("FIELDSYNC_REGISTRY_RUN_STALE_SECONDS", 900)
FIELDSYNC_ACCESS_TOKEN_SECONDS = env_int("FIELDSYNC_ACCESS_TOKEN_SECONDS", 3600)
FIELDSYNC_REFRESH_TOKEN_SECONDS = env_int("FIELDSYNC_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600)
FIELDSYNC_ENROLLMENT_CODE_SECONDS = env_int("FIELDSYNC_ENROLLMENT_CODE_SECONDS", 24 * 3600)
FIELDSYNC_MAX_OFFLINE_DAYS = env_int("FIELDSYNC_MAX_OFFLINE_DAYS", 180)
# Rows per pull page (a page ends on a transaction boundary, so it holds fewer unless one transaction
# alone is larger). Each page costs a round trip, a checkpoint and the request's fixed work (auth,
# scope): 10,000 rows are about 5 MB of JSON (the demo's ~540 bytes per row), which WatermelonDB parses
# and applies in one batch without trouble (its own protocol sends a whole sync in one response).
# docs/sync_benchmarks.md measures 5,000 against 10,000.
FIELDSYNC_PULL_PAGE_ROWS = env_int("FIELDSYNC_PULL_PAGE_ROWS", 10_000)
# JSON request bodies (a push of up to sync.push.MAX_PUSH_RECORDS records with long notes) held in
# memory; Django's 2.5 MB default refused pushes of a few thousand records. tus bodies are streamed
# and not limited by this. Larger bodies get a 413 sync_payload_too_large envelope.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("FIELDSYNC_MAX_REQUEST_BYTES", 32 * 1024 * 1024)
# Per device: open quarantined push records (count, and bytes of their payloads) before pushes that
# would add more are refused whole with 429 sync_quarantine_full (docs/architecture.md, quarantine cap).
FIELDSYNC_QUARANTINE_DEVICE_MAX_ITEMS = env_int("FIELDSYNC_QUARANTINE_DEVICE_MAX_ITEMS", 1000)
FIELDSYNC_QUARANTINE_DEVICE_MAX_BYTES = env_int("FIELDSYNC_QUARANTINE_DEVICE_MAX_BYTES", 8 * 1024 * 1024)
FIELDSYNC_MIN_SCHEMA_VERSION = env_int("FIELDSYNC_MIN_SCHEMA_VERSION", 1)
FIELDSYNC_INPROCESS_WORKER = env_bool("FIELDSYNC_INPROCESS_WORKER", False)
FIELDSYNC_FACE_SEARCH_RATE_PER_HOUR = env_int("FIELDSYNC_FACE_SEARCH_RATE_PER_HOUR", 60)
# Gallery size from which face searches use the approximate inverted-file index (backend/faces/index.py);
# 0 = never (the default: on the synthetic benchmark, at recall@10 >= 0.99 it is slower than the exact
# scan; docs/faces.md). 200000 is the suggested value where the embeddings are clustered.
FIELDSYNC_FACE_ANN_MIN_VECTORS = env_int("FIELDSYNC_FACE_ANN_MIN_VECTORS", 0)
FIELDSYNC_LOGIN_RATE_PER_MINUTE = env_int("FIELDSYNC_LOGIN_RATE_PER_MINUTE", 10)
FIELDSYNC_FACE_REQUIRE_SECOND_VERIFIER = env_bool("FIELDSYNC_FACE_REQUIRE_SECOND_VERIFIER", True)
FIELDSYNC_DEVICE_AUTHENTICATOR = "backend.accounts.auth.device_from_bearer"
FIELDSYNC_PHOTO_ACCESS_CHECKER = "backend.registry.photo_access.registry_photo_access"
FIELDSYNC_UPLOAD_MAX_BYTES = env_int("FIELDSYNC_UPLOAD_MAX_BYTES", 30 * 1024 * 1024)
FIELDSYNC_UPLOAD_DEVICE_QUOTA_BYTES = env_int("FIELDSYNC_UPLOAD_DEVICE_QUOTA_BYTES", 2 * 1024 * 1024 * 1024)
FIELDSYNC_UPLOAD_EXPIRY_SECONDS = env_int("FIELDSYNC_UPLOAD_EXPIRY_SECONDS", 7 * 24 * 3600)
FIELDSYNC_PHOTO_RETENTION_DAYS = env_int("FIELDSYNC_PHOTO_RETENTION_DAYS", 30)  # unreferenced photos
FIELDSYNC_MEDIA_HOUSEKEEPING_SECONDS = env_int("FIELDSYNC_MEDIA_HOUSEKEEPING_SECONDS", 3600)
