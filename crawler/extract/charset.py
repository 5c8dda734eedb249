"""Repair a page whose declared character encoding does not decode its bytes.

A page that says UTF-8 (in its Content-Type or a ``<meta>``) but sends Latin-1
or windows-1252 bytes would read "Caf\ufffd na\ufffdve": each byte that is not
UTF-8 becomes U+FFFD and the letter is lost. Such pages are common (a
template in UTF-8, an article pasted from an old database), so before the
extraction the bytes are checked against what the page declares:

- they decode (a trailing character cut by a truncated body aside): nothing to do;
- a legacy encoding was declared and the bytes are UTF-8: decoded as UTF-8;
- UTF-8 was declared and the bytes are a multi-byte legacy encoding (Shift_JIS,
  GBK...): detection (charset_normalizer) names it and it decodes them all;
- UTF-8 was declared and the page mixes UTF-8 with other bytes: the UTF-8 stays
  and each run of invalid bytes is read as windows-1252 (``REPAIR_FALLBACK``);
- UTF-8 was declared and no non-ASCII character in the page is UTF-8: the page
  is in a single-byte legacy encoding, detected; windows-1252 when it is among
  the encodings detection cannot tell apart (short Latin texts fit windows-1250
  as well), or when detection finds none that decodes the bytes;
- anything else: bytes that decode in neither are replaced (U+FFFD), and said so.

Every repair is reported with a note ("declared utf-8, decoded as cp1252") that
goes to the capture's ``text_reason``: text that was not decoded as declared
is never passed off as if it were. A byte order mark is taken as it is.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from functools import lru_cache

import charset_normalizer
from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

from crawler.extract.decode import SNIFF_BYTES

#: The encoding of invalid bytes in a page that declares UTF-8 and is mostly UTF-8,
#: and of a legacy page when detection cannot tell it from others: the browsers' default.
REPAIR_FALLBACK = "cp1252"
#: Detection results this close (charset_normalizer's chaos, in percent) are a tie.
CHAOS_TIE = 1.0
_UTF8 = "utf-8"


@dataclass(frozen=True, slots=True)
class Repair:
    """A page's text as UTF-8 bytes, and how it was decoded otherwise than declared."""

    body: bytes
    note: str


def _windows_1252(error: UnicodeError) -> tuple[str, int]:
    """Decode handler: invalid bytes read as windows-1252 (its five holes as Latin-1, as WHATWG)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = bytes(error.object[error.start : error.end])
    return bad.decode(REPAIR_FALLBACK, _LATIN1), error.end


def _latin1(error: UnicodeError) -> tuple[str, int]:
    """Decode handler: bytes a single-byte code page leaves undefined, as Latin-1."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return bytes(error.object[error.start : error.end]).decode("latin-1"), error.end


_FALLBACK = "archiver-cp1252"
_LATIN1 = "archiver-latin1"
codecs.register_error(_FALLBACK, _windows_1252)
codecs.register_error(_LATIN1, _latin1)


def declared_encoding(body: bytes, content_type: str | None) -> str | None:
    """The codec the page declares (HTTP charset, then ``<meta>``), None with a BOM or none."""
    if read_bom(body)[0] is not None:
        return None
    label = http_content_type_encoding(content_type) or html_body_declared_encoding(body)
    return resolve_encoding(label) if label else None


def _decodes(body: bytes, codec: str) -> bool:
    try:
        if codec == _UTF8:
            # A character cut by the end of a truncated body is not a wrong declaration.
            codecs.utf_8_decode(body, "strict", False)
        else:
            body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def repair_charset(body: bytes, content_type: str | None) -> Repair | None:
    """``body`` decoded where its declared encoding fails on it, or None when it does not."""
    declared = declared_encoding(body, content_type)
    if declared is None or _decodes(body, declared):
        return None
    if declared != _UTF8 and _decodes(body, _UTF8):
        return Repair(body, f"declared {declared}, decoded as utf-8")
    codec = _detect(body)
    multibyte = codec is not None and not _single_byte(codec) and _decodes(body, codec)
    if declared == _UTF8 and not multibyte:
        text = body.decode(_UTF8, "replace")
        if any(ord(char) > 0x7F and char != "\ufffd" for char in text):
            mixed = body.decode(_UTF8, _FALLBACK)
            note = f"declared utf-8, bytes not valid utf-8 decoded as {REPAIR_FALLBACK}"
            return Repair(mixed.encode(_UTF8), note)
    if codec is None or codec == declared or not _decodes(body, codec):
        if declared != _UTF8:
            text = body.decode(declared, "replace")
            note = f"declared {declared}, bytes not valid {declared} replaced"
            return Repair(text.encode(_UTF8), note)
        codec = REPAIR_FALLBACK
    text = body.decode(codec, _LATIN1)
    return Repair(text.encode(_UTF8), f"declared {declared}, decoded as {codec}")


def _detect(body: bytes) -> str | None:
    """The legacy encoding of ``body`` by detection, windows-1252 among equals."""
    matches = list(charset_normalizer.from_bytes(body[:SNIFF_BYTES]))
    if not matches:
        return None
    best = matches[0]
    for match in matches:
        if match.percent_chaos > best.percent_chaos + CHAOS_TIE:
            break
        if REPAIR_FALLBACK in match.could_be_from_charset:
            return REPAIR_FALLBACK
    return resolve_encoding(best.encoding)


@lru_cache(maxsize=64)
def _single_byte(codec: str) -> bool:
    """Whether ``codec`` reads each byte as one character (a code page: it decodes anything)."""
    high = bytes(range(0x80, 0x100))
    try:
        return len(high.decode(codec, "replace")) == len(high)
    except LookupError:
        return False
