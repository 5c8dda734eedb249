"""Read WARC (and ARC) files back: records, HTTP exchanges, revisits resolved.

The read side of the archive, beside :mod:`crawler.warc.writer`. It reads our
files and other tools' (wget, Heritrix, Common Crawl, Webrecorder...): gzip
per record or not, ``.warc`` or ``.arc``. Nothing is re-encoded on the way
out: the HTTP head is the stored bytes, the payload is the stored entity body
(de-chunked when a foreign writer kept the chunk framing, still
content-coded), so a replayed response has exactly what the wire carried.

A file that stops being readable ends in a :class:`ReadProblem` with its
offset: every record is either read or reported, never a traceback.

    for item in iter_records(Path("archives/warc/x.warc.gz")):
        if isinstance(item, ReadProblem): ...
    record = read_record(path, offset)          # one record, by its CDX offset
    for exchange in iter_exchanges(path): ...   # responses with their requests
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, BinaryIO

from warcio.archiveiterator import ArchiveIterator, ARCIterator, WARCIterator
from warcio.exceptions import ArchiveLoadFailed

from crawler.warc.exchange import Header, header_value, parse_head_lines
from crawler.warc.verify.http import Dechunker
from crawler.warc.writer import OPEN_SUFFIX

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

logger = logging.getLogger(__name__)

#: The WARC-Profile of a revisit whose payload equals an earlier capture's.
IDENTICAL_PAYLOAD = "identical-payload-digest"
#: The WARC-Profile of a revisit that records a 304 answer to a conditional request.
SERVER_NOT_MODIFIED = "server-not-modified"
#: How many revisit hops are followed before giving up (a loop, or a broken chain).
MAX_REVISIT_HOPS = 10
#: Records kept waiting for their partner when pairing requests with responses.
PAIRING_WINDOW = 16
#: The most bytes of HTTP head looked through for its end.
HEAD_LIMIT = 1 << 20

HTTP_RECORD_TYPES = frozenset({"response", "revisit", "request"})


@dataclass(frozen=True, slots=True)
class ReadProblem:
    """A file, or the rest of it, that could not be read."""

    file: str
    offset: int | None
    message: str

    def __str__(self) -> str:
        where = f" at offset {self.offset}" if self.offset is not None else ""
        return f"{self.file}{where}: {self.message}"


@dataclass(slots=True)
class StoredRecord:
    """One record as stored: WARC headers, HTTP head bytes and payload."""

    record_type: str
    headers: list[tuple[str, str]]  #: WARC (or ARC-converted) header fields
    file: str  #: path of the file, as given to the reader
    offset: int
    length: int  #: bytes of the record in the file (compressed size for .gz)
    block: bytes = b""  #: the whole block, as stored
    http_head: bytes | None = None  #: status or request line and headers, with the empty line
    payload: bytes = b""  #: what follows the HTTP head (the whole block for non-HTTP records)
    _fields: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name, value in self.headers:
            self._fields.setdefault(name.lower(), value)

    def header(self, name: str) -> str | None:
        """The first value of WARC header ``name`` (case-insensitive)."""
        return self._fields.get(name.lower())

    def headers_named(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @property
    def record_id(self) -> str | None:
        return self.header("WARC-Record-ID")

    @property
    def url(self) -> str:
        return (self.header("WARC-Target-URI") or "").strip("<>")

    @property
    def date(self) -> str:
        """``WARC-Date`` as written (ISO 8601, UTC)."""
        return self.header("WARC-Date") or ""

    @property
    def timestamp(self) -> str:
        """The 14-digit capture time of CDX indexes and replay URLs."""
        return cdx_timestamp(self.date)

    @property
    def concurrent_to(self) -> list[str]:
        return self.headers_named("WARC-Concurrent-To")

    @property
    def profile(self) -> str | None:
        """The revisit profile's last path segment (``identical-payload-digest``...)."""
        profile = self.header("WARC-Profile")
        return profile.rstrip("/").rsplit("/", 1)[-1] if profile else None

    # -- the HTTP message --------------------------------------------------

    @property
    def is_http(self) -> bool:
        return self.http_head is not None

    @property
    def status_line(self) -> bytes:
        head = self.http_head or b""
        return head.split(b"\n", 1)[0].rstrip(b"\r")

    @property
    def protocol(self) -> str:
        return self.status_line.split(b" ", 1)[0].decode("latin-1") or "HTTP/1.1"

    @property
    def status(self) -> int | None:
        """The response status, or None for a request or a record that is not HTTP."""
        if self.record_type == "request" or not self.is_http:
            return None
        parts = self.status_line.split(None, 2)
        try:
            return int(parts[1])
        except (IndexError, ValueError):
            return None

    @property
    def reason(self) -> bytes:
        parts = self.status_line.split(b" ", 2)
        return parts[2] if len(parts) > 2 else b""

    @property
    def http_headers(self) -> list[Header]:
        """Every (name, value) of the HTTP head, in order, folded lines joined."""
        return parse_head_lines(self.http_head or b"")

    def http_header(self, name: bytes) -> bytes | None:
        return header_value(self.http_headers, name)

    @property
    def entity_body(self) -> bytes:
        """The payload without chunk framing (foreign writers kept it), still content-coded."""
        if not self.is_http or not _is_chunked(self.http_headers):
            return self.payload
        return dechunk(self.payload)


def cdx_timestamp(warc_date: str) -> str:
    """``2026-11-27T21:04:17.123456Z`` as ``20261127210417``."""
    digits = "".join(ch for ch in warc_date if ch.isdigit())
    return digits[:14].ljust(14, "0")


def warc_datetime(value: str) -> datetime | None:
    """A ``WARC-Date`` (or the index's ``fetched_at``) as an aware UTC datetime, or None."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def capture_date(warc_date: str) -> date | None:
    """The day of a ``WARC-Date`` (what bounds a page's publication date); None if malformed."""
    try:
        return date.fromisoformat(warc_date[:10])
    except ValueError:
        return None


def _is_chunked(headers: list[Header]) -> bool:
    value = header_value(headers, b"transfer-encoding") or b""
    return b"chunked" in value.lower()


def dechunk(data: bytes) -> bytes:
    """Undo chunked framing; bytes that do not frame as chunks are returned as stored."""
    out = bytearray()
    dechunker = Dechunker(out.extend)
    dechunker.feed(data)
    dechunker.close()
    if dechunker.error is not None and not out:
        return data
    return bytes(out)


def split_http(block: bytes) -> tuple[bytes | None, bytes]:
    """An ``application/http`` block as (head with its empty line, payload)."""
    limit = min(len(block), HEAD_LIMIT)
    crlf = block.find(b"\r\n\r\n", 0, limit)
    lf = block.find(b"\n\n", 0, limit)
    ends = [(crlf, 4), (lf, 2)]
    found = [(at, size) for at, size in ends if at >= 0]
    if not found:
        # A head with no body and no empty line (some writers end it at the block's end).
        if block.startswith((b"HTTP/", b"GET ", b"POST ", b"HEAD ")) and len(block) < limit:
            return block, b""
        return None, block
    at, size = min(found)
    return block[: at + size], block[at + size :]


def _is_http_block(record_type: str, content_type: str, block: bytes) -> bool:
    if record_type not in HTTP_RECORD_TYPES:
        return False
    if content_type.startswith("application/http"):
        return True
    # ARC files and some writers label HTTP blocks otherwise; sniff the first line.
    return block.startswith((b"HTTP/", b"GET ", b"POST ", b"HEAD "))


def _stored(record: object, block: bytes, file: str, offset: int, length: int) -> StoredRecord:
    rec_headers = record.rec_headers  # type: ignore[attr-defined]
    record_type: str = record.rec_type  # type: ignore[attr-defined]
    headers = [(str(name), str(value)) for name, value in rec_headers.headers]
    content_type = (rec_headers.get_header("Content-Type") or "").lower()
    stored = StoredRecord(record_type, headers, file, offset, length, block=block)
    if _is_http_block(record_type, content_type, block):
        stored.http_head, stored.payload = split_http(block)
    else:
        stored.payload = block
    return stored


def _iterator(stream: BinaryIO, path: Path) -> ArchiveIterator:
    """warcio's reader for ``path``, told the format its name says.

    Left to guess, warcio takes any line of five words for an ARC header: read
    at a wrong offset, compressed bytes could pass for a record.
    """
    name = path.name.lower().removesuffix(OPEN_SUFFIX)
    kind = ArchiveIterator
    if name.endswith((".warc", ".warc.gz")):
        kind = WARCIterator
    elif name.endswith((".arc", ".arc.gz")):
        kind = ARCIterator
    return kind(stream, no_record_parse=True, arc2warc=True)


def iter_records(path: Path, *, with_payload: bool = True) -> Iterator[StoredRecord | ReadProblem]:
    """Every record of a WARC or ARC file, then a problem if the file ends badly.

    ``with_payload=False`` skips reading blocks (headers, offsets and lengths only).
    """
    name = str(path)
    try:
        stream = path.open("rb")
    except OSError as exc:
        yield ReadProblem(name, None, f"cannot open: {exc.strerror or exc}")
        return
    with stream:
        iterator = _iterator(stream, path)
        offset: int | None = 0
        try:
            for record in iterator:
                # The offset is known once the record is read (warcio reads to its end).
                block = record.raw_stream.read() if with_payload else b""
                iterator.read_to_end(record)
                offset = iterator.get_record_offset()
                declared = _declared_length(record)
                if with_payload and declared is not None and len(block) < declared:
                    yield ReadProblem(
                        name, offset, f"record cut short: {len(block)} of {declared} bytes"
                    )
                    return
                yield _stored(record, block, name, offset, iterator.get_record_length())
                offset = None
        except ArchiveLoadFailed as exc:
            yield ReadProblem(name, _offset_after(iterator, offset), _message(exc))
        except Exception as exc:  # zlib, EOF, parsing: a damaged file, never a crash
            logger.debug("reading %s failed", name, exc_info=True)
            yield ReadProblem(name, _offset_after(iterator, offset), f"{type(exc).__name__}: {exc}")


def _declared_length(record: object) -> int | None:
    """The block length the record's header declares (for ARC, less the header warcio made)."""
    length = getattr(record, "length", None)
    return length if isinstance(length, int) and length >= 0 else None


def _offset_after(iterator: ArchiveIterator, offset: int | None) -> int | None:
    if offset is not None:
        return offset
    try:
        offset = int(iterator.offset)
    except (AttributeError, TypeError, ValueError):
        return None
    # warcio counts back from the end of a gzip member it could not finish.
    return offset if offset >= 0 else None


def _message(exc: ArchiveLoadFailed) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or "unreadable data"


def read_record(path: Path, offset: int) -> StoredRecord:
    """The record that starts at ``offset`` (as CDX indexes give it); ValueError if none."""
    with path.open("rb") as stream:
        stream.seek(offset)
        iterator = _iterator(stream, path)
        try:
            record = next(iter(iterator))
        except StopIteration:
            raise ValueError(f"no record at offset {offset} of {path}") from None
        except ArchiveLoadFailed as exc:
            raise ValueError(f"no record at offset {offset} of {path}: {_message(exc)}") from exc
        if not record.rec_type or not record.rec_headers.get_header("WARC-Record-ID"):
            # Bytes that parse as something but are no record: not a record's start.
            raise ValueError(f"no record at offset {offset} of {path}")
        block = record.raw_stream.read()
        iterator.read_to_end(record)
        declared = _declared_length(record)
        if declared is not None and len(block) < declared:
            raise ValueError(
                f"record at offset {offset} of {path} cut short: {len(block)} of {declared} bytes"
            )
        return _stored(record, block, str(path), offset, iterator.get_record_length())


# -- exchanges --------------------------------------------------------------


@dataclass(slots=True)
class StoredExchange:
    """A response (or revisit) record with the request record that asked for it."""

    response: StoredRecord
    request: StoredRecord | None = None


def iter_exchanges(path: Path) -> Iterator[StoredExchange | ReadProblem]:
    """The responses and revisits of a file, each paired with its request.

    Pairs are found through ``WARC-Concurrent-To`` in either direction (ours
    name each other; Heritrix names the response from the request; wget writes
    the request first), within a window of nearby records.
    """
    pairing = _Pairing()
    for item in iter_records(path):
        if isinstance(item, ReadProblem):
            yield from pairing.flush()
            yield item
            return
        if item.record_id is None:
            continue
        if item.record_type in ("response", "revisit"):
            pairing.add_response(item)
        elif item.record_type == "request":
            pairing.add_request(item)
        yield from pairing.ready()
    yield from pairing.flush()


class _Pairing:
    """Responses waiting for their request, and requests waiting for their response."""

    def __init__(self) -> None:
        self.waiting: OrderedDict[str, StoredExchange] = OrderedDict()
        self.requests: OrderedDict[str, StoredRecord] = OrderedDict()

    def add_response(self, record: StoredRecord) -> None:
        exchange = StoredExchange(record)
        for target in record.concurrent_to:
            if target in self.requests:
                exchange.request = self.requests.pop(target)
                break
        else:
            for request_id, request in self.requests.items():
                if record.record_id in request.concurrent_to:
                    exchange.request = self.requests.pop(request_id)
                    break
        assert record.record_id is not None
        self.waiting[record.record_id] = exchange

    def add_request(self, record: StoredRecord) -> None:
        partner = next((self.waiting[t] for t in record.concurrent_to if t in self.waiting), None)
        if partner is None:
            partner = next(
                (e for e in self.waiting.values() if record.record_id in e.response.concurrent_to),
                None,
            )
        if partner is not None and partner.request is None:
            partner.request = record
            return
        assert record.record_id is not None
        self.requests[record.record_id] = record
        if len(self.requests) > PAIRING_WINDOW:
            self.requests.popitem(last=False)

    def ready(self) -> Iterator[StoredExchange]:
        """Exchanges whose request is found, or that waited too long, in file order."""
        while self.waiting:
            first = next(iter(self.waiting.values()))
            if first.request is None and len(self.waiting) <= PAIRING_WINDOW:
                return
            yield self.waiting.popitem(last=False)[1]

    def flush(self) -> Iterator[StoredExchange]:
        yield from self.waiting.values()
        self.waiting.clear()


# -- revisits ---------------------------------------------------------------

#: Finds a record by its WARC-Record-ID, or by (target URI, WARC-Date): None when unknown.
Locator = Callable[[str], "StoredRecord | None"]
UriLocator = Callable[[str, str], "StoredRecord | None"]


class RevisitError(LookupError):
    """A revisit whose original cannot be found (or a chain that loops)."""


def resolve_revisit(
    record: StoredRecord, by_id: Locator, by_uri: UriLocator | None = None
) -> StoredRecord:
    """The response record a revisit stands for, following chains of revisits.

    The original is found by ``WARC-Refers-To`` when the archive knows that id,
    else by ``WARC-Refers-To-Target-URI`` and ``WARC-Refers-To-Date`` (how pywb
    finds it). A record that is not a revisit is its own original.
    """
    seen: set[str] = set()
    current = record
    for _ in range(MAX_REVISIT_HOPS):
        if current.record_type != "revisit":
            return current
        key = current.record_id or f"{current.file}:{current.offset}"
        if key in seen:
            raise RevisitError(f"revisit chain loops at {key}")
        seen.add(key)
        found = None
        refers_to = current.header("WARC-Refers-To")
        if refers_to:
            found = by_id(refers_to)
        target = current.header("WARC-Refers-To-Target-URI")
        date = current.header("WARC-Refers-To-Date")
        if found is None and by_uri is not None and target and date:
            found = by_uri(target, date)
        if found is None:
            raise RevisitError(
                f"original of revisit {current.record_id} not in the archive "
                f"(refers to {refers_to or '-'}, {target or '-'} at {date or '-'})"
            )
        current = found
    raise RevisitError(f"more than {MAX_REVISIT_HOPS} revisits in a chain from {record.record_id}")


def replay_head(revisit: StoredRecord, original: StoredRecord) -> bytes:
    """The HTTP head a revisit replays with.

    An ``identical-payload-digest`` revisit holds the new response head: it is
    the head of that moment. A ``server-not-modified`` revisit holds the 304
    (or nothing): the moment is replayed as the original page.
    """
    if revisit.profile == SERVER_NOT_MODIFIED or not revisit.http_head:
        return original.http_head or b""
    if revisit.status is not None and revisit.status == 304:
        return original.http_head or b""
    return revisit.http_head
