"""One HTTP exchange as plain data, and its HTTP message blocks as bytes.

The capture turns what Scrapy downloaded into an :class:`Exchange`; the record
builders turn an exchange into WARC records. Header names and values stay bytes
from end to end so that nothing is re-encoded on the way into the archive.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from datetime import datetime

Header = tuple[bytes, bytes]

#: Hop-by-hop framing that the downloader has already undone: the body we hold
#: is de-chunked, so keeping the header would describe bytes we do not store.
DROPPED_RESPONSE_HEADERS = frozenset({b"transfer-encoding"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class SentRequest(Protocol):
    """A request as it went out: what a ``request`` record holds."""

    @property
    def url(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def request_headers(self) -> list[Header]: ...
    @property
    def request_body(self) -> bytes: ...
    @property
    def started(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class UnansweredRequest:
    """A request that reached a server and got no response (a reset, a timeout...)."""

    url: str  #: the absolute URL requested, without fragment
    method: str
    request_headers: list[Header]
    request_body: bytes
    started: datetime  #: when the request was sent (UTC)


@dataclass(frozen=True, slots=True)
class Exchange:
    """A request and the response it got, as they went over the wire."""

    url: str  #: the absolute URL requested, without fragment
    method: str
    request_headers: list[Header]
    request_body: bytes
    protocol: str  #: "HTTP/1.1" as the server answered
    status: int
    reason: bytes  #: reason phrase as sent (may be empty)
    response_headers: list[Header]
    body: bytes  #: entity body as received: content-coded, not chunked
    started: datetime  #: when the request was sent (UTC)
    ip_address: str | None = None
    truncated: str | None = None  #: WARC-Truncated reason, if the body is cut off
    #: The status line and header lines exactly as received, each with its line end,
    #: and the empty line; None when the download handler could not keep them.
    raw_head: bytes | None = None


def request_target(url: str) -> bytes:
    """The request-target of the request line: path and query, as sent."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query or url.split("#", 1)[0].endswith("?"):
        target += "?" + parts.query
    return target.encode("ascii", "strict")


def host_header(url: str) -> bytes:
    """The Host header value the client sends for ``url``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return host.encode("idna") if not host.isascii() else host.encode("ascii")


def request_block(exchange: SentRequest) -> bytes:
    """The HTTP request message header as the client sent it."""
    lines = [
        b"%s %s HTTP/1.1\r\n" % (exchange.method.encode("ascii"), request_target(exchange.url))
    ]
    names = {name.lower() for name, _ in exchange.request_headers}
    lines.extend(b"%s: %s\r\n" % (name, value) for name, value in exchange.request_headers)
    if b"host" not in names:
        lines.append(b"Host: %s\r\n" % host_header(exchange.url))
    if exchange.request_body and b"content-length" not in names:
        lines.append(b"Content-Length: %d\r\n" % len(exchange.request_body))
    lines.append(b"\r\n")
    return b"".join(lines)


def response_block(exchange: Exchange) -> bytes:
    """The HTTP response status line and headers, minus the framing undone.

    From the raw head when there is one: the bytes as received, less the
    ``Transfer-Encoding`` lines. Otherwise rebuilt from the parsed headers.
    """
    if exchange.raw_head is not None:
        return without_headers(exchange.raw_head, DROPPED_RESPONSE_HEADERS)
    # RFC 9112: the space before the reason phrase is there even when the phrase is empty.
    lines = [
        b"%s %d %s\r\n" % (exchange.protocol.encode("ascii"), exchange.status, exchange.reason)
    ]
    lines.extend(
        b"%s: %s\r\n" % (name, value)
        for name, value in exchange.response_headers
        if name.lower() not in DROPPED_RESPONSE_HEADERS
    )
    lines.append(b"\r\n")
    return b"".join(lines)


def without_headers(head: bytes, names: frozenset[bytes]) -> bytes:
    """A raw head without the header lines named (and their continuation lines)."""
    kept = []
    dropping = False
    for index, line in enumerate(head.splitlines(keepends=True)):
        if index and line[:1] in (b" ", b"\t") and line.strip():
            if not dropping:
                kept.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower() if index and b":" in line else None
        dropping = name in names
        if not dropping:
            kept.append(line)
    return b"".join(kept)


def standard_reason(status: int) -> bytes:
    """The usual reason phrase of ``status``, for when the real one is unknown."""
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


def media_type(headers: list[Header]) -> str | None:
    """The media type of the Content-Type header, lower-cased, without parameters."""
    value = header_value(headers, b"content-type")
    if not value:
        return None
    return value.split(b";", 1)[0].strip().lower().decode("latin-1") or None


def header_value(headers: list[Header], name: bytes) -> bytes | None:
    """The last value of header ``name`` (case-insensitive), or None."""
    wanted = name.lower()
    found = None
    for key, value in headers:
        if key.lower() == wanted:
            found = value
    return found


def parse_head_lines(head: bytes) -> list[Header]:
    """The header lines of an HTTP head (after its first line), folded lines joined."""
    headers: list[Header] = []
    for raw in head.split(b"\n")[1:]:
        line = raw.rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip())
            continue
        name, sep, value = line.partition(b":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return headers


def stored_headers(exchange: Exchange) -> list[Header]:
    """The response's header lines as the archive stores them (and replay reads them)."""
    return parse_head_lines(response_block(exchange))
