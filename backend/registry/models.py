"""The provincial registry as the field sees it: persons, their residences, convictions, drug-use
management periods, the wanted handbook, and what devices record offline (checks, photo links).

Primary keys are UUIDs; rows created on a device keep the device's UUID (exactly-once creates).
Text is stored NFC (`backend.core.text.normalize_text`); person names also get the derived
`exact_key` / `search_key` (DOMAIN §0.3). Registry records are archived, never hard-deleted.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Sex(models.TextChoices):
    MALE = "M", "Nam"
    FEMALE = "F", "Nữ"
    UNKNOWN = "U", "Không rõ"


class DatePrecision(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"
    YEAR = "year", "Year only"
    UNKNOWN = "unknown", "Unknown"


class ManagementStatus(models.TextChoices):
    """How the commune police follow a person (a field status; mergeable, last writer wins)."""

    NONE = "none", "Not under management"
    MONITORED = "monitored", "Monitored (theo dõi)"
    PROBATION = "probation", "Suspended sentence / non-custodial reform in the commune"
    POST_PRISON = "post_prison", "Released, reintegration follow-up"
    DRUG_MANAGEMENT = "drug_management", "Under drug-user management"
    LEFT_AREA = "left_area", "Left the area (tạm vắng / whereabouts changed)"


class Person(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    full_name = models.CharField(max_length=200)  # as recorded, NFC
    family_name = models.CharField(max_length=60, blank=True)
    middle_name = models.CharField(max_length=100, blank=True)
    given_name = models.CharField(max_length=60, blank=True)
    aliases = models.JSONField(default=list, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    dob_year = models.SmallIntegerField(null=True, blank=True)
    dob_month = models.SmallIntegerField(null=True, blank=True)
    dob_day = models.SmallIntegerField(null=True, blank=True)
    dob_precision = models.CharField(max_length=8, choices=DatePrecision.choices, default=DatePrecision.UNKNOWN)
    personal_id_number = models.CharField(max_length=12, null=True, blank=True, unique=True)
    ethnicity = models.CharField(max_length=40, blank=True)
    native_place = models.CharField(max_length=200, blank=True)
    father_name = models.CharField(max_length=200, blank=True)
    mother_name = models.CharField(max_length=200, blank=True)
    identifying_marks = models.TextField(blank=True)
    height_cm = models.SmallIntegerField(null=True, blank=True)
    primary_commune_code = models.CharField(max_length=5, db_index=True)
    exact_key = models.CharField(max_length=300, db_index=True, editable=False)
    search_key = models.CharField(max_length=300, db_index=True, editable=False)
    is_synthetic = models.BooleanField(default=False)
    is_archived = models.BooleanField(default=False)
    source = models.CharField(max_length=40, default="registry")
    data_quality = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)  # append-only observations
    management_status = models.CharField(max_length=32, choices=ManagementStatus.choices, default=ManagementStatus.NONE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["search_key", "dob_year"], name="person_search_dob")]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.dob_year or '?'})"


class ResidenceKind(models.TextChoices):
    THUONG_TRU = "THUONG_TRU", "Thường trú"
    TAM_TRU = "TAM_TRU", "Tạm trú"
    NOI_O_HIEN_TAI = "NOI_O_HIEN_TAI", "Nơi ở hiện tại"
    LUU_TRU = "LUU_TRU", "Lưu trú"


class AdminCodeVersion(models.TextChoices):
    PRE_2025 = "pre2025", "Before 1 Jul 2025 (huyện + old xã)"
    V2025 = "2025", "From 1 Jul 2025 (5-digit commune codes)"


class Residence(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="residences")
    kind = models.CharField(max_length=16, choices=ResidenceKind.choices)
    province_code = models.CharField(max_length=2, blank=True)
    ward_code = models.CharField(max_length=5, blank=True, db_index=True)
    village_or_street = models.CharField(max_length=200, blank=True)
    address_text_as_recorded = models.CharField(max_length=400, blank=True)
    admin_code_version = models.CharField(
        max_length=8, choices=AdminCodeVersion.choices, default=AdminCodeVersion.V2025
    )
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=40, default="registry")
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class PenaltyType(models.TextChoices):
    """Principal penalties, Penal Code art. 32."""

    WARNING = "CANH_CAO", "Cảnh cáo"
    FINE = "PHAT_TIEN", "Phạt tiền"
    NON_CUSTODIAL_REFORM = "CAI_TAO_KHONG_GIAM_GIU", "Cải tạo không giam giữ"
    EXPULSION = "TRUC_XUAT", "Trục xuất"
    FIXED_TERM_PRISON = "TU_CO_THOI_HAN", "Tù có thời hạn"
    LIFE_PRISON = "TU_CHUNG_THAN", "Tù chung thân"
    DEATH = "TU_HINH", "Tử hình"
    SUSPENDED = "TU_CHO_HUONG_AN_TREO", "Tù cho hưởng án treo"


class ExpunctionBasis(models.TextChoices):
    NONE = "", "Not expunged"
    AUTO_ART70 = "AUTO_ART70", "Automatic (Penal Code art. 70)"
    COURT_ART71 = "COURT_ART71", "Court decision (art. 71)"


class CriminalRecord(models.Model):
    """One conviction (án tích). Expunged convictions are kept with their date (Phiếu LLTP số 2)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="criminal_records")
    judgment_no = models.CharField(max_length=60)
    judgment_date = models.DateField()
    court = models.CharField(max_length=200)
    charges = models.JSONField(default=list)  # ["BLHS2015:249.1.a", ...]
    principal_penalty_type = models.CharField(max_length=32, choices=PenaltyType.choices)
    principal_penalty_months = models.IntegerField(null=True, blank=True)  # prison, suspended or reform term
    probation_months = models.IntegerField(null=True, blank=True)  # suspended sentences only
    fine_vnd = models.BigIntegerField(null=True, blank=True)  # principal fine only
    additional_penalties = models.JSONField(default=list, blank=True)
    civil_obligations = models.TextField(blank=True)
    enforcement_status = models.CharField(max_length=40, blank=True)
    completion_date = models.DateField(null=True, blank=True)
    expunged = models.BooleanField(default=False)
    expunged_date = models.DateField(null=True, blank=True)
    expunction_basis = models.CharField(max_length=16, choices=ExpunctionBasis.choices, default="", blank=True)
    source = models.CharField(max_length=40, default="registry")
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class WantedCategory(models.TextChoices):
    SUSPECT = "SUSPECT", "Bị can / đối tượng bỏ trốn"
    DEFENDANT = "DEFENDANT", "Bị cáo bỏ trốn"
    CONVICT_ESCAPED = "CONVICT_ESCAPED", "Người bị kết án trốn thi hành án"
    ESCAPED_IN_CUSTODY = "ESCAPED_IN_CUSTODY", "Trốn khỏi nơi giam"


class WantedType(models.TextChoices):
    ORDINARY = "ORDINARY", "Truy nã thường"
    SPECIAL = "SPECIAL", "Truy nã đặc biệt"
    INTERNATIONAL = "INTERNATIONAL", "Truy nã quốc tế (Interpol)"


class WantedStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Đang truy nã"
    RESCINDED = "RESCINDED", "Đã đình nã"


class RescissionReason(models.TextChoices):
    NONE = "", "—"
    ARRESTED = "ARRESTED", "Bị bắt"
    SURRENDERED = "SURRENDERED", "Ra đầu thú"
    DEAD = "DEAD", "Đã chết"
    DECISION_CANCELLED = "DECISION_CANCELLED", "Hủy quyết định truy nã"


class WantedNotice(models.Model):
    """A wanted decision (CPC 2015 art. 231) with the identity snapshot printed on it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="wanted_notices")
    decision_no = models.CharField(max_length=60)
    decision_date = models.DateField()
    place = models.CharField(max_length=200, blank=True)
    issuing_agency = models.CharField(max_length=200)
    signer_name = models.CharField(max_length=200, blank=True)
    signer_position = models.CharField(max_length=200, blank=True)
    legal_basis = models.TextField(blank=True)
    agency_contact = models.CharField(max_length=300, blank=True)
    # identity snapshot, as printed on the decision
    full_name = models.CharField(max_length=200)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    dob_year = models.SmallIntegerField(null=True, blank=True)
    dob_month = models.SmallIntegerField(null=True, blank=True)
    dob_day = models.SmallIntegerField(null=True, blank=True)
    aliases = models.JSONField(default=list, blank=True)
    father_name = models.CharField(max_length=200, blank=True)
    mother_name = models.CharField(max_length=200, blank=True)
    residence_text = models.CharField(max_length=400, blank=True)
    identifying_marks = models.TextField(blank=True)
    charges = models.JSONField(default=list)
    category = models.CharField(max_length=24, choices=WantedCategory.choices)
    wanted_type = models.CharField(max_length=16, choices=WantedType.choices, default=WantedType.ORDINARY)
    status = models.CharField(max_length=12, choices=WantedStatus.choices, default=WantedStatus.ACTIVE)
    rescission_decision_no = models.CharField(max_length=60, blank=True)
    rescission_date = models.DateField(null=True, blank=True)
    rescission_reason = models.CharField(max_length=24, choices=RescissionReason.choices, default="", blank=True)
    photo_sha256 = models.JSONField(default=list, blank=True)
    exact_key = models.CharField(max_length=300, db_index=True, editable=False)
    search_key = models.CharField(max_length=300, db_index=True, editable=False)
    is_synthetic = models.BooleanField(default=False)
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class DrugMeasure(models.TextChoices):
    MANAGEMENT = "MANAGEMENT", "Quản lý người sử dụng trái phép (art. 23)"
    VOLUNTARY_REHAB_HOME = "VOLUNTARY_REHAB_HOME", "Cai nghiện tự nguyện tại gia đình/cộng đồng"
    VOLUNTARY_REHAB_FACILITY = "VOLUNTARY_REHAB_FACILITY", "Cai nghiện tự nguyện tại cơ sở"
    COMPULSORY_REHAB = "COMPULSORY_REHAB", "Cai nghiện bắt buộc"
    METHADONE = "METHADONE", "Điều trị thay thế (methadone)"
    POST_REHAB = "POST_REHAB", "Quản lý sau cai nghiện (art. 40)"


class DrugRecordStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"


class DrugUseRecord(models.Model):
    """One drug-use management / rehabilitation period (dates decide art. 256a liability)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="drug_use_records")
    commune_code = models.CharField(max_length=5, db_index=True)
    measure = models.CharField(max_length=32, choices=DrugMeasure.choices)
    decision_no = models.CharField(max_length=60, blank=True)
    decision_date = models.DateField(null=True, blank=True)
    deciding_authority = models.CharField(max_length=200, blank=True)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=DrugRecordStatus.choices, default=DrugRecordStatus.ACTIVE)
    notes = models.TextField(blank=True)
    is_synthetic = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class CheckResult(models.TextChoices):
    HIT_WANTED = "HIT_WANTED", "Wanted handbook hit"
    HIT_RECORD = "HIT_RECORD", "Registry record hit"
    NO_HIT = "NO_HIT", "No hit"
    OUT_OF_SCOPE = "OUT_OF_SCOPE", "Out of scope"


class CheckPurpose(models.TextChoices):
    BORDER_CROSSING = "BORDER_CROSSING", "Border crossing check"
    RESIDENT_CHECK = "RESIDENT_CHECK", "Resident check"
    PATROL_STOP = "PATROL_STOP", "Patrol stop"
    DRUG_MANAGEMENT_VISIT = "DRUG_MANAGEMENT_VISIT", "Drug-management visit"
    OTHER = "OTHER", "Other"


class Check(models.Model):
    """A field encounter recorded offline. `captured_at` is the device's clock: data, never order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="checks")
    personal_id_number_seen = models.CharField(max_length=20, blank=True)
    full_name_seen = models.CharField(max_length=200, blank=True)
    commune_code = models.CharField(max_length=5, blank=True)
    location_text = models.CharField(max_length=300, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    captured_at = models.DateTimeField()
    purpose = models.CharField(max_length=32, choices=CheckPurpose.choices)
    result = models.CharField(max_length=16, choices=CheckResult.choices)
    notes = models.TextField(blank=True)
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="checks"
    )
    device = models.ForeignKey("accounts.Device", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey("accounts.Unit", on_delete=models.PROTECT, related_name="checks")
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class PhotoKind(models.TextChoices):
    SUBJECT = "subject", "Photo of the person"
    DOCUMENT = "document", "Identity document"
    SCENE = "scene", "Scene / vehicle / goods"
    HANDBOOK = "handbook", "Wanted handbook photo"


class PhotoLink(models.Model):
    """The synced `photos` row: links a record to a photo blob (by sha256), whichever arrives first."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    record_table = models.CharField(max_length=32)
    record_id = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64, db_index=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(max_length=16, choices=PhotoKind.choices, default=PhotoKind.SUBJECT)
    is_uploaded = models.BooleanField(default=False)
    unit = models.ForeignKey("accounts.Unit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    device = models.ForeignKey("accounts.Device", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["record_table", "record_id"], name="photolink_record")]
