"""What the download handler does when a server misbehaves at the wire level.

Each test runs a raw socket server that counts the requests it reads, so that
what reached the server can be set against what the archive holds.
"""

from __future__ import annotations

import socket
import threading
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest
from scrapy.exceptions import ScrapyDeprecationWarning
from scrapy.utils.defer import deferred_f_from_coro_f
from scrapy.utils.misc import build_from_crawler, load_object
from scrapy.utils.test import get_crawler

from crawler.handlers.http11 import MAX_HEAD_LINE
from crawler.layout import Layout
from crawler.reindex import reindex
from crawler.spiders.urls import UrlsSpider
from tests.conftest import index_rows, project_settings_dict, run_crawl, write_urls
from tests.server import PAGE, LocalSite, response
from tests.test_reindex import dump
from tests.warc_reading import read_archive

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

HTML = [("Content-Type", "text/html; charset=utf-8")]


class RawServer:
    """A TCP server that reads requests by hand and answers them with ``answer(request_line)``.

    ``answer`` gives the bytes to send (None: close the connection at once). With
    ``drop_reused``, a second request on a connection is read, counted, and answered
    by closing the connection: a server that dropped a kept-alive connection just as
    the client reused it.
    """

    def __init__(
        self,
        answer: Callable[[bytes], bytes | None],
        *,
        family: int = socket.AF_INET,
        drop_reused: bool = False,
    ) -> None:
        self.answer = answer
        self.drop_reused = drop_reused
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.listener.listen(16)
        #: Request lines as read, in order.
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.listener.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def count(self, path: str) -> int:
        return sum(1 for line in self.requests if line.split(b" ")[1] == path.encode())

    def start(self) -> RawServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        line = data.split(b"\r\n", 1)[0]
        with self._lock:
            self.requests.append(line)
        return line

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            try:
                served = 0
                while (line := self._read_request(conn)) is not None:
                    raw = None if served and self.drop_reused else self.answer(line)
                    if raw is None:
                        return
                    conn.sendall(raw)
                    served += 1
            except OSError:
                return


@pytest.fixture
def raw_server(request: pytest.FixtureRequest) -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(answer: Callable[[bytes], bytes | None], **kwargs: Any) -> RawServer:
        server = RawServer(answer, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def page_or_robots(line: bytes) -> bytes:
    if b" /robots.txt " in line:
        return response("200 OK", [("Content-Type", "text/plain")], b"User-agent: *\nAllow: /\n")
    return response("200 OK", HTML, PAGE)


def attempts(records: list, url: str) -> tuple[int, int]:  # type: ignore[type-arg]
    """(request records, failed-fetch records) the archive holds for ``url``."""
    requests = sum(1 for r in records if r.type == "request" and r.url == url)
    failures = sum(1 for r in records if r.type == "metadata" and r.url == url)
    return requests, failures


@deferred_f_from_coro_f
async def test_a_dropped_kept_alive_connection_is_archived_then_retried(
    raw_server: Callable[..., RawServer], tmp_path: Path, archive_dir: Path
) -> None:
    server = raw_server(page_or_robots, drop_reused=True)
    url = server.url("/page")
    crawler = await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", url),
        RETRY_ENABLED=True,
        RETRY_TIMES=2,
        CONCURRENT_REQUESTS_PER_DOMAIN=1,
    )
    assert crawler.stats.get_value("finish_reason") == "finished"
    records = read_archive(archive_dir)
    # robots.txt came on a new connection; the page went out on the same one, reached
    # the server, and the server dropped the connection: a failed attempt, then a retry.
    # Every request that reached the server is a request record, the failed one too.
    requests, failures = attempts(records, url)
    assert failures >= 1
    assert server.count("/page") == requests
    assert server.count("/robots.txt") == attempts(records, server.url("/robots.txt"))[0]
    (seed,) = index_rows(archive_dir, "SELECT outcome FROM seeds")
    assert seed["outcome"] == "archived"


@deferred_f_from_coro_f
async def test_a_header_line_over_the_limit_is_named(
    raw_server: Callable[..., RawServer], tmp_path: Path, archive_dir: Path
) -> None:
    long_value = "x" * 100_000
    server = raw_server(
        lambda line: (
            response("200 OK", [*HTML, ("X-Long", long_value)], PAGE)
            if b" /robots.txt " not in line
            else response("404 Not Found", [], b"")
        )
    )
    url = server.url("/long-head")
    await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", url))
    (seed,) = index_rows(archive_dir, "SELECT outcome, reason FROM seeds")
    assert seed["outcome"] == "failed"
    assert seed["reason"] == f"response header line longer than {MAX_HEAD_LINE} bytes"
    (failure,) = [r for r in read_archive(archive_dir) if r.type == "metadata" and r.url == url]
    assert f"fetch-error: response header line longer than {MAX_HEAD_LINE}" in (
        failure.payload.decode()
    )


class LimitedSpider(UrlsSpider):
    name = "limited"
    download_maxsize = 1000


@deferred_f_from_coro_f
async def test_a_spiders_download_maxsize_is_honoured(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    big = site.add("/f/big", lambda h: response("200 OK", HTML, b"<p>big</p>" * 500))
    urls = write_urls(tmp_path / "urls.txt", big, site.url("/page"))
    # Scrapy still honours the spider attribute, with a deprecation warning.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScrapyDeprecationWarning)
        await run_crawl(archive_dir, urls, spidercls=LimitedSpider)
    assert any("download_maxsize" in str(w.message) for w in caught)
    seeds = {
        r["url"]: (r["outcome"], r["reason"])
        for r in index_rows(archive_dir, "SELECT url, outcome, reason FROM seeds")
    }
    assert seeds[big][0] == "failed"
    assert "download cancelled" in seeds[big][1] and "1000" in seeds[big][1]
    assert seeds[site.url("/page")][0] == "archived"


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@contextmanager
def resolver_of(settings: dict[str, Any]) -> Iterator[None]:
    """The DNS resolver the settings name, on the reactor, as Scrapy's CrawlerProcess installs it.

    Crawls run by tests use the reactor's own resolver; this puts the project's in
    its place for a while.
    """
    from twisted.internet import reactor

    previous = reactor.nameResolver  # type: ignore[attr-defined]
    crawler = get_crawler(UrlsSpider, settings)
    resolver_class = load_object(crawler.settings["TWISTED_DNS_RESOLVER"])
    build_from_crawler(resolver_class, crawler, reactor=reactor).install_on_reactor()
    try:
        yield
    finally:
        reactor.installNameResolver(previous)  # type: ignore[attr-defined]


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
@deferred_f_from_coro_f
async def test_an_ipv6_literal_is_crawled_with_the_projects_resolver(
    raw_server: Callable[..., RawServer], tmp_path: Path, archive_dir: Path
) -> None:
    server = raw_server(page_or_robots, family=socket.AF_INET6)
    url = server.url("/page")
    assert url.startswith("http://[::1]:")
    with resolver_of(project_settings_dict()):
        await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", url))
    (seed,) = index_rows(archive_dir, "SELECT outcome, reason FROM seeds")
    assert (seed["outcome"], seed["reason"]) == ("archived", None)
    (page,) = [r for r in read_archive(archive_dir) if r.type == "response" and r.url == url]
    assert page.header("WARC-IP-Address") == "::1"


@deferred_f_from_coro_f
async def test_a_request_that_reached_the_server_is_archived_even_without_an_answer(
    raw_server: Callable[..., RawServer], tmp_path: Path, archive_dir: Path
) -> None:
    # The page's request is read and the connection closed: no response at all.
    server = raw_server(lambda line: None if b" /page " in line else page_or_robots(line))
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused = f"http://127.0.0.1:{closed.getsockname()[1]}/page"
    closed.close()
    await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", server.url("/page"), refused))

    records = read_archive(archive_dir)
    failures = {
        r.url: r
        for r in records
        if r.type == "metadata" and (r.url or "").endswith("/page") and b"fetch-error" in r.payload
    }
    assert set(failures) == {server.url("/page"), refused}
    (request,) = [r for r in records if r.type == "request" and r.url == server.url("/page")]
    assert request.header("WARC-Concurrent-To") == failures[server.url("/page")].id
    assert request.http_block.startswith(b"GET /page HTTP/1.1\r\n")
    assert server.count("/page") == 1
    # A refused connection sent nothing: no request record.
    assert not [r for r in records if r.type == "request" and r.url == refused]
    rows = {
        row["url"]: row["request_record_id"]
        for row in index_rows(archive_dir, "SELECT url, request_record_id FROM captures")
    }
    assert rows[server.url("/page")] == request.id
    assert rows[refused] is None

    # The WARC files alone give the same rows back.
    original = dump(archive_dir)
    (archive_dir / "index.sqlite").unlink()
    assert reindex(Layout(archive_dir)).ok
    assert dump(archive_dir)["captures"] == original["captures"]


@deferred_f_from_coro_f
async def test_a_failed_tls_handshake_sent_no_request(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    # A plain HTTP server asked for TLS: the handshake fails before any request goes out.
    url = site.url("/page").replace("http://", "https://")
    await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", url))
    records = read_archive(archive_dir)
    (failure,) = [r for r in records if r.type == "metadata" and r.url == url]
    assert b"fetch-error" in failure.payload
    assert not [r for r in records if r.type == "request" and r.url == url]


def test_a_closing_connection_never_goes_back_to_the_pool() -> None:
    # A stopped download (StopDownload, as for a robots.txt cut at its limit) closes its
    # connection; pooled anyway, the next request to the host would fail on it.
    from twisted.internet.testing import StringTransport

    from crawler.handlers.http11 import _HeadKeepingFactory

    pooled: list[Any] = []
    factory = _HeadKeepingFactory(pooled.append, None)
    for closing in (False, True):
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        if closing:
            transport.loseConnection()
        factory._pool_unless_closing(protocol)
        assert (protocol in pooled) is not closing
