"""Real crawls of the local test site, read back from the WARC files."""

from __future__ import annotations

import gzip
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from scrapy.utils.defer import deferred_f_from_coro_f

from crawler.warc.verify import render_report, verify_paths
from tests.conftest import index_rows, project_settings_dict, run_crawl, write_urls
from tests.server import BINARY, CHUNKED_HTML, GZIP_HTML, LocalSite, chunked
from tests.server import response as http_response
from tests.warc_reading import Record, read_archive, sha1_digest

if TYPE_CHECKING:
    from pathlib import Path

PATHS = [
    "/gzip",
    "/chunked",
    "/redirect/1",
    "/missing",
    "/cookies",
    "/query?a=1&b=two%20words",
    "/binary",
    "/reason",
    "/old",
    "/private/secret",
]


def responses(records: list[Record], url: str) -> list[Record]:
    return [r for r in records if r.type == "response" and r.url == url]


def only_response(records: list[Record], url: str) -> Record:
    found = responses(records, url)
    assert len(found) == 1, f"{len(found)} responses for {url}"
    return found[0]


@deferred_f_from_coro_f
async def test_every_exchange_is_archived_faithfully(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    urls = write_urls(tmp_path / "urls.txt", *(site.url(p) for p in PATHS))
    crawler = await run_crawl(archive_dir, urls)
    assert crawler.stats.get_value("finish_reason") == "finished"
    records = read_archive(archive_dir)
    assert records[0].type == "warcinfo"
    by_id = {r.id: r for r in records}

    # Each response has its request, linked both ways, with the same date.
    for response in (r for r in records if r.type == "response"):
        request = by_id[response.header("WARC-Concurrent-To")]
        assert request.type == "request"
        assert request.header("WARC-Concurrent-To") == response.id
        assert request.url == response.url
        assert request.header("WARC-Date") == response.header("WARC-Date")
        assert response.header("WARC-IP-Address") == "127.0.0.1"
        assert response.header("WARC-Warcinfo-ID") == records[0].id

    robots = only_response(records, site.url("/robots.txt"))
    assert robots.first_line == "HTTP/1.1 200 OK"

    gz = only_response(records, site.url("/gzip"))
    assert gz.http_headers("Content-Encoding") == ["gzip"]
    assert gzip.decompress(gz.payload) == GZIP_HTML
    assert gz.payload == gzip.compress(GZIP_HTML, mtime=0), "stored body must be the wire bytes"

    ch = only_response(records, site.url("/chunked"))
    assert ch.http_headers("Transfer-Encoding") == []
    assert ch.payload == CHUNKED_HTML
    assert ch.header("WARC-Payload-Digest") == sha1_digest(CHUNKED_HTML)

    hops = [site.url("/redirect/1"), site.url("/redirect/2"), site.url("/page")]
    assert [only_response(records, u).first_line for u in hops] == [
        "HTTP/1.1 301 Moved Permanently",
        "HTTP/1.1 302 Found",
        "HTTP/1.1 200 OK",
    ]
    assert only_response(records, site.url("/missing")).first_line == "HTTP/1.1 404 Not Here"
    assert only_response(records, site.url("/reason")).first_line == "HTTP/1.1 200 Okey-dokey"
    assert only_response(records, site.url("/old")).first_line == "HTTP/1.0 200 OK"

    cookies = only_response(records, site.url("/cookies"))
    assert cookies.http_headers("Set-Cookie") == [
        "first=1; Path=/",
        "second=2; Path=/; HttpOnly",
    ]

    query_url = site.url("/query?a=1&b=two%20words")
    query = only_response(records, query_url)
    assert query.payload == b"query: a=1&b=two%20words"
    request = by_id[query.header("WARC-Concurrent-To")]
    assert request.first_line == "GET /query?a=1&b=two%20words HTTP/1.1"
    host = site.base.removeprefix("http://")
    assert request.http_headers("Host") == [host]
    assert request.http_headers("Accept-Encoding") == ["gzip, deflate"]

    assert only_response(records, site.url("/binary")).payload == BINARY
    assert responses(records, site.url("/private/secret")) == []

    # Every capture row points at its record.
    for row in index_rows(archive_dir, "SELECT * FROM captures"):
        record = by_id[row["record_id"]]
        assert (row["warc_file"], row["warc_offset"], row["warc_length"]) == (
            record.file,
            record.offset,
            record.length,
        )
        assert row["url"] == record.url
        assert row["request_record_id"] == record.header("WARC-Concurrent-To")

    outcomes = {
        row["url"]: (row["outcome"], row["reason"])
        for row in index_rows(archive_dir, "SELECT * FROM seeds")
    }
    assert outcomes[site.url("/missing")] == ("failed", "HTTP 404 Not Here")
    assert outcomes[site.url("/private/secret")] == ("forbidden", "Forbidden by robots.txt")
    assert outcomes[site.url("/redirect/1")][0] == "archived"
    assert len(outcomes) == len(PATHS)

    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "warcio.cli",
            "check",
            "-v",
            *map(str, (archive_dir / "warc").glob("*")),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr

    verified = verify_paths([archive_dir / "warc"])
    assert verified.ok and verified.warning_count == 0, render_report(verified)
    assert verified.records == len(records)


ODD_HEAD = (
    b"HTTP/1.1 200 Fine Thanks\r\n"
    b"set-cookie: a=1\r\n"
    b"X-Mid:   spaced  \r\n"
    b"Set-Cookie: b=2\r\n"
    b"X-Folded: first\r\n"
    b"  second\r\n"
    b"content-type: text/html\r\n"
    b"Connection: keep-alive\r\n"
    b"Keep-Alive: timeout=5\r\n"
)


@deferred_f_from_coro_f
async def test_response_head_is_stored_as_received(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    body = b"<p>as received</p>"
    sized = site.add(
        "/head/sized", lambda h: ODD_HEAD + b"Content-Length:   %d  \r\n\r\n" % len(body) + body
    )
    chunked_url = site.add(
        "/head/chunked",
        lambda h: (
            ODD_HEAD + b"Transfer-Encoding: chunked\r\nX-After: kept\r\n\r\n" + chunked(body, 5)
        ),
    )
    await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", sized, chunked_url))
    records = read_archive(archive_dir)
    stored = only_response(records, sized)
    assert stored.http_block == ODD_HEAD + b"Content-Length:   %d  \r\n\r\n" % len(body)
    assert stored.payload == body
    stored = only_response(records, chunked_url)
    assert stored.http_block == ODD_HEAD + b"X-After: kept\r\n\r\n"
    assert stored.payload == body
    verified = verify_paths([archive_dir / "warc"])
    assert verified.ok, render_report(verified)


class RefetchOnce:
    """A downloader middleware closer to the downloader than the archive guard (1100): it
    asks for every page once more, so the guard never sees the first response."""

    def process_response(self, request: Any, response: Any) -> Any:
        if request.meta.get("refetched") or "robots.txt" in request.url:
            return response
        return request.replace(dont_filter=True, meta={**request.meta, "refetched": True})


@deferred_f_from_coro_f
async def test_every_downloaded_exchange_is_archived_whatever_a_middleware_does(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    # One body archived on the reactor, one over ARCHIVE_IN_THREAD_ABOVE, in a thread.
    big = site.add(
        "/big-refetched",
        lambda h: http_response("200 OK", [("Content-Type", "text/plain")], b"x" * 300_000),
    )
    small = site.url("/page")
    settings = project_settings_dict()["DOWNLOADER_MIDDLEWARES"]
    crawler = await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", small, big),
        DOWNLOADER_MIDDLEWARES={**settings, f"{__name__}.RefetchOnce": 1100},
    )
    assert crawler.stats.get_value("finish_reason") == "finished"
    records = read_archive(archive_dir)
    for url in (small, big):
        fetched = [r for r in records if r.type in ("response", "revisit") and r.url == url]
        assert len(fetched) == 2, url  # the dropped first response and the refetch
