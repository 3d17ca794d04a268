"""Console registration of units, jurisdictions, officers and devices. Secrets are never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from backend.accounts.models import Device, DeviceToken, EnrollmentCode, Jurisdiction, Officer, Unit


class JurisdictionInline(admin.TabularInline[Jurisdiction, Unit]):
    model = Jurisdiction
    extra = 0


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin[Unit]):
    list_display = ("code", "name", "kind", "is_province_wide")
    list_filter = ("kind", "is_province_wide")
    search_fields = ("code", "name")
    inlines = (JurisdictionInline,)


@admin.register(Jurisdiction)
class JurisdictionAdmin(admin.ModelAdmin[Jurisdiction]):
    list_display = ("unit", "commune_code", "valid_from", "valid_to")
    list_filter = ("unit",)
    search_fields = ("commune_code", "unit__code")


@admin.register(Officer)
class OfficerAdmin(UserAdmin):  # type: ignore[type-arg]
    list_display = ("username", "display_name", "role", "unit", "is_active", "is_staff")
    list_filter = ("role", "unit", "is_active")
    search_fields = ("username", "display_name", "badge_number")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("fieldsync", {"fields": ("role", "unit", "display_name", "badge_number")}),
    )


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin[Device]):
    list_display = ("label", "id", "unit", "status", "current_officer", "last_pull_at", "last_push_at", "app_version")
    list_filter = ("status", "unit")
    search_fields = ("label", "id")
    exclude = ("credential_hash",)
    readonly_fields = (
        "id",
        "status",
        "enrolled_at",
        "revoked_at",
        "revoked_reason",
        "wipe_acknowledged_at",
        "last_seen_at",
        "last_pull_at",
        "last_push_at",
        "app_version",
        "schema_version",
        "current_officer",
    )


@admin.register(EnrollmentCode)
class EnrollmentCodeAdmin(admin.ModelAdmin[EnrollmentCode]):
    list_display = ("device", "issued_by", "created_at", "expires_at", "used_at")
    exclude = ("code_hash",)
    readonly_fields = ("device", "issued_by", "created_at", "expires_at", "used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # codes are issued through the service (audited), never typed in


@admin.register(DeviceToken)
class DeviceTokenAdmin(admin.ModelAdmin[DeviceToken]):
    list_display = ("device", "officer", "kind", "created_at", "expires_at", "revoked_at")
    list_filter = ("kind",)
    exclude = ("token_hash",)
    readonly_fields = ("device", "officer", "kind", "created_at", "expires_at", "revoked_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
