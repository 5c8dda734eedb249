"""Heavy responses keep the reactor free and memory bounded.

A large body is digested and compressed in a thread, a gzip bomb is decoded in a
thread and only up to ARCHIVER_MAX_DECODED_SIZE: meanwhile the reactor goes on
serving other downloads, which must not time out. A probe due every 50 ms records
how late the reactor ran it.
"""

from __future__ import annotations

import gzip
import random
import re
import string
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Request, Spider, signals
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse
from scrapy.utils.asyncio import create_looping_call
from scrapy.utils.defer import deferred_f_from_coro_f
from scrapy.utils.test import get_crawler

from crawler import settings as project_settings
from crawler.downloadermiddlewares.decompression import (
    REACTOR_DECODE_BUDGET,
    DecompressionMiddleware,
)
from crawler.warc.records import sha1_digest
from crawler.warc.verify import render_report, verify_paths
from tests.conftest import FAST, index_rows, project_settings_dict, run_crawl, write_urls
from tests.server import PAGE, response, slow
from tests.warc_reading import read_archive

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from tests.server import LocalSite

#: The incompressible body archived during the probe: gzip alone takes the old,
#: synchronous archive over a second of reactor time for it.
BIG_SIZE = 64 * 1024 * 1024
#: What the gzip bomb decodes to (it is about 1/1000 of that on the wire: 2 MB, more
#: than decompression leaves coded for the archiver's spider, so it is decoded).
BOMB_SIZE = 2048 * 1024 * 1024
#: The healthy pages fetched meanwhile, each answered after HEALTHY_DELAY seconds.
HEALTHY_PAGES = 60
HEALTHY_DELAY = 0.2
#: How often the probe runs, and the largest lag the test accepts: generous, yet far
#: below what archiving or decoding on the reactor takes (see the module docstring).
PROBE_INTERVAL = 0.05
MAX_REACTOR_GAP = 1.0
#: The peak memory a crawl of the big body and the bomb may take (resident set, MiB):
#: the body itself, the interpreter and Scrapy, and room to spare; not the body twice.
MAX_RSS_MIB = 400
GAP_STAT = "test/reactor_max_gap"


@cache
def big_body() -> bytes:
    return random.Random(5).randbytes(BIG_SIZE)


@cache
def bomb() -> bytes:
    """Gzip members of zeros one after the other: one gzip stream to a decoder, made at once."""
    member = gzip.compress(bytes(1024 * 1024), mtime=0)
    return member * (BOMB_SIZE // (1024 * 1024))


def heavy_routes(site: LocalSite) -> tuple[str, str, list[str]]:
    """The big body, the bomb and the healthy pages on the test site: their URLs."""
    big_body(), bomb()  # made before the crawl: the server answers at once
    big = site.add(
        "/heavy/big",
        lambda h: response("200 OK", [("Content-Type", "application/octet-stream")], big_body()),
    )
    bombed = site.add(
        "/heavy/bomb",
        lambda h: response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], bomb()
        ),
    )
    site.add("/heavy/healthy/*", slow(HEALTHY_DELAY, response("200 OK", [], PAGE)))
    healthy = [site.url(f"/heavy/healthy/{n}") for n in range(HEALTHY_PAGES)]
    return big, bombed, healthy


class LagProbe:
    """Records the largest time between two runs of a call due every PROBE_INTERVAL."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.last: float | None = None
        self.max_gap = 0.0
        self.task: Any = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LagProbe:
        return cls(crawler)

    def spider_opened(self) -> None:
        self.task = create_looping_call(self.tick)
        self.task.start(PROBE_INTERVAL)

    def tick(self) -> None:
        now = time.monotonic()
        if self.last is not None:
            self.max_gap = max(self.max_gap, now - self.last)
        self.last = now

    def spider_closed(self) -> None:
        self.task.stop()
        self.crawler.stats.set_value(GAP_STAT, self.max_gap)


@deferred_f_from_coro_f
async def test_heavy_responses_leave_the_reactor_free(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    big, bombed, healthy = heavy_routes(site)
    urls = write_urls(tmp_path / "urls.txt", big, bombed, *healthy)
    crawler = await run_crawl(
        archive_dir,
        urls,
        EXTENSIONS={**project_settings.EXTENSIONS, f"{__name__}.LagProbe": 0},
        CONCURRENT_REQUESTS=16,
        CONCURRENT_REQUESTS_PER_DOMAIN=16,
        DOWNLOAD_TIMEOUT=2,
        ARCHIVER_TEXT_ENABLED=False,
    )
    gap = crawler.stats.get_value(GAP_STAT)
    print(f"largest reactor gap: {gap:.3f} s (probe every {PROBE_INTERVAL} s)")
    assert crawler.stats.get_value("finish_reason") == "finished"
    assert gap < MAX_REACTOR_GAP

    seeds = {row["url"]: row for row in index_rows(archive_dir, "SELECT * FROM seeds")}
    # The healthy server answered well inside DOWNLOAD_TIMEOUT: none of it timed out.
    assert {seeds[url]["outcome"] for url in healthy} == {"archived"}, [
        seeds[url]["reason"] for url in healthy if seeds[url]["outcome"] != "archived"
    ]
    captures = {
        row["url"]: row
        for row in index_rows(archive_dir, "SELECT * FROM captures WHERE record_type = 'response'")
    }
    # The big body is archived whole, its digest computed in the thread.
    assert captures[big]["payload_length"] == BIG_SIZE
    assert captures[big]["payload_digest"] == sha1_digest(big_body())
    assert seeds[big]["outcome"] == "archived"
    # The bomb is archived as it came, and its entry says why the spider never saw it.
    assert captures[bombed]["payload_length"] == len(bomb())
    assert seeds[bombed]["outcome"] == "failed"
    assert "decoded body larger than ARCHIVER_MAX_DECODED_SIZE" in seeds[bombed]["reason"]
    assert crawler.stats.get_value("archiver/decompression/over_limit") == 1


@deferred_f_from_coro_f
async def test_large_bodies_archived_while_files_rotate_name_their_own_file(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    # Records made in a thread for a file that was rotated meanwhile are made again.
    bodies = {n: random.Random(n).randbytes(600_000) for n in range(16)}
    for n, body in bodies.items():
        site.add(f"/rotating/{n}", lambda h, b=body: response("200 OK", [], b))
    site.add("/rotating/small/*", lambda h: response("200 OK", [], PAGE))
    urls = [site.url(f"/rotating/{n}") for n in bodies]
    # Small pages archived on the reactor meanwhile, each rotating a full file.
    urls += [site.url(f"/rotating/small/{n}") for n in range(60)]
    crawler = await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", *urls),
        ARCHIVER_WARC_MAX_SIZE=200_000,
        CONCURRENT_REQUESTS=16,
        CONCURRENT_REQUESTS_PER_DOMAIN=16,
        ARCHIVER_TEXT_ENABLED=False,
    )
    assert crawler.stats.get_value("finish_reason") == "finished"
    records = read_archive(archive_dir)
    warcinfo = {r.file: r.id for r in records if r.type == "warcinfo"}
    # Sixteen bodies in threads at once, files of 200 KB: some were made for a rotated file.
    assert crawler.stats.get_value("archiver/warc/made_again") > 0
    assert len(warcinfo) > 2
    assert all(
        r.header("WARC-Warcinfo-ID") == warcinfo[r.file] for r in records if r.type != "warcinfo"
    )
    payloads = {r.url: r.payload for r in records if r.type == "response"}
    assert all(payloads[site.url(f"/rotating/{n}")] == body for n, body in bodies.items())
    rows = index_rows(archive_dir, "SELECT url, warc_file, warc_offset FROM captures")
    located = {(r.url, Path(r.file).name, r.offset) for r in records}
    assert {(row["url"], row["warc_file"], row["warc_offset"]) for row in rows} <= located
    verified = verify_paths([archive_dir / "warc"])
    assert verified.ok, render_report(verified)


PEAK_RSS_PROBE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], capture_output=True).returncode\n"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def test_a_crawl_of_heavy_responses_keeps_memory_bounded(site: LocalSite, tmp_path: Path) -> None:
    big, bombed, _ = heavy_routes(site)
    urls = write_urls(tmp_path / "urls.txt", big, bombed, site.url("/page"))
    command = [sys.executable, "-m", "crawler.cli", "crawl", str(urls), "-o", "out", *FAST]
    command += ["-s", "ARCHIVER_TEXT_ENABLED=False"]
    probe = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_PROBE, *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    code, rss_kib = probe.stdout.split()
    peak = int(rss_kib) / 1024
    print(f"peak RSS of the crawl: {peak:.0f} MiB")
    assert peak < MAX_RSS_MIB
    assert code in ("0", "3")  # 3: an entry failed (the bomb)
    archive = tmp_path / "out"
    rows = index_rows(archive, "SELECT url, outcome, reason FROM seeds ORDER BY position")
    assert [row["outcome"] for row in rows] == ["archived", "failed", "archived"]


def decompression(**settings: Any) -> DecompressionMiddleware:
    crawler = get_crawler(Spider, project_settings_dict(**settings))
    return DecompressionMiddleware.from_crawler(crawler)


def zstandard_frames() -> bytes:
    """A page in a zstd frame, then empty frames."""
    from scrapy.utils._compression import zstd

    return zstd.compress(PAGE) + zstd.compress(b"") * 1_000


def gzipped(url: str, body: bytes) -> HtmlResponse:
    headers = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    return HtmlResponse(url, body=gzip.compress(body), headers=headers)


@pytest.mark.parametrize(
    ("settings", "meta", "named"),
    [
        ({"ARCHIVER_MAX_DECODED_SIZE": 1_000_000}, {}, "ARCHIVER_MAX_DECODED_SIZE (1000000 bytes"),
        ({"DOWNLOAD_MAXSIZE": 100_000}, {}, "DOWNLOAD_MAXSIZE (100000 bytes"),
        ({}, {"download_maxsize": 50_000}, "download_maxsize (50000 bytes"),
    ],
)
@deferred_f_from_coro_f
async def test_the_decoded_size_is_bounded_by_the_smallest_limit(
    settings: dict[str, int], meta: dict[str, int], named: str
) -> None:
    middleware = decompression(**settings)
    request = Request("http://example.com/bomb", meta=meta)
    with pytest.raises(IgnoreRequest, match=re.escape(f"decoded body larger than {named}")):
        await middleware.process_response(request, gzipped(request.url, bytes(2_000_000)))


@deferred_f_from_coro_f
async def test_bodies_decode_as_scrapy_decodes_them_on_the_reactor_or_in_a_thread() -> None:
    ours, scrapys = decompression(), HttpCompressionMiddleware.from_crawler(get_crawler(Spider))
    text = random.Random(1).choices(string.ascii_letters + " ", k=REACTOR_DECODE_BUDGET + 1)
    # A small page, decoded on the reactor; one past the budget, decoded again in a thread.
    for body, in_thread in ((PAGE, None), ("".join(text).encode(), 1)):
        request = Request("http://example.com/page")
        decoded = await ours.process_response(request, gzipped(request.url, body))
        expected = scrapys.process_response(request, gzipped(request.url, body))
        assert isinstance(decoded, HtmlResponse) and isinstance(expected, HtmlResponse)
        assert decoded.body == expected.body == body
        assert decoded.headers == expected.headers
        assert ours.crawler.stats.get_value("archiver/decompression/in_thread") == in_thread


@pytest.mark.parametrize(
    ("coded", "encoding"),
    [
        # Many empty members: seconds of work for nothing decoded, however small the output.
        (gzip.compress(b"<p>x</p>") + gzip.compress(b"") * 20_000, "gzip"),
        (zstandard_frames(), "zstd"),
        (gzip.compress(gzip.compress(PAGE)), "gzip, gzip"),
    ],
    ids=["gzip-members", "zstd", "twice"],
)
@deferred_f_from_coro_f
async def test_bodies_costly_for_their_size_are_decoded_in_a_thread(
    coded: bytes, encoding: str
) -> None:
    middleware = decompression()
    request = Request("http://example.com/page")
    headers = {"Content-Type": "text/html", "Content-Encoding": encoding}
    response = HtmlResponse(request.url, body=coded, headers=headers)
    decoded = await middleware.process_response(request, response)
    assert isinstance(decoded, HtmlResponse)
    assert decoded.body.startswith(b"<")
    assert middleware.crawler.stats.get_value("archiver/decompression/in_thread") == 1


def test_a_decoded_size_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ARCHIVER_MAX_DECODED_SIZE must be a positive"):
        decompression(ARCHIVER_MAX_DECODED_SIZE=0)


@deferred_f_from_coro_f
async def test_responses_a_middleware_made_up_are_not_archived(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    # The second crawl gets its pages from Scrapy's HTTP cache: nothing was downloaded.
    urls = write_urls(tmp_path / "urls.txt", site.url("/page"))
    cache = {"HTTPCACHE_ENABLED": True, "HTTPCACHE_DIR": str(tmp_path / "cache")}
    first = await run_crawl(archive_dir, urls, **cache)
    assert first.stats.get_value("archiver/warc/responses") == 2  # robots.txt and the page
    second = await run_crawl(archive_dir, urls, **cache)
    assert second.stats.get_value("archiver/warc/responses") is None
    assert second.stats.get_value("archiver/guard/not_archived") == 2
    rows = index_rows(archive_dir, "SELECT outcome, reason FROM seeds ORDER BY crawl_id")
    assert [row["outcome"] for row in rows] == ["archived", "failed"]
    assert rows[1]["reason"].startswith("response not archived")
