"""A web server that breaks HTTP the ways the real web does, for crawl tests.

Each kind of fault is one path on 127.0.0.1, answered over a raw socket so
that the bytes on the wire are exactly the broken ones: connections reset or
closed at every stage, lying lengths, bad chunking, stalls longer than a test
crawl's ``DOWNLOAD_TIMEOUT``, enormous heads, content codings that are not what
they say, redirect loops and chains, error statuses with odd ``Retry-After``
values, huge bodies. A few robots.txt faults need a host of their own, so the
site listens on several ports, each with its own robots.txt. Every HTTP request
received, on any port, is counted (:attr:`FaultSite.seen`), so that a test can
check that the archive holds each one.
"""

from __future__ import annotations

import contextlib
import random
import re
import socket
import socketserver
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

#: How long a stalling route waits: longer than the test crawls' DOWNLOAD_TIMEOUT.
STALL_SECONDS = 10.0
#: A trickling route sends one byte this often.
TRICKLE_INTERVAL = 0.5
#: The longest request head the server reads; a longer one is answered 431.
MAX_REQUEST_HEAD = 64 * 1024
#: How long an idle keep-alive connection is kept open.
IDLE_SECONDS = 15.0
#: Decoded size of the gzip bomb (about 500 KB on the wire).
BOMB_DECODED_BYTES = 500 * 2**20
#: Size of the large body route.
BIG_BODY_BYTES = 30 * 2**20
#: Size of the huge robots.txt.
HUGE_ROBOTS_BYTES = 13 * 2**20
#: Hops of the long redirect chain (Scrapy follows 20).
REDIRECT_CHAIN_LENGTH = 25
#: Normal HTML pages served under /page/N.
NORMAL_PAGES = 200
#: Bytes sent at a time by streaming routes.
SEND_CHUNK = 64 * 1024

ROBOTS = b"User-agent: *\nDisallow: /f/private/\n"
DENY_ALL_ROBOTS = b"User-agent: *\nDisallow: /\n"
_REQUEST_LINE_RE = re.compile(r"([A-Z]+) (\S+) HTTP/(\d)\.(\d)")


@dataclass(frozen=True, slots=True)
class Seen:
    """One HTTP request the server received."""

    id: int  #: order of arrival over the whole site, from 1
    port: int
    method: str
    target: str  #: the request target as sent (path and query)
    request_line: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.target}"


class Exchange:
    """One request on one connection, and the ways to answer it."""

    def __init__(self, sock: socket.socket, seen: Seen, site: FaultSite) -> None:
        self.sock = sock
        self.seen = seen
        self.site = site

    @property
    def path(self) -> str:
        return urlsplit(self.seen.target).path

    def send(self, data: bytes) -> bool:
        """Send ``data``; False when the client has gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def wait(self, seconds: float) -> bool:
        """Wait, and return True when the site is stopping meanwhile."""
        return self.site.stopping.wait(seconds)

    def reset(self) -> None:
        """Close with a TCP reset (RST) instead of an orderly close."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


#: Answers one request; returns True to keep the connection for the next request.
Route = Callable[[Exchange], bool]


def head(status: str, *headers: str, protocol: str = "HTTP/1.1") -> bytes:
    """A response head from its status and header lines, exactly as given."""
    return "\r\n".join([f"{protocol} {status}", *headers, "", ""]).encode("latin-1")


def reply(status: str, body: bytes, *headers: str) -> Route:
    """A well-formed response with ``Content-Length``, on a kept-alive connection."""
    raw = head(status, *headers, f"Content-Length: {len(body)}") + body

    def route(exchange: Exchange) -> bool:
        return exchange.send(raw)

    return route


def lazy_reply(status: str, body: Callable[[], bytes], *headers: str) -> Route:
    """:func:`reply` with a body made on first use (large bodies cost nothing until asked)."""

    def route(exchange: Exchange) -> bool:
        return reply(status, body(), *headers)(exchange)

    return route


def raw(data: bytes, *, then: str = "close") -> Route:
    """Send ``data`` as it is, then ``close``, ``reset`` or ``stall``."""

    def route(exchange: Exchange) -> bool:
        exchange.send(data)
        if then == "reset":
            exchange.reset()
        elif then == "stall":
            exchange.wait(STALL_SECONDS)
        return False

    return route


def html(title: str, *paragraphs: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body><article><h1>{title}</h1>{body}"
        "</article></body></html>"
    ).encode()


def normal_page(number: int) -> bytes:
    return html(
        f"Normal page {number}",
        f"This is the first paragraph of normal page {number}, a plain article that any "
        "crawler should archive and turn into text without trouble of any kind.",
        f"The second paragraph of page {number} says a little more, so that the text "
        "extraction finds enough main text to keep and the corpus gets a whole document.",
        f"A third paragraph closes page {number} with a last sentence about nothing much.",
    )


PAGE = html("A page reached through a fault", "The page at the end of a redirect or a retry.")
HTML_TYPE = "Content-Type: text/html; charset=utf-8"


@cache
def gzip_bomb() -> bytes:
    """Gzip of BOMB_DECODED_BYTES zeros: small on the wire, huge decoded."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(2**20)
    parts = [packer.compress(zeros) for _ in range(BOMB_DECODED_BYTES // len(zeros))]
    return b"".join(parts) + packer.flush()


@cache
def huge_robots() -> bytes:
    lines = [b"User-agent: *\n"]
    size = len(lines[0])
    number = 0
    while size < HUGE_ROBOTS_BYTES:
        line = b"Disallow: /archive/%08d/\n" % number
        lines.append(line)
        size += len(line)
        number += 1
    return b"".join(lines)


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def _deflate(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def _keepalive_then_close(exchange: Exchange) -> bool:
    exchange.send(
        head("200 OK", HTML_TYPE, "Connection: keep-alive", f"Content-Length: {len(PAGE)}")
    )
    exchange.send(PAGE)
    return False  # the server hangs up although it said keep-alive


def _trickle(exchange: Exchange) -> bool:
    body = PAGE
    exchange.send(head("200 OK", HTML_TYPE, f"Content-Length: {len(body)}"))
    for index in range(len(body)):
        if not exchange.send(body[index : index + 1]) or exchange.wait(TRICKLE_INTERVAL):
            break
    return False


def _big_body(exchange: Exchange) -> bool:
    exchange.send(
        head(
            "200 OK", "Content-Type: application/octet-stream", f"Content-Length: {BIG_BODY_BYTES}"
        )
    )
    block = random.Random(30).randbytes(SEND_CHUNK)
    for _ in range(BIG_BODY_BYTES // SEND_CHUNK):
        if not exchange.send(block):
            break
    return False


def _redirect_chain(exchange: Exchange) -> bool:
    hop = int(exchange.path.rsplit("/", 1)[1])
    if hop >= REDIRECT_CHAIN_LENGTH:
        return reply("200 OK", PAGE, HTML_TYPE)(exchange)
    return reply("302 Found", b"", f"Location: /f/redirect-chain/{hop + 1}")(exchange)


def _redirect_to_closed_port(exchange: Exchange) -> bool:
    location = f"Location: http://127.0.0.1:{exchange.site.closed_port}/gone"
    return reply("301 Moved Permanently", b"", location)(exchange)


def _robots_elsewhere(exchange: Exchange) -> bool:
    location = f"Location: http://127.0.0.1:{exchange.site.port}/f/deny-all-robots.txt"
    return reply("301 Moved Permanently", b"", location)(exchange)


def _many_headers(count: int) -> bytes:
    return b"".join(b"X-Header-%d: %d\r\n" % (n, n) for n in range(count))


_LONG_HEADER = b"X-Long: " + b"a" * (100 * 1024) + b"\r\n"
_CHUNKED = b"Transfer-Encoding: chunked"
_GZ = _gzip(PAGE)

#: The faults, by path: each path is one kind (the paths they lead to are in HELPER_ROUTES).
FAULTS: dict[str, Route] = {
    # -- connections that end early ------------------------------------------------
    "/f/reset-before-head": raw(b"", then="reset"),
    "/f/close-before-head": raw(b""),
    "/f/close-mid-head": raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/ht"),
    "/f/reset-after-head": raw(head("200 OK", HTML_TYPE, "Content-Length: 5000"), then="reset"),
    "/f/close-mid-body-length": raw(head("200 OK", HTML_TYPE, "Content-Length: 10000") + PAGE[:80]),
    "/f/close-mid-body-no-length": raw(head("200 OK", HTML_TYPE, "Connection: close") + PAGE),
    "/f/reset-mid-body-no-length": raw(head("200 OK", HTML_TYPE) + PAGE[:80], then="reset"),
    "/f/chunked-cut-mid-chunk": raw(
        head("200 OK", HTML_TYPE, _CHUNKED.decode()) + b"%x\r\n" % len(PAGE) + PAGE[:50]
    ),
    "/f/chunked-bad-size": raw(
        head("200 OK", HTML_TYPE, _CHUNKED.decode()) + b"zz\r\n" + PAGE + b"\r\n0\r\n\r\n"
    ),
    "/f/length-larger-than-body": raw(
        head("200 OK", HTML_TYPE, f"Content-Length: {len(PAGE) + 500}") + PAGE, then="stall"
    ),
    "/f/length-smaller-than-body": raw(
        head("200 OK", HTML_TYPE, "Content-Length: 40") + PAGE + b"<p>trailing junk</p>" * 50
    ),
    "/f/keepalive-closed-after-response": _keepalive_then_close,
    "/f/head-reply-to-get": raw(head("200 OK", HTML_TYPE, "Content-Length: 2000")),
    # -- time ----------------------------------------------------------------------
    "/f/stall-before-head": raw(b"", then="stall"),
    "/f/stall-mid-body": raw(
        head("200 OK", HTML_TYPE, "Content-Length: 5000") + PAGE[:100], then="stall"
    ),
    "/f/slow-trickle": _trickle,
    # -- heads that are not HTTP ---------------------------------------------------
    "/f/header-line-100k": raw(
        b"HTTP/1.1 200 OK\r\n" + _LONG_HEADER + b"Content-Length: %d\r\n\r\n" % len(PAGE) + PAGE
    ),
    "/f/ten-thousand-headers": raw(
        b"HTTP/1.1 200 OK\r\n"
        + _many_headers(10_000)
        + b"Content-Length: %d\r\n\r\n" % len(PAGE)
        + PAGE
    ),
    "/f/invalid-status-line": raw(b"HTTP/1.1 OK-ish\r\nContent-Length: 5\r\n\r\nhello"),
    "/f/http-0.9-reply": raw(PAGE),
    "/f/binary-garbage": raw(random.Random(7).randbytes(4000)),
    "/f/header-without-colon": raw(
        b"HTTP/1.1 200 OK\r\nThis line has no colon\r\nContent-Length: %d\r\n\r\n" % len(PAGE)
        + PAGE
    ),
    "/f/bare-lf-line-ends": raw(
        b"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: %d\n\n" % len(PAGE) + PAGE
    ),
    "/f/duplicate-content-length": raw(
        head("200 OK", HTML_TYPE, f"Content-Length: {len(PAGE)}", f"Content-Length: {len(PAGE)}")
        + PAGE
    ),
    "/f/conflicting-content-length": raw(
        head("200 OK", HTML_TYPE, "Content-Length: 10", f"Content-Length: {len(PAGE)}") + PAGE
    ),
    # -- bodies that are not what they say -----------------------------------------
    "/f/gzip-declared-not-gzip": reply("200 OK", PAGE, HTML_TYPE, "Content-Encoding: gzip"),
    "/f/gzip-truncated": reply("200 OK", _GZ[: len(_GZ) // 2], HTML_TYPE, "Content-Encoding: gzip"),
    "/f/gzip-bomb": lazy_reply("200 OK", gzip_bomb, HTML_TYPE, "Content-Encoding: gzip"),
    "/f/deflate-raw": reply("200 OK", _deflate(PAGE, -15), HTML_TYPE, "Content-Encoding: deflate"),
    "/f/deflate-zlib": reply("200 OK", _deflate(PAGE, 15), HTML_TYPE, "Content-Encoding: deflate"),
    "/f/brotli-declared": reply(
        "200 OK", b"\x1b\x0b\x00\xf8\xa5\x02" + PAGE[:40], HTML_TYPE, "Content-Encoding: br"
    ),
    "/f/zstd-declared": reply(
        "200 OK", b"\x28\xb5\x2f\xfd" + PAGE[:40], HTML_TYPE, "Content-Encoding: zstd"
    ),
    "/f/utf8-declared-latin1-sent": reply(
        "200 OK",
        html("Caf\u00e9 cr\u00e8me", "Na\u00efve fa\u00e7ade, \u00e9l\u00e8ve.")
        .decode()
        .encode("latin-1"),
        HTML_TYPE,
    ),
    "/f/empty-200": reply("200 OK", b"", HTML_TYPE),
    "/f/big-body-30mb": _big_body,
    # -- statuses ------------------------------------------------------------------
    "/f/no-content-204": raw(head("204 No Content"), then="close"),
    "/f/not-modified-304-unasked": raw(head("304 Not Modified", 'ETag: "x"')),
    "/f/informational-1xx-first": raw(
        head("100 Continue")
        + head("103 Early Hints", "Link: </style.css>; rel=preload")
        + head("200 OK", HTML_TYPE, f"Content-Length: {len(PAGE)}")
        + PAGE
    ),
    "/f/status-401": reply("401 Unauthorized", b"login", 'WWW-Authenticate: Basic realm="x"'),
    "/f/status-403": reply("403 Forbidden", b"no"),
    "/f/status-404": reply("404 Not Found", b"none"),
    "/f/status-410": reply("410 Gone", b"gone"),
    "/f/status-429-retry-after-huge": reply("429 Too Many Requests", b"", "Retry-After: 999999"),
    "/f/status-429-retry-after-garbage": reply(
        "429 Too Many Requests", b"", "Retry-After: soon, maybe"
    ),
    "/f/status-503-retry-after-past-date": reply(
        "503 Service Unavailable", b"", "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT"
    ),
    "/f/status-500": reply("500 Internal Server Error", b"oops"),
    "/f/status-503": reply("503 Service Unavailable", b"down"),
    "/f/status-999-unknown": reply("999 Whatever", PAGE, HTML_TYPE),
    # -- redirects -----------------------------------------------------------------
    "/f/redirect-loop": reply("302 Found", b"", "Location: /f/redirect-loop-back"),
    "/f/redirect-self": reply("301 Moved Permanently", b"", "Location: /f/redirect-self"),
    "/f/redirect-to-closed-port": _redirect_to_closed_port,
    "/f/redirect-chain/0": _redirect_chain,
    "/f/redirect-relative": reply("302 Found", b"", "Location: ../f/redirect-target?from=rel"),
    "/f/redirect-garbage-location": reply("302 Found", b"", "Location: http://[::1:80/%%%"),
    "/f/redirect-to-data-url": reply("302 Found", b"", "Location: data:text/html,<p>hi</p>"),
    "/f/redirect-to-ftp": reply("302 Found", b"", "Location: ftp://127.0.0.1/file.txt"),
    "/f/redirect-without-location": reply("302 Found", b"moved somewhere"),
    "/f/redirect-non-ascii-location": raw(
        b"HTTP/1.1 302 Found\r\nLocation: /f/redirect-target?caf\xe9\r\nContent-Length: 0\r\n\r\n"
    ),
    # -- robots.txt ----------------------------------------------------------------
    "/f/private/forbidden-by-robots": reply("200 OK", PAGE, HTML_TYPE),
}

#: Paths that faults lead to, not kinds of their own.
HELPER_ROUTES: dict[str, Route] = {
    "/f/redirect-loop-back": reply("302 Found", b"", "Location: /f/redirect-loop"),
    "/f/redirect-target": reply("200 OK", PAGE, HTML_TYPE),
    "/f/deny-all-robots.txt": reply("200 OK", DENY_ALL_ROBOTS, "Content-Type: text/plain"),
}

#: robots.txt faults, one port each: the page ROBOTS_PAGE of that port is in the input.
ROBOTS_FAULTS: dict[str, Route] = {
    "robots-huge-13mb": lazy_reply("200 OK", huge_robots, "Content-Type: text/plain"),
    "robots-500": reply("500 Internal Server Error", b"broken"),
    "robots-timeout": raw(b"", then="stall"),
    "robots-garbage": reply("200 OK", random.Random(9).randbytes(5000), "Content-Type: text/plain"),
    "robots-redirect-deny-all": _robots_elsewhere,
    "robots-reset": raw(b"", then="reset"),
}
ROBOTS_PAGE = "/robots-check/page"


class _Handler(socketserver.BaseRequestHandler):
    server: _Listener

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(IDLE_SECONDS)
        site = self.server.site
        site.track(sock)
        pending = b""
        try:
            while not site.stopping.is_set():
                request_head, pending = _read_head(sock, pending)
                if request_head is None:
                    return
                if not self._answer(sock, request_head):
                    return
        except OSError:
            return
        finally:
            site.untrack(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _answer(self, sock: socket.socket, request_head: bytes) -> bool:
        site = self.server.site
        line = request_head.split(b"\r\n", 1)[0].decode("latin-1")
        match = _REQUEST_LINE_RE.fullmatch(line)
        if match is None:
            # Not HTTP (a TLS handshake, say): noted apart, never counted as a request.
            site.note_other(self.server.port, request_head[:200])
            sock.sendall(head("400 Bad Request", "Content-Length: 0", "Connection: close"))
            return False
        seen = site.note(self.server.port, match.group(1), match.group(2), line)
        exchange = Exchange(sock, seen, site)
        return self.server.route(exchange)(exchange)


def _read_head(sock: socket.socket, pending: bytes) -> tuple[bytes | None, bytes]:
    data = pending
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_REQUEST_HEAD:
            sock.sendall(head("431 Request Header Fields Too Large", "Content-Length: 0"))
            return None, b""
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return None, b""
        if not chunk:
            # Not HTTP: a TLS ClientHello has no blank line, and the client waits.
            return (data or None), b""
        data += chunk
        if data[:1] == b"\x16":
            return data, b""
    request_head, _, rest = data.partition(b"\r\n\r\n")
    return request_head, rest


class _Listener(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, site: FaultSite, robots: Route) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.site = site
        self.robots = robots
        self.port = int(self.server_address[1])
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def route(self, exchange: Exchange) -> Route:
        path = exchange.path
        if path == "/robots.txt":
            return self.robots
        if path in FAULTS:
            return FAULTS[path]
        if path in HELPER_ROUTES:
            return HELPER_ROUTES[path]
        if path.startswith("/f/redirect-chain/"):
            return _redirect_chain
        if path.startswith("/page/") and path[6:].isdigit():
            return reply("200 OK", normal_page(int(path[6:])), HTML_TYPE)
        if path == ROBOTS_PAGE:
            return reply("200 OK", normal_page(self.port), HTML_TYPE)
        return reply("404 Not Found", b"no such path", "Content-Type: text/plain")


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _kind(path: str) -> str:
    return path.removeprefix("/f/").removeprefix("private/").removesuffix("/0")


class FaultSite:
    """The faulty web: a main port with every fault path, and one port per robots.txt fault."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.seen: list[Seen] = []
        #: Connections that did not speak HTTP: (port, first bytes).
        self.other: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._main = _Listener(self, reply("200 OK", ROBOTS, "Content-Type: text/plain"))
        self._robots = {name: _Listener(self, route) for name, route in ROBOTS_FAULTS.items()}
        self.closed_port = closed_port()

    @property
    def port(self) -> int:
        return self._main.port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def page_urls(self) -> list[str]:
        return [self.url(f"/page/{n}") for n in range(NORMAL_PAGES)]

    def fault_urls(self) -> dict[str, str]:
        """One URL per kind of fault, by kind."""
        urls = {_kind(path): self.url(path) for path in FAULTS}
        for name, listener in self._robots.items():
            urls[name] = f"http://127.0.0.1:{listener.port}{ROBOTS_PAGE}"
        urls["connection-refused"] = f"http://127.0.0.1:{self.closed_port}/refused"
        urls["tls-handshake-on-plain-port"] = f"https://127.0.0.1:{self.port}/f/tls"
        return urls

    def note(self, port: int, method: str, target: str, line: str) -> Seen:
        with self._lock:
            seen = Seen(len(self.seen) + 1, port, method, target, line)
            self.seen.append(seen)
        return seen

    def note_other(self, port: int, data: bytes) -> None:
        with self._lock:
            self.other.append((port, data))

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.discard(sock)

    def start(self) -> FaultSite:
        # Made before the first request, so that their cost (a second) is no server delay.
        gzip_bomb()
        huge_robots()
        for listener in (self._main, *self._robots.values()):
            listener.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for listener in (self._main, *self._robots.values()):
            if listener.thread.is_alive():
                listener.shutdown()
            listener.server_close()
