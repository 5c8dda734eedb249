"""Pages left coded for a spider that reads no body: nothing decoded for nothing, nothing lost.

The archiver's spider makes text from the archived exchange, so decompression
leaves its cheap gzip pages as received (LEAVE_CODED_META). These tests check
that a crawl then decodes no page yet archives and extracts every one, that a
spider reading bodies still gets them decoded, and that meta refresh reads the
start of a coded page as Scrapy reads a decoded one.
"""

from __future__ import annotations

import gzip
import re
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Request, Spider
from scrapy.downloadermiddlewares.redirect import (
    MetaRefreshMiddleware as ScrapyMetaRefreshMiddleware,
)
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.utils.defer import deferred_f_from_coro_f
from scrapy.utils.test import get_crawler

from crawler.downloadermiddlewares.decompression import DecompressionMiddleware
from crawler.downloadermiddlewares.metarefresh import (
    GUESS_SIZE,
    MAX_MEMBERS,
    MetaRefreshMiddleware,
)
from crawler.extract.coding import gzip_start
from crawler.meta import LEAVE_CODED_META
from crawler.spiders.urls import UrlsSpider
from tests.conftest import index_rows, project_settings_dict, run_crawl, write_urls
from tests.server import response

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.server import LocalSite

ARTICLE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Laissé tel quel</title>"
    "</head><body><article>"
    + "<p>Une phrase d'article, assez longue pour être gardée par l'extraction.</p>" * 40
    + "</article></body></html>"
).encode()
LEAVE = {LEAVE_CODED_META: True}


def coded(url: str, body: bytes, coding: str = "gzip", content_type: str = "text/html") -> Response:
    """A response as the download handler builds it for a coded body: a plain Response."""
    headers = {"Content-Type": content_type, "Content-Encoding": coding}
    return Response(url, body=body, headers=headers)


# -- the decompression middleware ---------------------------------------------------------


@pytest.mark.parametrize(
    ("meta", "body", "coding", "left"),
    [
        (LEAVE, gzip.compress(ARTICLE), "gzip", True),
        (LEAVE, gzip.compress(ARTICLE), "x-gzip", True),
        ({}, gzip.compress(ARTICLE), "gzip", False),  # the callback may read it
        (LEAVE, gzip.compress(gzip.compress(ARTICLE)), "gzip, gzip", False),
        (LEAVE, __import__("zlib").compress(ARTICLE), "deflate", False),
        # Too long to read a meta refresh from cheaply: decoded, in a thread.
        (LEAVE, gzip.compress(bytes(range(256)) * 5000, 0), "gzip", False),
    ],
    ids=["gzip", "x-gzip", "not asked", "twice", "deflate", "long"],
)
@deferred_f_from_coro_f
async def test_only_cheap_gzip_bodies_are_left_coded_and_only_when_asked(
    meta: dict[str, bool], body: bytes, coding: str, left: bool
) -> None:
    crawler = get_crawler(Spider, project_settings_dict())
    middleware = DecompressionMiddleware.from_crawler(crawler)
    received = coded("http://example.com/a", body, coding)
    got = await middleware.process_response(Request(received.url, meta=meta), received)
    assert (got is received) is left
    assert crawler.stats.get_value("archiver/decompression/left_coded") == (1 if left else None)
    if not left:
        assert b"Content-Encoding" not in got.headers and len(got.body) > len(body) // 2


@deferred_f_from_coro_f
async def test_a_body_whose_trailer_says_it_is_too_large_is_dropped_not_left_coded() -> None:
    crawler = get_crawler(Spider, project_settings_dict(ARCHIVER_MAX_DECODED_SIZE=1_000_000))
    middleware = DecompressionMiddleware.from_crawler(crawler)
    received = coded("http://example.com/bomb", gzip.compress(bytes(2_000_000)))
    reason = "decoded body larger than ARCHIVER_MAX_DECODED_SIZE (1000000 bytes"
    with pytest.raises(IgnoreRequest, match=re.escape(reason)):
        await middleware.process_response(Request(received.url, meta=LEAVE), received)
    assert crawler.stats.get_value("archiver/decompression/left_coded") is None


def test_the_head_of_a_gzip_body_decodes_only_its_start() -> None:
    def gzip_head(body: bytes, size: int) -> bytes:
        return gzip_start(body, size, members=MAX_MEMBERS)

    members = gzip.compress(b"a" * 10) + gzip.compress(b"b" * 10) + gzip.compress(b"c" * 10**6)
    assert gzip_head(members, 25) == b"a" * 10 + b"b" * 10 + b"c" * 5
    assert gzip_head(members[:-100], 30) == b"a" * 10 + b"b" * 10 + b"c" * 10  # cut: its start
    assert gzip_head(b"not gzip at all", 10) == b""
    # Many members: no more than MAX_MEMBERS read.
    assert gzip_head(gzip.compress(b"a") * (MAX_MEMBERS + 5), 100) == b"a" * MAX_MEMBERS


# -- meta refresh from the start of a coded page ------------------------------------------


def refresh_page(target: str, *, charset: bool, filler: int = 0) -> bytes:
    meta = "<meta charset='utf-8'>" if charset else ""
    return (
        f"<html><head>{meta}<!-- {'x' * filler} -->"
        f"<meta http-equiv='refresh' content='0;url={target}'></head><body>é</body></html>"
    ).encode()


def long_undeclared_page() -> bytes:
    head = "<html><head><meta http-equiv='refresh' content='0;url=/цель'></head><body>"
    head += " " * ((GUESS_SIZE - len(head.encode())) % 2 == 0)  # 1 MiB falls inside a "я"
    return (head + "я" * 600_000 + "</body></html>").encode()


REFRESHES = {
    # The start gives the encoding: the refresh is read from it.
    "declared": (refresh_page("/page?declared", charset=True), "text/html", True),
    # No encoding anywhere: Scrapy guesses it, from the first mebibyte here.
    "undeclared": (refresh_page("/page?undeclared", charset=False), "text/html", True),
    # Past the 4,096 characters Scrapy reads: not followed by either.
    "late": (refresh_page("/page?late", charset=True, filler=5000), "text/html", False),
    # The word alone: read as Scrapy reads it, no refresh.
    "the word only": (b"<html><body>Refresh the page.</body></html>", "text/html", False),
    # UTF-16, whose bytes never hold the word: read as Scrapy reads it.
    "utf-16": (
        "<html><head><meta http-equiv='refresh' content='0;url=/page?wide'></head></html>".encode(
            "utf-16"
        ),
        "text/html",
        True,
    ),
    # No encoding anywhere, a body over the mebibyte first read, a character cut there:
    # Scrapy guesses from the whole body (UTF-8), and so must the probe.
    "undeclared, long": (long_undeclared_page(), "text/html", True),
    # Not HTML: no refresh looked for.
    "not html": (refresh_page("/page?text", charset=True), "text/plain", False),
}


@pytest.mark.parametrize("case", REFRESHES.values(), ids=REFRESHES.keys())
def test_meta_refresh_of_a_coded_page_is_scrapys_of_the_decoded_page(
    case: tuple[bytes, str, bool],
) -> None:
    page, content_type, followed = case
    crawler = get_crawler(Spider, project_settings_dict())
    ours = MetaRefreshMiddleware.from_crawler(crawler)
    scrapys = ScrapyMetaRefreshMiddleware.from_crawler(crawler)
    request = Request("http://example.com/refresh", meta=LEAVE)
    received = coded(request.url, gzip.compress(page), content_type=content_type)
    decoded_cls = HtmlResponse if content_type == "text/html" else Response
    decoded = decoded_cls(request.url, body=page, headers={"Content-Type": content_type})
    got = ours.process_response(request, received)
    expected = scrapys.process_response(request, decoded)
    assert isinstance(expected, Request) is followed
    if isinstance(expected, Request):
        assert isinstance(got, Request) and got.url == expected.url
    else:
        assert got is received  # the page goes on, still coded


# -- real crawls ------------------------------------------------------------------------


def gzip_route(body: bytes, content_type: str = "text/html") -> Any:
    headers = [("Content-Type", content_type), ("Content-Encoding", "gzip")]
    return lambda h: response("200 OK", headers, gzip.compress(body))


@pytest.fixture
def gzip_site(site: LocalSite) -> Iterator[dict[str, str]]:
    paths = {
        "article": ("/coded/article", ARTICLE),
        "refresh": ("/coded/refresh", refresh_page("/coded/target", charset=True)),
        "target": ("/coded/target", ARTICLE.replace("Laissé".encode(), b"Cible")),
    }
    urls = {name: site.add(path, gzip_route(body)) for name, (path, body) in paths.items()}
    yield urls
    for path, _ in paths.values():
        del site.routes[path]


@pytest.mark.parametrize("text", [False, True], ids=["archive only", "with text"])
@deferred_f_from_coro_f
async def test_a_crawl_decodes_no_page_yet_follows_refreshes_and_writes_text(
    gzip_site: dict[str, str], tmp_path: Path, archive_dir: Path, text: bool
) -> None:
    urls = write_urls(tmp_path / "urls.txt", gzip_site["article"], gzip_site["refresh"])
    crawler = await run_crawl(archive_dir, urls, ARCHIVER_TEXT_ENABLED=text)
    assert crawler.stats.get_value("httpcompression/response_count") is None
    assert crawler.stats.get_value("archiver/decompression/left_coded") == 3
    rows = index_rows(archive_dir, "SELECT url, outcome FROM seeds ORDER BY position")
    assert [row["outcome"] for row in rows] == ["archived", "archived"]
    captured = {row["url"] for row in index_rows(archive_dir, "SELECT url FROM captures")}
    assert gzip_site["target"] in captured  # the refresh was followed
    if text:
        written = sorted(path.read_text("utf-8") for path in (archive_dir / "text").rglob("*.txt"))
        assert len(written) == 2
        assert "Laissé tel quel" in written[1] and "Cible tel quel" in written[0]


@deferred_f_from_coro_f
async def test_a_spider_that_reads_pages_gets_them_decoded(
    gzip_site: dict[str, str], tmp_path: Path, archive_dir: Path
) -> None:
    seen: list[bytes] = []

    class Reading(UrlsSpider):
        def parse(self, response: Response) -> Any:
            seen.append(response.body)
            yield from super().parse(response)

    urls = write_urls(tmp_path / "urls.txt", gzip_site["article"])
    crawler = await run_crawl(archive_dir, urls, Reading, ARCHIVER_TEXT_ENABLED=False)
    assert seen == [ARTICLE]
    assert crawler.stats.get_value("archiver/decompression/left_coded") is None


@deferred_f_from_coro_f
async def test_a_bomb_whose_trailer_lies_is_archived_and_gives_no_text(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    # 70 members of 1 MiB of zeros: 70 KB on the wire, a trailer that says 1 MiB, 70 MiB
    # decoded. Left coded for the spider; text extraction stops at its own limit.
    bomb = gzip.compress(bytes(1024 * 1024), mtime=0) * 70
    headers = [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]
    url = site.add("/coded/bomb", lambda h: response("200 OK", headers, bomb))
    try:
        crawler = await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", url))
    finally:
        del site.routes["/coded/bomb"]
    assert crawler.stats.get_value("archiver/decompression/left_coded") == 1
    (seed,) = index_rows(archive_dir, "SELECT outcome FROM seeds")
    assert seed["outcome"] == "archived"
    sql = "SELECT payload_length, text_outcome, text_reason FROM captures WHERE url = ?"
    (capture,) = index_rows(archive_dir, sql, (url,))
    assert capture["payload_length"] == len(bomb)
    assert capture["text_outcome"] == "failed"
    assert capture["text_reason"] == "decoded body larger than 67108864 bytes: no text made from it"
