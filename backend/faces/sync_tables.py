"""Face search results as synced, read-only tables scoped to the requesting device."""

from __future__ import annotations

from typing import Any

from backend.faces.models import FaceCandidate, FaceSearch
from sync.registry import Column, ColumnType, FieldPolicy, SyncedTable, register_table

S, N, B = ColumnType.STRING, ColumnType.NUMBER, ColumnType.BOOLEAN
SERVER = FieldPolicy.SERVER


def _ms(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def serialize_search(search: FaceSearch) -> dict[str, Any]:
    return {
        "id": str(search.id),
        "purpose": search.purpose,
        "case_reference": search.case_reference,
        "probe_sha256": search.probe_sha256,
        "status": search.status,
        "error_code": search.error_code or None,
        "gallery_version": search.gallery_version,
        "threshold": search.threshold,
        "model_name": search.model_name or None,
        "faces_found": search.faces_found,
        "requested_at": _ms(search.created_at),
        "finished_at": _ms(search.finished_at),
    }


def serialize_candidate(candidate: FaceCandidate) -> dict[str, Any]:
    return {
        "id": str(candidate.id),
        "face_search_id": str(candidate.search_id),
        "probe_face_index": candidate.probe_face_index,
        "rank": candidate.rank,
        "wanted_notice_id": str(candidate.wanted_notice_id),
        "distance": round(candidate.distance, 6),
        "score": round(candidate.score, 6),
        "is_within_threshold": candidate.is_within_threshold,
        "label": "candidate",
    }


def register() -> None:
    register_table(
        SyncedTable(
            name="face_searches",
            columns=(
                Column("purpose", S, SERVER),
                Column("case_reference", S, SERVER),
                Column("probe_sha256", S, SERVER, is_indexed=True),
                Column("status", S, SERVER),
                Column("error_code", S, SERVER),
                Column("gallery_version", N, SERVER),
                Column("threshold", N, SERVER),
                Column("model_name", S, SERVER),
                Column("faces_found", N, SERVER),
                Column("requested_at", N, SERVER),
                Column("finished_at", N, SERVER),
            ),
        )
    )
    register_table(
        SyncedTable(
            name="face_candidates",
            columns=(
                Column("face_search_id", S, SERVER, is_optional=False, is_indexed=True),
                Column("probe_face_index", N, SERVER, is_optional=False),
                Column("rank", N, SERVER, is_optional=False),
                Column("wanted_notice_id", S, SERVER, is_optional=False, is_indexed=True),
                Column("distance", N, SERVER, is_optional=False),
                Column("score", N, SERVER, is_optional=False),
                Column("is_within_threshold", B, SERVER, is_optional=False),
                Column("label", S, SERVER, is_optional=False),
            ),
        )
    )
