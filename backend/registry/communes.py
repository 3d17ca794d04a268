"""The province's 5-digit commune codes (post-2025), from the catalogue in `synthetic.COMMUNES`.

The catalogue is real administrative data (the 65 communes and wards of Lạng Sơn); only the
persons that `synthetic` generates are invented.
"""

from __future__ import annotations

from functools import cache

PROVINCE_CODE = "20"  # Lạng Sơn (2025 province code)


@cache
def commune_codes() -> frozenset[str]:
    from backend.registry.synthetic import COMMUNES

    return frozenset(c.code for c in COMMUNES)


def is_known_commune(code: str) -> bool:
    return code in commune_codes()
