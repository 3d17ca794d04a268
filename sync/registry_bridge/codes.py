"""Stable problem codes for rows the bridge quarantines or sends to review (never renamed or reused)."""

from __future__ import annotations

from enum import StrEnum

SOURCE = "registry_bridge"


class BridgeProblem(StrEnum):
    TEXT_TCVN3 = "registry_text_tcvn3"  # legacy ABC/TCVN3 text: quarantined, never stored as garbage
    COMMUNE_UNKNOWN = "registry_commune_unknown"  # neither a 2025 nor a pre-2025 code of the province
    COMMUNE_SPLIT = "registry_commune_split"  # pre-2025 commune split across several 2025 communes
    ID_NUMBER_INVALID = "registry_id_number_invalid"  # not 12 digits
    ID_NUMBER_CONFLICT = "registry_id_number_conflict"  # another person already holds the number
    DATE_INVALID = "registry_date_invalid"
    ROW_INVALID = "registry_row_invalid"  # anything else the mapping refuses
    PERSON_UNKNOWN = "registry_person_unknown"  # a notice pointing to a person we do not have
