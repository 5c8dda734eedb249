"""The payload of an ``application/http`` block, found and hashed as the block streams by.

The WARC payload of an HTTP message is its entity body: what follows the
header, with ``Transfer-Encoding: chunked`` framing removed but any
``Content-Encoding`` kept. Blocks can be gigabytes long, so nothing here holds
more than the HTTP header (up to :data:`HEAD_LIMIT`) and one chunk-size line.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

#: The most bytes of HTTP header we look through for the empty line that ends it.
HEAD_LIMIT = 1 << 20
#: Longest chunk-size line (size, extensions, CRLF) or trailer line we accept.
CHUNK_LINE_LIMIT = 8192

_HEX = re.compile(rb"[0-9A-Fa-f]+")


class Hashes:
    """Several hashes of the same bytes, updated together."""

    def __init__(self, algorithms: Iterable[str]) -> None:
        self._hashes = {name: hashlib.new(name, usedforsecurity=False) for name in algorithms}
        self.length = 0

    def update(self, data: bytes | memoryview) -> None:
        self.length += len(data)
        for hash_ in self._hashes.values():
            hash_.update(data)

    def digest(self, algorithm: str) -> bytes:
        return self._hashes[algorithm].digest()


class Dechunker:
    """Undoes ``Transfer-Encoding: chunked`` on data fed in pieces of any size.

    Strict on the framing (chunk data must be followed by CRLF, sizes are hex)
    because a writer that stored de-chunked bytes under a ``chunked`` header, or
    framing damaged in transit, is exactly what the checker must notice.
    """

    _SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)

    def __init__(self, sink: Callable[[memoryview], None]) -> None:
        self._sink = sink
        self._state = self._SIZE
        self._line = bytearray()
        self._remaining = 0
        self._start = 0  # body bytes fed before the current piece
        self._line_at = 0  # body byte where the line being collected starts
        self.error: str | None = None
        self.error_at: int | None = None  #: body byte where the framing went wrong
        self.extra = 0  #: bytes after the last chunk and trailer

    @property
    def done(self) -> bool:
        return self._state == self._DONE

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        pos = 0
        while pos < len(data) and self.error is None:
            if self._state == self._DONE:
                self.extra += len(data) - pos
                return
            if self._state == self._DATA:
                take = min(self._remaining, len(data) - pos)
                self._sink(view[pos : pos + take])
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._state = self._DATA_END
            elif self._state == self._DATA_END:
                pos = self._take_crlf(data, pos)
            else:
                pos = self._take_line(data, pos)
        self._start += len(data)

    def close(self) -> None:
        """The body is over: a line left unfinished must at least have begun well.

        A body cut inside a chunk is only incomplete; one whose first "line" is
        HTML never was chunked, and must not pass for framing cut short.
        """
        if self.error is not None or not self._line:
            return
        partial = bytes(self._line)
        if self._state == self._SIZE:
            size_text = partial.rstrip(b"\r").split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size_text):
                self._fail(f"bad chunk-size line {partial[:40]!r}")
        elif self._state == self._DATA_END and partial != b"\r":
            self._fail("chunk data is not followed by CRLF")

    def _take_crlf(self, data: bytes, pos: int) -> int:
        """Exactly CRLF must follow chunk data: look at two bytes, not at a line."""
        if not self._line:
            self._line_at = self._start + pos
        taken = data[pos : pos + 2 - len(self._line)]
        self._line += taken
        if len(self._line) == 2:
            if self._line != b"\r\n":
                self._fail("chunk data is not followed by CRLF")
            self._line.clear()
            self._state = self._SIZE
        return pos + len(taken)

    def _take_line(self, data: bytes, pos: int) -> int:
        """Collect bytes up to a line end; handle the line once it is whole."""
        if not self._line:
            self._line_at = self._start + pos
        end = data.find(b"\n", pos, pos + CHUNK_LINE_LIMIT + 1)
        stop = min(len(data), pos + CHUNK_LINE_LIMIT + 1) if end < 0 else end + 1
        self._line += data[pos:stop]
        if len(self._line) > CHUNK_LINE_LIMIT:
            self._fail("chunk-size or trailer line too long")
        elif end >= 0:
            line = bytes(self._line)
            self._line.clear()
            self._line_done(line)
        return stop

    def _line_done(self, line: bytes) -> None:
        text = line.rstrip(b"\n").rstrip(b"\r")
        if self._state == self._TRAILER:
            if not text:
                self._state = self._DONE
            return
        size_text = text.split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            self._fail(f"bad chunk-size line {line[:40]!r}")
            return
        size = int(size_text, 16)
        if size == 0:
            self._state = self._TRAILER
        else:
            self._state, self._remaining = self._DATA, size

    def _fail(self, reason: str) -> None:
        self.error_at = self._line_at
        self.error = f"{reason} at body byte {self._line_at}"


class HttpPayload:
    """Splits an ``application/http`` block into header and body, hashing the body.

    ``entity`` hashes the entity body (de-chunked when the header says chunked);
    ``framed`` hashes the body as stored, so that a payload digest computed over
    chunk framing can be recognised as such.
    """

    def __init__(self, algorithms: Iterable[str]) -> None:
        names = list(algorithms)
        self.entity = Hashes(names)
        self.framed = Hashes(names)
        self._head = bytearray()
        self._scanned = 0
        self.head_done = False
        self.head_error: str | None = None
        self.dechunker: Dechunker | None = None

    @property
    def chunked(self) -> bool:
        return self.dechunker is not None

    def feed(self, data: bytes) -> None:
        if self.head_done:
            self._feed_body(data)
            return
        if self.head_error is not None:
            return
        self._head += data
        body = self._find_head_end()
        if body is not None:
            self._feed_body(body)
        elif len(self._head) > HEAD_LIMIT:
            self.head_error = (
                f"no end of HTTP header in the first {HEAD_LIMIT} bytes: payload not checked"
            )
            self._head.clear()

    def close(self) -> None:
        """The block is over (a header without its empty line leaves an empty body)."""
        self._head.clear()
        if self.dechunker is not None:
            self.dechunker.close()

    def _find_head_end(self) -> bytes | None:
        head = self._head
        while True:
            end = head.find(b"\n", self._scanned)
            if end < 0:
                return None
            line = head[self._scanned : end + 1]
            self._scanned = end + 1
            if not line.strip(b"\r\n"):
                break
        body = bytes(head[self._scanned :])
        if _is_chunked(bytes(head[: self._scanned])):
            self.dechunker = Dechunker(self.entity.update)
        self.head_done = True
        self._head = bytearray()
        return body

    def _feed_body(self, data: bytes) -> None:
        self.framed.update(data)
        if self.dechunker is None:
            self.entity.update(data)
        else:
            self.dechunker.feed(data)


def _is_chunked(head: bytes) -> bool:
    """Whether the last transfer coding of the header is ``chunked``."""
    codings: list[bytes] = []
    for line in head.split(b"\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"transfer-encoding":
            codings += [c.strip().lower() for c in value.split(b",") if c.strip()]
    return bool(codings) and codings[-1] == b"chunked"
