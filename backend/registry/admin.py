"""Console views of the registry. Registry-owned data is read-only here: edits go through services
(so devices are told through sync), and the registry bridge owns identity fields.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from backend.registry.models import Check, CriminalRecord, DrugUseRecord, Person, PhotoLink, Residence, WantedNotice


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Every field read-only: a direct save here would bypass the sync change log."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class ResidenceInline(admin.TabularInline[Residence, Person]):
    model = Residence
    extra = 0
    can_delete = False
    fields = ("kind", "ward_code", "village_or_street", "valid_from", "valid_to")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Person)
class PersonAdmin(ReadOnlyAdmin):
    list_display = ("full_name", "dob_year", "sex", "personal_id_number", "primary_commune_code", "management_status")
    list_filter = ("sex", "management_status", "is_synthetic", "is_archived", "ethnicity")
    search_fields = ("search_key", "personal_id_number", "=id")
    inlines = (ResidenceInline,)

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        """Search on the accent-insensitive key: "nguyen van" finds "Nguyễn Văn"."""
        from backend.core.text import search_key

        return super().get_search_results(request, queryset, search_key(search_term) or search_term)


@admin.register(Residence)
class ResidenceAdmin(ReadOnlyAdmin):
    list_display = ("person", "kind", "ward_code", "village_or_street", "valid_from", "valid_to")
    list_filter = ("kind", "admin_code_version")
    search_fields = ("person__search_key", "person__personal_id_number", "ward_code")
    list_select_related = ("person",)


@admin.register(CriminalRecord)
class CriminalRecordAdmin(ReadOnlyAdmin):
    list_display = ("person", "judgment_no", "judgment_date", "court", "principal_penalty_type", "expunged")
    list_filter = ("expunged", "principal_penalty_type")
    search_fields = ("person__search_key", "person__personal_id_number", "judgment_no")
    list_select_related = ("person",)


@admin.register(WantedNotice)
class WantedNoticeAdmin(ReadOnlyAdmin):
    list_display = ("full_name", "decision_no", "decision_date", "category", "wanted_type", "status")
    list_filter = ("status", "category", "wanted_type")
    search_fields = ("search_key", "decision_no", "person__personal_id_number")


@admin.register(DrugUseRecord)
class DrugUseRecordAdmin(ReadOnlyAdmin):
    list_display = ("person", "commune_code", "measure", "start_date", "end_date", "status")
    list_filter = ("status", "measure")
    search_fields = ("person__search_key", "person__personal_id_number", "decision_no")
    list_select_related = ("person",)


@admin.register(Check)
class CheckAdmin(ReadOnlyAdmin):
    list_display = ("id", "captured_at", "unit", "officer", "purpose", "result", "commune_code")
    list_filter = ("result", "purpose", "unit")
    search_fields = ("personal_id_number_seen", "full_name_seen", "=id")


@admin.register(PhotoLink)
class PhotoLinkAdmin(ReadOnlyAdmin):
    list_display = ("id", "record_table", "record_id", "sha256", "kind", "is_uploaded", "is_archived")
    list_filter = ("record_table", "kind", "is_uploaded")
    search_fields = ("sha256", "record_id")
