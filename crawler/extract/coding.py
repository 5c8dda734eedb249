"""Undo a body's Content-Encoding, the same way for live pages and archived ones.

The archive keeps bodies as they came over the wire, still compressed; the text
is extracted from the decoded bytes. Live crawls and replay both decode here,
so the same stored bytes always give the same text. Decoding is bounded: a
body that decodes past ``limit`` bytes (a compression bomb, or a page too large
to be an article) is cut there and flagged ``too_large``; no text is made from
it. A compressed body that ends early or is damaged midway gives what
decodes before the damage, flagged as cut: such text is part of a page.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.warc.exchange import header_value

if TYPE_CHECKING:
    from collections.abc import Sequence

    from crawler.warc.exchange import Header

#: The most bytes a body may decode to: larger pages are not articles.
DECODED_LIMIT = 64 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Decoded:
    body: bytes
    problem: str | None = None  #: why the bytes may be incomplete or not what was meant
    cut: bool = False  #: ``body`` is the start of the page only (damaged, cut short, too large)
    too_large: bool = False  #: cut because it decodes past the limit


def too_large(limit: int) -> str:
    """The problem of a body that decodes past ``limit`` bytes."""
    return f"decoded body larger than {limit} bytes"


def gzip_start(data: bytes, size: int, *, members: int) -> bytes:
    """The first ``size`` bytes of gzip ``data``, decoded from its first ``members`` members.

    Fewer when the body holds fewer, or is cut or damaged sooner. A reader of a
    page's start pays for that start only; the member bound keeps a body of many
    empty members from costing more.
    """
    return _inflate(data, 16 + zlib.MAX_WBITS, size, members=members)[0]


def _inflate(
    data: bytes, wbits: int, limit: int, *, members: int | None = None
) -> tuple[bytes, str | None]:
    """Inflate ``data``; gzip members that follow one another decode as one body.

    ``members`` bounds the members decoded; None: all of them.
    """
    out = bytearray()
    pending = data
    while True:
        if members is not None:
            if members <= 0:
                return bytes(out), None
            members -= 1
        inflater = zlib.decompressobj(wbits)
        while True:
            try:
                # One byte past the limit tells a body of exactly ``limit`` bytes from more.
                out += inflater.decompress(pending, max(limit + 1 - len(out), 1))
            except zlib.error as exc:
                return bytes(out), f"damaged compressed body: {exc}"
            if len(out) > limit:
                return bytes(out[:limit]), too_large(limit)
            if inflater.eof:
                break
            pending = inflater.unconsumed_tail
            if not pending:
                return bytes(out), "compressed body cut short"
        pending = inflater.unused_data
        if not (wbits & 16 and pending.startswith(b"\x1f\x8b")):
            return bytes(out), None


def _gunzip(data: bytes, limit: int) -> tuple[bytes, str | None]:
    return _inflate(data, 16 + zlib.MAX_WBITS, limit)


def _deflate(data: bytes, limit: int) -> tuple[bytes, str | None]:
    # RFC 9110's deflate is zlib-wrapped; many servers send raw deflate.
    body, problem = _inflate(data, zlib.MAX_WBITS, limit)
    if problem and not body:
        return _inflate(data, -zlib.MAX_WBITS, limit)
    return body, problem


def _brotli(data: bytes, limit: int) -> tuple[bytes, str | None]:
    try:
        import brotli  # type: ignore[import-not-found]
    except ImportError:
        return b"", "brotli body and no brotli decoder installed"
    try:
        body = brotli.decompress(data)
    except Exception as exc:  # brotli.error
        return b"", f"damaged brotli body: {exc}"
    return (body[:limit], too_large(limit)) if len(body) > limit else (body, None)


def _zstd(data: bytes, limit: int) -> tuple[bytes, str | None]:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return b"", "zstd body and no zstd decoder installed"
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(data)
        body = reader.read(limit + 1)
    except Exception as exc:  # zstandard.ZstdError
        return b"", f"damaged zstd body: {exc}"
    return (body[:limit], too_large(limit)) if len(body) > limit else (body, None)


_DECODERS = {
    b"gzip": _gunzip,
    b"x-gzip": _gunzip,
    b"deflate": _deflate,
    b"br": _brotli,
    b"zstd": _zstd,
}


def decode_content(
    headers: Sequence[Header], body: bytes, *, limit: int = DECODED_LIMIT
) -> Decoded:
    """``body`` with its Content-Encoding undone (codings applied last are undone first)."""
    value = header_value(list(headers), b"content-encoding")
    if not value:
        return Decoded(body)
    codings = [c.strip().lower() for c in value.split(b",") if c.strip()]
    for coding in reversed(codings):
        if coding == b"identity":
            continue
        decoder = _DECODERS.get(coding)
        if decoder is None:
            return Decoded(body, f"unknown Content-Encoding {coding.decode('latin-1')!r}")
        decoded, problem = decoder(body, limit)
        if problem is not None and not decoded:
            # Not compressed after all (servers mislabel): the stored bytes are the page.
            return Decoded(body, problem)
        body = decoded
        if problem is not None:
            return Decoded(body, problem, cut=True, too_large=problem == too_large(limit))
    return Decoded(body)
