"""A local HTTP server for crawl tests: real sockets on 127.0.0.1, exact bytes on the wire.

Each route writes its whole response by hand, so tests know precisely what the
archive must hold: status lines with odd reason phrases, repeated headers,
chunked framing, gzip bodies. Extra routes can be added per test with
:meth:`LocalSite.add`.
"""

from __future__ import annotations

import gzip
import random
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

Route = Callable[["Handler"], bytes | None]

PAGE = (
    b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Plain page</title></head>"
    b"<body><p>A plain page.</p></body></html>"
)
BINARY = random.Random(42).randbytes(3000)
ROBOTS = b"User-agent: *\nDisallow: /private/\n"


def response(
    status: str, headers: list[tuple[str, str]], body: bytes, *, protocol: str = "HTTP/1.1"
) -> bytes:
    head = [f"{protocol} {status}"] + [f"{name}: {value}" for name, value in headers]
    if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def chunked(body: bytes, size: int) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)
    return framed + b"0\r\n\r\n"


GZIP_HTML = (
    b"<!DOCTYPE html><html><head><title>Compressed</title></head><body>"
    + b"<p>This page travels gzip-compressed.</p>" * 20
    + b"</body></html>"
)
CHUNKED_HTML = (
    b"<!DOCTYPE html><html><head><title>Chunked</title></head><body>"
    + b"<p>This page travels in chunks.</p>" * 30
    + b"</body></html>"
)


def _fixed_gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


ROUTES: dict[str, Route] = {
    "/robots.txt": lambda h: response("200 OK", [("Content-Type", "text/plain")], ROBOTS),
    "/page": lambda h: response("200 OK", [("Content-Type", "text/html; charset=utf-8")], PAGE),
    "/gzip": lambda h: response(
        "200 OK",
        [("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")],
        _fixed_gzip(GZIP_HTML),
    ),
    "/chunked": lambda h: response(
        "200 OK",
        [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")],
        chunked(CHUNKED_HTML, 100),
    ),
    "/redirect/1": lambda h: response("301 Moved Permanently", [("Location", "/redirect/2")], b""),
    "/redirect/2": lambda h: response("302 Found", [("Location", "/page")], b""),
    "/missing": lambda h: response(
        "404 Not Here", [("Content-Type", "text/plain")], b"nothing here\n"
    ),
    "/cookies": lambda h: response(
        "200 OK",
        [
            ("Content-Type", "text/html"),
            ("Set-Cookie", "first=1; Path=/"),
            ("Set-Cookie", "second=2; Path=/; HttpOnly"),
        ],
        PAGE,
    ),
    "/query": lambda h: response(
        "200 OK", [("Content-Type", "text/plain")], f"query: {urlsplit(h.path).query}".encode()
    ),
    "/binary": lambda h: response("200 OK", [("Content-Type", "application/octet-stream")], BINARY),
    "/reason": lambda h: response("200 Okey-dokey", [("Content-Type", "text/html")], PAGE),
    "/old": lambda h: response(
        "200 OK", [("Content-Type", "text/html")], PAGE, protocol="HTTP/1.0"
    ),
    "/private/secret": lambda h: response("200 OK", [("Content-Type", "text/html")], PAGE),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalSite

    def do_GET(self) -> None:
        self.server.log_request_line(self)
        route = self.server.route(self.path)
        if route is None:
            raw = response("404 Not Found", [("Content-Type", "text/plain")], b"no route\n")
        else:
            raw = route(self)
        if raw is not None:
            self.wfile.write(raw)
            self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        pass


class LocalSite(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = dict(ROUTES)
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, route: Route) -> str:
        """Serve ``path`` (a path ending in ``*`` serves every path it begins)."""
        self.routes[path] = route
        return self.url(path.rstrip("*"))

    def route(self, target: str) -> Route | None:
        path = urlsplit(target).path
        if path in self.routes:
            return self.routes[path]
        prefixes = [p for p in self.routes if p.endswith("*") and target.startswith(p[:-1])]
        return self.routes[max(prefixes, key=len)] if prefixes else None

    def log_request_line(self, handler: Handler) -> None:
        headers: dict[str, list[str]] = {}
        for name, value in handler.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        with self._lock:
            self.requests.append((handler.path, headers))

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that time out or hang up on purpose are part of the tests.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    def start(self) -> LocalSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def slow(seconds: float, then: bytes) -> Route:
    def route(handler: Handler) -> bytes:
        time.sleep(seconds)
        return then

    return route
