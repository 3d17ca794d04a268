"""/console/: pages for central sync administrators (auditors read-only)."""

from __future__ import annotations

from django.urls import URLPattern, path

from backend.console import views

app_name = "console"

urlpatterns: list[URLPattern] = [
    path("", views.index, name="index"),
    path("login/", views.ConsoleLoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("devices/", views.fleet, name="fleet"),
    path("devices/enroll/", views.device_enroll, name="device_enroll"),
    path("devices/<str:device_id>/revoke/", views.device_revoke, name="device_revoke"),
    path("reviews/", views.reviews, name="reviews"),
    path("reviews/<str:item_id>/resolve/", views.review_resolve, name="review_resolve"),
    path("quarantine/", views.quarantine, name="quarantine"),
    path("quarantine/<str:item_id>/", views.quarantine_act, name="quarantine_act"),
    path("bridge/", views.bridge_runs, name="bridge"),
    path("bridge/run/", views.bridge_run, name="bridge_run"),
    path("audit/", views.audit, name="audit"),
]
