"""Vietnamese text normalisation and matching keys (pure Python, no Django).

Entry points (API, sync, import) pass every free-text value through `normalize_text`, and
person-name fields through `normalize_name` (DOMAIN §4.1). Two derived keys support matching:

* `exact_key` — the dedup / exact-match key. It ignores Unicode form, mark order, case,
  spacing, the Đ/Ð homoglyph and *where* the tone mark sits (hòa = hoà), but keeps the tone
  itself and the vowel-quality marks (Tuấn ≠ Tuân, Lý ≠ Lí, Nguyễn ≠ Nguyen).
* `search_key` — the accent-insensitive recall key. Strips every mark, maps đ→d, folds the
  syllable-final single-vowel i/y spelling variant (Lý/Lí, Quý/Quí) and nothing else
  (Thủy ≠ Thủi, Tay ≠ Tai). It only finds candidates; it never justifies a merge.

Legacy TCVN3 (ABC, ".VnTime" fonts) text mis-decoded as Latin-1/cp1252 is detected with
`looks_like_tcvn3` and converted with `tcvn3_to_unicode`. Callers decide what to do with it;
DOMAIN §4.1.6 says quarantine it rather than fix it silently.

Run `looks_like_tcvn3` on the *raw* value, before `normalize_text`: TCVN3 stores "ư" as byte 0xAD,
which Latin-1 reads as a soft hyphen, and `normalize_text` removes soft hyphens.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any, Final

__all__ = [
    "TCVN3_TO_UNICODE",
    "exact_key",
    "json_loads_storable",
    "json_make_storable",
    "looks_like_tcvn3",
    "normalize_name",
    "normalize_text",
    "search_key",
    "tcvn3_to_unicode",
    "text_make_storable",
    "unicode_to_tcvn3",
    "vietnamese_sort_key",
]

# --- normalisation -------------------------------------------------------------------------

# Invisible characters that arrive through copy-paste and IMEs and carry no meaning in a record.
_INVISIBLE: Final[dict[int, None]] = {
    ord(c): None
    for c in (
        "\u200b",  # zero width space
        "\u200c",  # zero width non-joiner
        "\u200d",  # zero width joiner
        "\u2060",  # word joiner
        "\ufeff",  # byte order mark / zero width no-break space
        "\u00ad",  # soft hyphen
    )
}

# Control characters (C0, DEL, C1) other than the whitespace ones, which `normalize_text` collapses.
# NUL arrives as C-string padding of fixed-width legacy fields; none of them means anything in a record.
_CONTROL: Final[dict[int, None]] = {
    code: None for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if not chr(code).isspace()
}

# What no database stores: NUL (PostgreSQL text and jsonb refuse it) and lone UTF-16 surrogates
# (not Unicode scalar values: they cannot be encoded as UTF-8). A paired surrogate from JSON is
# already one code point by the time it is a Python str, so every surrogate left is a lone one.
_UNSTORABLE: Final[re.Pattern[str]] = re.compile("[\x00\ud800-\udfff]")
_LONE_SURROGATE: Final[re.Pattern[str]] = re.compile("[\ud800-\udfff]")

# Name fields only: letters that look like Đ/đ but are not (DOMAIN §4.1.3). ð is a real letter
# in other languages, so this is never applied to free text.
_NAME_HOMOGLYPHS: Final[dict[int, str]] = {
    0x00D0: "\u0110",  # Ð LATIN CAPITAL LETTER ETH -> Đ
    0x0189: "\u0110",  # Ɖ LATIN CAPITAL LETTER AFRICAN D -> Đ
    0x00F0: "\u0111",  # ð LATIN SMALL LETTER ETH -> đ
    0x0256: "\u0111",  # ɖ LATIN SMALL LETTER D WITH TAIL -> đ
}


# Combining marks that are Vietnamese tones, and those that change the vowel (â ê ô, ă, ơ ư).
_TONE_MARKS: Final[frozenset[str]] = frozenset("\u0300\u0301\u0303\u0309\u0323")


def _mark_order(mark: str) -> tuple[int, bool]:
    return unicodedata.combining(mark), mark in _TONE_MARKS


def _order_vietnamese_marks(text: str) -> str:
    """Put a tone after the vowel-quality mark of the same combining class, then compose.

    NFC reorders marks of different classes (o + dot below + circumflex), but circumflex, breve
    and the tones above all have class 230, so an IME that types the tone first ("e" + U+0303 +
    U+0302) leaves a string that NFC cannot compose into "ễ"."""
    out: list[str] = []
    marks: list[str] = []
    for c in unicodedata.normalize("NFD", text):
        if unicodedata.combining(c):
            marks.append(c)
            continue
        out.extend(sorted(marks, key=_mark_order))
        marks.clear()
        out.append(c)
    out.extend(sorted(marks, key=_mark_order))
    return unicodedata.normalize("NFC", "".join(out))


def text_make_storable(s: str) -> str:
    """Remove NUL and replace lone surrogates by U+FFFD, the Unicode replacement character.

    For the edge of the system, which cannot know whether a string is text or an identifier. NUL
    is C-string padding and means nothing (whatever removing it yields could have been sent as
    is); a lone surrogate is half a character that was cut off (an emoji split by a substring), so
    its place is marked. Every other string comes back unchanged.
    """
    if not _UNSTORABLE.search(s):
        return s
    return _LONE_SURROGATE.sub("\ufffd", s.replace("\x00", ""))


def json_make_storable(value: Any) -> Any:
    """`text_make_storable` applied to every string (keys too) of parsed JSON; other values as they are."""
    if isinstance(value, str):
        return text_make_storable(value)
    if isinstance(value, dict):
        return {text_make_storable(str(k)): json_make_storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_make_storable(v) for v in value]
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} does not fit a double")
    return value


_INT64_LIMIT: Final[int] = 2**63


def _int64_or_double(text: str) -> int | float:
    """An integer beyond 64 bits is read as the double JSON.parse reads (orjson, SQL and the phone
    hold no more); validation then judges it like any other out-of-range number."""
    value = int(text)
    return value if -_INT64_LIMIT <= value < _INT64_LIMIT else _finite_float(text)


def json_loads_storable(data: str | bytes) -> Any:
    """Parse JSON as JSON.stringify writes it, every string made storable (`json_make_storable`).

    Raises ValueError for what JSON.stringify never writes and no JSON column stores: NaN,
    Infinity, numbers beyond a double (1e999), as well as for text that is not JSON. Integers
    beyond 64 bits become doubles, as JSON.parse reads them.
    """
    parsed = json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_int64_or_double)
    # JSON carries NUL only as a \u escape (json.loads refuses a raw control character in a string),
    # a surrogate as a \u escape or as itself: in text, or in bytes encoded into UTF-8 (json.loads
    # decodes bytes with "surrogatepass"). Without either, every string is storable as parsed. A
    # UTF-16 or UTF-32 body (json.loads reads those too) is not scanned: it is always walked.
    # Each pattern is searched alone: one alternation of both is 10x slower (no literal to skip to).
    if isinstance(data, bytes | bytearray):
        if (
            json.detect_encoding(data) not in ("utf-8", "utf-8-sig")
            or _UNSTORABLE_ESCAPE_BYTES.search(data)
            or _ENCODED_SURROGATE.search(data)
        ):
            return json_make_storable(parsed)
        return parsed
    if _UNSTORABLE_ESCAPE.search(data) or _has_surrogate(data):
        return json_make_storable(parsed)
    return parsed


# \u0000 (NUL) and \uD800-\uDFFF (surrogates), in either case. An escaped backslash before "u" also
# matches: then the parsed value is walked for nothing, never the other way round.
_UNSTORABLE_ESCAPE: Final[re.Pattern[str]] = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE_ESCAPE_BYTES: Final[re.Pattern[bytes]] = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
# A surrogate encoded into UTF-8 (U+D800-U+DFFF: ED A0 80 - ED BF BF).
_ENCODED_SURROGATE: Final[re.Pattern[bytes]] = re.compile(rb"\xed[\xa0-\xbf]")


def _has_surrogate(s: str) -> bool:
    """Whether `s` holds a surrogate (UTF-8 encoding refuses it: faster than a regex over a str)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _char_class(codes: list[int]) -> str:
    """A regular-expression character class (the part inside [...]) matching exactly `codes`."""
    ranges: list[tuple[int, int]] = []
    for code in sorted(codes):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in ranges
    )


_BMP = range(0x10000)
_BMP_COMBINING_CODES: Final[list[int]] = [c for c in _BMP if unicodedata.combining(chr(c))]
# Combining marks of the Basic Multilingual Plane (combining class != 0). A character beyond it is
# checked one by one (rare: emoji, historic scripts).
_BMP_COMBINING: Final[re.Pattern[str]] = re.compile("[" + _char_class(_BMP_COMBINING_CODES) + "]")
_ASTRAL: Final[re.Pattern[str]] = re.compile("[\U00010000-\U0010ffff]")
# Anything `normalize_text` could change in an NFC string: NUL, surrogates, invisible and control
# characters, every whitespace character but the ASCII space, a space at either end or next to
# another, a combining mark, a character beyond the BMP. No match (and NFC): `s` is its own result.
_MAYBE_NOT_NORMAL: Final[re.Pattern[str]] = re.compile(
    "["
    + _char_class(
        sorted(
            {0}
            | set(range(0xD800, 0xE000))
            | set(_INVISIBLE)
            | set(_CONTROL)
            | {c for c in _BMP if chr(c).isspace() and c != 0x20}
            | set(_BMP_COMBINING_CODES)
        )
    )
    + "\\U00010000-\\U0010ffff]|  |\\A | \\Z"
)


def _has_combining(s: str) -> bool:
    if _BMP_COMBINING.search(s):
        return True
    return bool(_ASTRAL.search(s)) and any(unicodedata.combining(c) for c in s if ord(c) > 0xFFFF)


def normalize_text(s: str) -> str:
    """Return `s` in NFC without invisible or control characters, with whitespace collapsed and stripped.

    Removes ZWSP, ZWNJ, ZWJ, word joiner, BOM, soft hyphen and the control characters (NUL…);
    turns NBSP and every other Unicode space or line break into one ASCII space; replaces lone
    surrogates with U+FFFD; composes Vietnamese letters whose marks came in a non-canonical order.
    Idempotent; text that is already normal (most of it) is recognised by two scans in C and
    returned as it is.
    """
    if not _MAYBE_NOT_NORMAL.search(s) and unicodedata.is_normalized("NFC", s):
        return s
    without_invisible = text_make_storable(s).translate(_INVISIBLE).translate(_CONTROL)
    # str.split() with no argument splits on every Unicode whitespace character, NBSP included.
    collapsed = unicodedata.normalize("NFC", " ".join(without_invisible.split()))
    if _has_combining(collapsed):  # rare: only then pay for the reordering
        return _order_vietnamese_marks(collapsed)
    return collapsed


# Line separators of free text: CR LF, CR, LF, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR (and VT, FF).
_LINE_BREAK: Final[re.Pattern[str]] = re.compile("\r\n|[\n\r\v\f\x85\u2028\u2029]")


def normalize_multiline_text(s: str) -> str:
    """`normalize_text` for each line of a multi-line free text (notes), the line breaks kept as LF.

    Every line break spelling becomes one LF; within a line whitespace is collapsed as in
    `normalize_text`; blank lines at either end are dropped and a run of blank lines becomes one.
    Idempotent, and equal to `normalize_text` on text without line breaks.
    """
    lines = [normalize_text(line) for line in _LINE_BREAK.split(s)]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept)


def normalize_name(s: str) -> str:
    """`normalize_text` plus the Ð/Ɖ/ð/ɖ → Đ/đ homoglyph mapping. For person-name fields only."""
    return normalize_text(s).translate(_NAME_HOMOGLYPHS)


# --- matching keys -------------------------------------------------------------------------

# The five marked tones as combining characters, with the conventional VNI tone digits.
# A syllable with none of them has the level tone (ngang), written 0.
_TONE_DIGITS: Final[dict[str, str]] = {
    "\u0301": "1",  # sắc (acute)
    "\u0300": "2",  # huyền (grave)
    "\u0309": "3",  # hỏi (hook above)
    "\u0303": "4",  # ngã (tilde)
    "\u0323": "5",  # nặng (dot below)
}

# A run of letters together with their combining marks; in NFD the marks are not \w.
_WORD: Final[re.Pattern[str]] = re.compile(r"(?:[^\W\d_]|[\u0300-\u036f])+")

_VOWELS: Final[frozenset[str]] = frozenset("aeiouy")


def _syllable_exact_key(match: re.Match[str]) -> str:
    syllable = match.group()
    tones = sorted({_TONE_DIGITS[c] for c in syllable if c in _TONE_DIGITS})
    toneless = "".join(c for c in syllable if c not in _TONE_DIGITS)
    return unicodedata.normalize("NFC", toneless) + ("".join(tones) or "0")


def exact_key(name: str) -> str:
    """Dedup / exact-match key: per syllable, the toneless syllable plus its tone digit.

    Equal for NFC/NFD, mark order, case, spacing, Đ/Ð and old/new tone placement
    (hòa/hoà, thủy/thuỷ). Different for a different tone (Tuấn/Tuân), dropped accents and
    the i/y spelling variant (Lý/Lí). Example: "Nguyễn Văn Hòa" -> "nguyên4 văn0 hoa2".
    """
    decomposed = unicodedata.normalize("NFD", normalize_name(name).casefold())
    return unicodedata.normalize("NFC", _WORD.sub(_syllable_exact_key, decomposed))


def _fold_final_i_y(match: re.Match[str]) -> str:
    word = match.group()
    if word[-1] not in "iy":
        return word
    before = word[-2] if len(word) >= 2 else ""
    # Fold only a single-vowel nucleus: Lý/Lí, Mỹ/Mĩ, Kỳ/Kì, and Quý/Quí where the "u" belongs to
    # the consonant "qu". Never fold the diphthongs uy (Thủy/Thủi) or ay (Tay/Tai).
    single_vowel = before not in _VOWELS or (before == "u" and word[-3:-2] == "q")
    return word[:-1] + "i" if single_vowel else word


_LETTER_RUN: Final[re.Pattern[str]] = re.compile(r"[^\W\d_]+")


def search_key(name: str) -> str:
    """Accent-insensitive recall key: no marks, đ→d, lower case, final single-vowel y→i.

    Equal for Nguyễn/Nguyen, Đặng/Dang, Tuấn/Tuân, Lý/Lí, Quý/Quí. Different for Thủy/Thủi
    and Tay/Tai. Use it to find candidates only.
    """
    decomposed = unicodedata.normalize("NFD", normalize_name(name).casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = stripped.replace("\u0111", "d")  # đ has no decomposition: map it explicitly.
    return unicodedata.normalize("NFC", _LETTER_RUN.sub(_fold_final_i_y, stripped))


# --- collation -----------------------------------------------------------------------------

# The Vietnamese alphabet (with f j w z at their Latin places): ă â after a, đ after d, ê after e,
# ô ơ after o, ư after u. Code-point order puts "Bình" before "Bắc"; this order does not.
_ALPHABET: Final[str] = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
_PRIMARY: Final[dict[str, int]] = {c: 100 + i for i, c in enumerate(_ALPHABET)}
# Vowel-quality marks make a different letter (primary); the tone is a secondary difference in the
# dictionary order ngang, huyền, hỏi, ngã, sắc, nặng (as CLDR's Vietnamese tailoring).
_QUALITY_MARKS: Final[frozenset[str]] = frozenset("\u0302\u0306\u031b")
_TONE_RANK: Final[dict[str, int]] = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}

SortKey = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def _letter_weight(letter: str) -> int:
    if letter in _PRIMARY:
        return _PRIMARY[letter]
    if letter in "0123456789":
        return 10 + int(letter)
    return 1000 + ord(letter[0])


def vietnamese_sort_key(text: str) -> SortKey:
    """A sort key giving Vietnamese dictionary order (what ICU's `vi` collation gives; PyICU has no
    wheel here, so this is pure Python).

    Three levels, compared in turn: letters (a < ă < â < b … d < đ …), then the tone of each word
    (level < huyền < hỏi < ngã < sắc < nặng; a syllable has one tone wherever the mark sits, so
    hoà and hòa sort as equals), then case (lower first). Spaces separate words and sort first;
    digits come before letters, other characters after them by code point. Input goes through
    `normalize_name`, so NFD text and the Ð homoglyph sort like their NFC/Đ forms.
    """
    primary: list[int] = []
    secondary: list[int] = []
    tertiary: list[int] = []
    for word in normalize_name(text).split(" "):
        if primary:
            primary.append(1)
        tone = 0
        for char in word:
            decomposed = unicodedata.normalize("NFD", char)
            lower = decomposed[0].lower()
            quality = "".join(m for m in decomposed[1:] if m in _QUALITY_MARKS)
            primary.append(_letter_weight(unicodedata.normalize("NFC", lower + quality) if quality else lower))
            tone = max([tone, *(_TONE_RANK.get(m, 0) for m in decomposed[1:])])
            tertiary.append(0 if decomposed[0] == lower else 1)
        secondary.append(tone)
    return tuple(primary), tuple(secondary), tuple(tertiary)


# --- TCVN3 (ABC) legacy encoding -----------------------------------------------------------

# TCVN 5712:1993 "VN3", the 8-bit encoding of the ABC ".VnTime" fonts: byte -> character.
# Lowercase letters have all five tones; uppercase has only the seven letters below (toned
# capitals lived in the separate ".VnTimeH" fonts, which reuse the lowercase positions).
# In each vowel group the tones run huyền, hỏi, ngã, sắc, nặng in increasing byte order.
_TCVN3_BYTES: Final[dict[int, str]] = {
    # uppercase letters with a vowel-quality mark, and Đ
    0xA1: "Ă", 0xA2: "Â", 0xA3: "Ê", 0xA4: "Ô", 0xA5: "Ơ", 0xA6: "Ư", 0xA7: "Đ",
    # lowercase letters with a vowel-quality mark, and đ
    0xA8: "ă", 0xA9: "â", 0xAA: "ê", 0xAB: "ô", 0xAC: "ơ", 0xAD: "ư", 0xAE: "đ",
    0xB5: "à", 0xB6: "ả", 0xB7: "ã", 0xB8: "á", 0xB9: "ạ",
    0xBB: "ằ", 0xBC: "ẳ", 0xBD: "ẵ", 0xBE: "ắ", 0xC6: "ặ",
    0xC7: "ầ", 0xC8: "ẩ", 0xC9: "ẫ", 0xCA: "ấ", 0xCB: "ậ",
    0xCC: "è", 0xCE: "ẻ", 0xCF: "ẽ", 0xD0: "é", 0xD1: "ẹ",
    0xD2: "ề", 0xD3: "ể", 0xD4: "ễ", 0xD5: "ế", 0xD6: "ệ",
    0xD7: "ì", 0xD8: "ỉ", 0xDC: "ĩ", 0xDD: "í", 0xDE: "ị",
    0xDF: "ò", 0xE1: "ỏ", 0xE2: "õ", 0xE3: "ó", 0xE4: "ọ",
    0xE5: "ồ", 0xE6: "ổ", 0xE7: "ỗ", 0xE8: "ố", 0xE9: "ộ",
    0xEA: "ờ", 0xEB: "ở", 0xEC: "ỡ", 0xED: "ớ", 0xEE: "ợ",
    0xEF: "ù", 0xF1: "ủ", 0xF2: "ũ", 0xF3: "ú", 0xF4: "ụ",
    0xF5: "ừ", 0xF6: "ử", 0xF7: "ữ", 0xF8: "ứ", 0xF9: "ự",
    0xFA: "ỳ", 0xFB: "ỷ", 0xFC: "ỹ", 0xFD: "ý", 0xFE: "ỵ",
}  # fmt: skip

# Bytes 0xA0-0xFF decode identically in Latin-1 and cp1252, so one table serves both.
TCVN3_TO_UNICODE: Final[dict[str, str]] = {chr(b): c for b, c in _TCVN3_BYTES.items()}
_TCVN3_ENCODE: Final[dict[int, str]] = {ord(c): chr(b) for b, c in _TCVN3_BYTES.items()}

# Latin-1 letters that genuine Vietnamese Unicode text also uses (à á â ã è é ê ì í ò ó ô õ ù ú ý
# and capitals). Seeing one of them proves nothing; every other table character is a marker.
_VIETNAMESE_LATIN1: Final[frozenset[str]] = frozenset("àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")
_TCVN3_MARKERS: Final[frozenset[str]] = frozenset(TCVN3_TO_UNICODE) - _VIETNAMESE_LATIN1
# Where a marker must have letters around it to count. By default on either side ("V¨n", "§inh");
# Ð (TCVN3 "é") is also the Đ homoglyph that starts a word, so only after a letter; « and » (ô, ằ)
# are also quotation marks, so only between letters ("N«ng", "b»ng", but not «Hello»).
_MARKER_CONTEXT: Final[dict[str, str]] = {"Ð": "after_letter", "«": "between_letters", "»": "between_letters"}
# Characters above U+00FF that cp1252 (not Latin-1) yields for bytes 0x80-0x9F.
_CP1252_EXTRA: Final[frozenset[str]] = frozenset(bytes(range(0x80, 0xA0)).decode("cp1252", errors="ignore"))


def _is_genuine_unicode_letter(c: str) -> bool:
    """A letter or mark that no Latin-1/cp1252 decoding of a byte can produce (ă, ơ, ự, U+0301…)."""
    if ord(c) <= 0xFF or c in _CP1252_EXTRA:
        return False
    return unicodedata.category(c)[0] in "LM"


def _is_word_character(c: str) -> bool:
    return c.isalpha() or c in TCVN3_TO_UNICODE


def looks_like_tcvn3(s: str) -> bool:
    """True when `s` looks like TCVN3 (ABC) bytes decoded as Latin-1 or cp1252.

    Example: "NguyÔn V¨n A" (= Nguyễn Văn A). The text must contain no letter that only real
    Unicode can produce (ă, ơ, ư, đ, ạ…ỹ, combining marks) and at least one TCVN3 marker next
    to a letter: a table character that Vietnamese Unicode never uses (¨ © ª « ¬ µ ¶ ¾ § …), or
    a Latin-1 capital straight after a lower-case ASCII letter ("yÔn"). Pass the raw value (see module
    docstring). A heuristic: foreign names such as "Müller" are reported too, so callers
    quarantine for review rather than convert blindly.
    """
    text = unicodedata.normalize("NFC", s)  # NFD-mangled mojibake recomposes to Latin-1
    if any(_is_genuine_unicode_letter(c) for c in text):
        return False
    padded = f" {text} "
    for i in range(1, len(padded) - 1):
        c, before, after = padded[i], padded[i - 1], padded[i + 1]
        if c in _TCVN3_MARKERS:
            context = _MARKER_CONTEXT.get(c, "either_side")
            letter_before, letter_after = _is_word_character(before), _is_word_character(after)
            if (
                (context == "either_side" and (letter_before or letter_after))
                or (context == "after_letter" and letter_before)
                or (context == "between_letters" and letter_before and letter_after)
            ):
                return True
        elif c in TCVN3_TO_UNICODE and c.isupper() and before.isascii() and before.islower():
            return True
    return False


def tcvn3_to_unicode(s: str) -> str:
    """Convert TCVN3 text mis-decoded as Latin-1/cp1252 to NFC Unicode ("V¨n" -> "Văn").

    Maps every character of the TCVN3 table and leaves everything else alone, so it must only be
    applied to text that `looks_like_tcvn3` flagged (a genuine "á" would become "ỏ").
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", s).translate(_TCVN3_BYTES))


def unicode_to_tcvn3(s: str) -> str:
    """Encode Unicode text the way a TCVN3 (ABC) file decoded as Latin-1 shows it.

    The inverse of `tcvn3_to_unicode` for the letters TCVN3 has. Toned capitals (Á, Ễ…), which
    TCVN3 lacks, are written with their lower-case code, as ".VnTime" documents did. Used to
    build legacy-import fixtures.
    """
    out: list[str] = []
    for c in unicodedata.normalize("NFC", s):
        code = ord(c)
        if code not in _TCVN3_ENCODE and c.lower() != c and ord(c.lower()) in _TCVN3_ENCODE:
            code = ord(c.lower())
        out.append(_TCVN3_ENCODE.get(code, c))
    return "".join(out)
