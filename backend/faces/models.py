"""Gallery templates, searches, candidates and officers' decisions on candidates."""

from __future__ import annotations

import uuid

from django.db import models


class GalleryState(models.Model):
    """Single row (pk=1): the gallery version, bumped whenever the set of active templates changes."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0)


class GalleryTemplate(models.Model):
    """One 128-d encoding of one photo of a wanted notice's subject."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wanted_notice_id = models.UUIDField(db_index=True)
    photo_sha256 = models.CharField(max_length=64)
    encoding = models.BinaryField()  # 128 x float32, little-endian
    box = models.JSONField()
    face_size_px = models.IntegerField()
    blur_variance = models.FloatField()
    quality_flags = models.JSONField(default=list)
    template_meta = models.JSONField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wanted_notice_id", "photo_sha256"], name="gallerytemplate_notice_photo"),
        ]


class EnrolmentFailure(models.Model):
    """A wanted-notice photo that could not be enrolled, with the pipeline's code."""

    wanted_notice_id = models.UUIDField()
    photo_sha256 = models.CharField(max_length=64)
    code = models.CharField(max_length=64)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wanted_notice_id", "photo_sha256"], name="enrolmentfailure_notice_photo"),
        ]


class SearchPurpose(models.TextChoices):
    BORDER_CHECK = "border_check", "Identity check at a border crossing"
    TRAFFIC_STOP = "traffic_stop", "Identity check during a patrol or traffic stop"
    WANTED_SUSPECT_SIGHTING = "wanted_suspect_sighting", "Possible sighting of a wanted person"
    ARREST_PROCESSING = "arrest_processing", "Identification after an arrest"
    MISSING_PERSON = "missing_person", "Missing or unidentified person"


class SearchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class FaceSearch(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    device = models.ForeignKey("accounts.Device", on_delete=models.PROTECT, related_name="face_searches")
    officer = models.ForeignKey("accounts.Officer", on_delete=models.PROTECT, related_name="face_searches")
    purpose = models.CharField(max_length=40, choices=SearchPurpose.choices)
    case_reference = models.CharField(max_length=128)
    probe_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=SearchStatus.choices, default=SearchStatus.QUEUED)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    gallery_version = models.BigIntegerField(null=True)
    gallery_size = models.IntegerField(null=True)
    threshold = models.FloatField(null=True)
    model_name = models.CharField(max_length=128, blank=True)
    faces_found = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True)


class FaceCandidate(models.Model):
    """A gallery entry resembling a probe face: a candidate for a human to judge, never an identification."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    search = models.ForeignKey(FaceSearch, on_delete=models.CASCADE, related_name="candidates")
    probe_face_index = models.IntegerField()
    probe_box = models.JSONField()
    rank = models.IntegerField()
    wanted_notice_id = models.UUIDField()
    distance = models.FloatField()
    score = models.FloatField()
    is_within_threshold = models.BooleanField()

    class Meta:
        ordering = ["search", "probe_face_index", "rank"]


class DecisionKind(models.TextChoices):
    CONFIRM = "confirm", "Confirmed: same person"
    REJECT = "reject", "Rejected: not the same person"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


class CandidateDecision(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    candidate = models.ForeignKey(FaceCandidate, on_delete=models.CASCADE, related_name="decisions")
    officer = models.ForeignKey("accounts.Officer", on_delete=models.PROTECT)
    decision = models.CharField(max_length=16, choices=DecisionKind.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["candidate", "officer"], name="decision_one_per_officer")]
