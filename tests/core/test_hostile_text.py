"""normalize_text against what hostile or broken clients send: NUL, control characters, lone surrogates."""

from __future__ import annotations

import orjson
import pytest

from backend.core.text import json_make_storable, normalize_text, text_make_storable


def test_normalize_text_removes_nul_and_control_characters_and_keeps_whitespace_as_spaces() -> None:
    assert normalize_text("Cửa\x00 khẩu\x07\x1b[31m\x7f\x9b\tHữu\nNghị\x85") == "Cửa khẩu[31m Hữu Nghị"


def test_normalize_text_replaces_a_lone_surrogate_and_is_idempotent() -> None:
    once = normalize_text("gặp lúc 6h \ud83d")

    assert once == "gặp lúc 6h \ufffd"
    assert normalize_text(once) == once
    assert once.encode("utf-8") == "gặp lúc 6h �".encode()


def test_storable_json_drops_nul_and_replaces_surrogates_in_keys_and_values_only() -> None:
    parsed = {"id\x00": ["a\x00b", "\udc00", 1.5, None, True, {"ok": "Nguyễn"}]}

    assert json_make_storable(parsed) == {"id": ["ab", "\ufffd", 1.5, None, True, {"ok": "Nguyễn"}]}
    assert text_make_storable("Nguyễn") == "Nguyễn"


def test_storable_parsing_walks_the_value_only_when_it_can_carry_nul_or_a_surrogate() -> None:
    import json

    from backend.core.text import json_loads_storable

    samples = [
        '{"id\\u0000": ["a\\u0000b", "\\udc00", 1.5, null, true, {"ok": "Nguy\\u1ec5n"}]}',
        '{"a": "\\uD83D\\uDE00 ok", "b": "\\ud83d", "c": "\\uDFFF"}',
        '[{"deep": [[["\\u0000"]]]}]',
        '{"a": "plain", "b": [1, 2, {"c": "Cửa khẩu"}]}',
        '["\\\\u0000 is six characters"]',
    ]
    for sample in samples:
        expected = json_make_storable(json.loads(sample))
        assert json_loads_storable(sample) == expected
        assert json_loads_storable(sample.encode()) == expected
    assert json_loads_storable(samples[0]) == {"id": ["ab", "\ufffd", 1.5, None, True, {"ok": "Nguyễn"}]}


@pytest.mark.parametrize(
    "body",
    [
        # json.loads reads bytes with "surrogatepass": a surrogate encoded straight into UTF-8 (ED A0 80,
        # what a buggy client or a cut CESU-8 string sends) parses to a lone surrogate without any escape.
        pytest.param(b'{"id": "a\xed\xa0\x80b", "k\xed\xb0\x80": 1}', id="utf8-encoded-surrogates"),
        # json.loads also reads UTF-16 and UTF-32 bodies: their escapes are not the bytes \u0000.
        pytest.param('{"n": "a\\u0000b", "s": "\\ud800"}'.encode("utf-16-le"), id="utf16le-escapes"),
        pytest.param('{"n": "a\\u0000b", "s": "\\ud800"}'.encode("utf-16"), id="utf16-bom-escapes"),
        pytest.param('{"n": "a\\u0000b", "s": "\\ud800"}'.encode("utf-32-be"), id="utf32be-escapes"),
        pytest.param('{"n": "a\\u0000b"}'.encode("utf-8-sig"), id="utf8-bom-escapes"),
    ],
)
def test_storable_parsing_of_bytes_makes_every_string_storable_whatever_the_encoding(body: bytes) -> None:
    import json

    from backend.core.text import json_loads_storable

    parsed = json_loads_storable(body)

    assert parsed == json_make_storable(json.loads(body))
    assert "\x00" not in repr(parsed)
    text = orjson.dumps(parsed)  # refuses a surrogate
    assert b"\\u0000" not in text


def test_storable_parsing_of_text_with_a_raw_surrogate_replaces_it() -> None:
    from backend.core.text import json_loads_storable

    assert json_loads_storable('{"a\ud800": "x\udfffy"}') == {"a\ufffd": "x\ufffdy"}
