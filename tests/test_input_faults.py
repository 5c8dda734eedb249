"""Every input line ends with an outcome and a reason, whatever drops it; bad input is handled.

Real crawls of the local site: a URL over Scrapy's URLLENGTH_LIMIT, components
of the user's that drop an entry (a spider middleware, the scheduler's dupe
filter, item pipelines), credentials in a URL, a corpus folder with a FIFO and
a document that is not UTF-8, and a closed standard input.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import os
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware
from scrapy.utils.defer import deferred_f_from_coro_f

from crawler import settings as project_settings
from crawler.archive import SEED_URI_PREFIX
from crawler.extensions.ledger import (
    LOST_REASON,
    PIPELINE_DROP,
    PIPELINE_ERROR,
    SCHEDULER_REASON,
)
from crawler.inputs import CREDENTIALS_SENT
from crawler.items import Page, SeedOutcome
from crawler.meta import SEED_META
from crawler.text.document import Document, render
from tests.conftest import FAST, archiver, index_rows, run_crawl, write_urls
from tests.server import PAGE, response
from tests.warc_reading import read_archive

if TYPE_CHECKING:
    from pathlib import Path

    import pytest
    from scrapy import Request
    from scrapy.http import Response

    from tests.server import LocalSite

DROP_MARK = "drop-me"


class DropMarked(BaseSpiderMiddleware):
    """A user's spider middleware that silently drops the entries marked ``drop-me``."""

    def get_processed_request(self, request: Request, response: Response | None) -> Request | None:
        return None if DROP_MARK in request.url else request

    def get_processed_item(self, item: Any, response: Response | None) -> Any:
        if isinstance(item, SeedOutcome) and DROP_MARK in str(getattr(item.seed, "text", "")):
            return None
        return item


class LetTheSchedulerFilter(BaseSpiderMiddleware):
    """A user's spider middleware that puts the seeds under Scrapy's duplicate filter."""

    def get_processed_request(self, request: Request, response: Response | None) -> Request | None:
        return request.replace(dont_filter=False) if SEED_META in request.meta else request


class PickyPipeline:
    """A user's item pipeline, before the archiver's: drops one page, fails on another."""

    def process_item(self, item: Any) -> Any:
        if isinstance(item, Page) and "unwanted" in item.url:
            raise DropItem("not wanted here")
        if isinstance(item, SeedOutcome) and "/missing" in (item.url or ""):
            raise ValueError("boom")
        return item


def seeds_by_line(archive_dir: Path) -> dict[int, Any]:
    return {row["line"]: row for row in index_rows(archive_dir, "SELECT * FROM seeds")}


@deferred_f_from_coro_f
async def test_a_url_over_urllength_limit_is_invalid(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    long_url = site.url("/query?q=")
    long_url += "a" * (3000 - len(long_url))
    urls = write_urls(tmp_path / "urls.txt", long_url, site.url("/page"))
    crawler = await run_crawl(archive_dir, urls)
    seeds = seeds_by_line(archive_dir)
    assert (seeds[1]["outcome"], seeds[1]["reason"]) == (
        "invalid",
        "URL of 3000 characters, longer than URLLENGTH_LIMIT (2083)",
    )
    assert seeds[2]["outcome"] == "archived"
    assert crawler.stats.get_value("archiver/input/lost") is None
    # With the limit raised, the same URL is fetched.
    again = tmp_path / "again"
    await run_crawl(again, urls, URLLENGTH_LIMIT=4000)
    assert [row["outcome"] for row in seeds_by_line(again).values()] == ["archived", "archived"]


@deferred_f_from_coro_f
async def test_entries_a_spider_middleware_drops_silently_get_an_outcome(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    urls = write_urls(
        tmp_path / "urls.txt",
        site.url(f"/page?{DROP_MARK}"),
        f"ftp://example.com/{DROP_MARK}",
        site.url("/page"),
    )
    middlewares = {**project_settings.SPIDER_MIDDLEWARES, f"{__name__}.DropMarked": 500}
    crawler = await run_crawl(archive_dir, urls, SPIDER_MIDDLEWARES=middlewares)
    seeds = seeds_by_line(archive_dir)
    assert (seeds[1]["outcome"], seeds[1]["reason"]) == ("dropped", LOST_REASON)
    assert seeds[1]["url"] == site.url(f"/page?{DROP_MARK}")
    assert (seeds[2]["outcome"], seeds[2]["reason"]) == (
        "dropped",
        f"{LOST_REASON} (was invalid: unsupported scheme 'ftp' (only http and https))",
    )
    assert seeds[3]["outcome"] == "archived"
    assert crawler.stats.get_value("archiver/input/lost") == 2
    assert crawler.stats.get_value("finish_reason") == "finished"
    # Recorded like any other outcome: in the WARC as a seed record too.
    seed_records = [
        json.loads(r.payload)
        for r in read_archive(archive_dir)
        if (r.url or "").startswith(SEED_URI_PREFIX)
    ]
    assert sorted(r["line"] for r in seed_records if r["outcome"] == "dropped") == [1, 2]


@deferred_f_from_coro_f
async def test_a_seed_the_scheduler_filters_is_dropped_with_its_reason(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    # Different lines to the input, the same request to Scrapy's fingerprint.
    urls = write_urls(tmp_path / "urls.txt", site.url("/query?a=1&b=2"), site.url("/query?b=2&a=1"))
    middlewares = {**project_settings.SPIDER_MIDDLEWARES, f"{__name__}.LetTheSchedulerFilter": 500}
    await run_crawl(archive_dir, urls, SPIDER_MIDDLEWARES=middlewares)
    seeds = seeds_by_line(archive_dir)
    assert seeds[1]["outcome"] == "archived"
    assert (seeds[2]["outcome"], seeds[2]["reason"]) == ("dropped", SCHEDULER_REASON)


@deferred_f_from_coro_f
async def test_items_a_user_pipeline_drops_or_fails_on_get_an_outcome(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    unwanted = site.add(
        "/unwanted", lambda h: response("200 OK", [("Content-Type", "text/html")], PAGE)
    )
    urls = write_urls(tmp_path / "urls.txt", unwanted, site.url("/missing"), site.url("/page"))
    pipelines = {**project_settings.ITEM_PIPELINES, f"{__name__}.PickyPipeline": 300}
    await run_crawl(archive_dir, urls, ITEM_PIPELINES=pipelines)
    seeds = seeds_by_line(archive_dir)
    assert (seeds[1]["outcome"], seeds[1]["reason"]) == (
        "dropped",
        f"{PIPELINE_DROP}: not wanted here",
    )
    # The page itself was archived before the pipeline dropped its item: the row says where.
    assert seeds[1]["capture_id"] is not None
    assert seeds[1]["final_url"] == unwanted
    assert (seeds[2]["outcome"], seeds[2]["reason"]) == (
        "dropped",
        f"{PIPELINE_ERROR}: ValueError: boom (was failed: HTTP 404 Not Here)",
    )
    assert seeds[3]["outcome"] == "archived"


@deferred_f_from_coro_f
async def test_credentials_are_sent_but_never_archived_nor_logged(
    site: LocalSite, tmp_path: Path, archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "s3cr3t-Pa55"
    token = base64.b64encode(f"archivist:{password}".encode()).decode()
    html = [("Content-Type", "text/html")]
    site.add("/auth/page", lambda h: response("200 OK", html, PAGE))
    other = site.base.replace("127.0.0.1", "localhost")
    site.add(
        "/auth/away", lambda h: response("302 Found", [("Location", f"{other}/auth/landed")], b"")
    )
    site.add("/auth/landed", lambda h: response("200 OK", html, PAGE))
    authorized = site.base.replace("http://", f"http://archivist:{password}@")
    urls = write_urls(tmp_path / "urls.txt", f"{authorized}/auth/page", f"{authorized}/auth/away")
    await run_crawl(archive_dir, urls, LOG_LEVEL="DEBUG")

    seen = {path: headers for path, headers in site.requests if path.startswith("/auth/")}
    assert seen["/auth/page"]["authorization"] == [f"Basic {token}"]
    assert seen["/auth/away"]["authorization"] == [f"Basic {token}"]
    # Not sent on to another host.
    assert "authorization" not in seen["/auth/landed"]

    seeds = seeds_by_line(archive_dir)
    assert seeds[1]["url"] == site.url("/auth/page")
    assert seeds[1]["outcome"] == "archived"
    assert CREDENTIALS_SENT in seeds[1]["reason"]
    assert seeds[2]["final_url"] == f"{other}/auth/landed"

    requests = [
        r for r in read_archive(archive_dir) if r.type == "request" and "/auth/" in (r.url or "")
    ]
    assert requests and all(password not in (r.url or "") for r in requests)
    page_request = next(r for r in requests if r.url == site.url("/auth/page"))
    assert page_request.http_headers("Authorization") == ["Basic [redacted]"]

    for secret in (password, token):
        for path in archive_dir.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if path.name.endswith(".gz"):
                    data = gzip.decompress(data)
                assert secret.encode() not in data, path
        assert secret not in caplog.text


def test_a_corpus_folder_with_a_fifo_and_a_document_not_in_utf8(
    site: LocalSite, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(
        render(Document(title="A", paragraphs=["Text."], url=site.url("/page")))
    )
    os.mkfifo(corpus / "b.txt")
    latin1 = render(Document(title="C", paragraphs=["Text."], url=site.url("/query?q=caf\u00e9")))
    (corpus / "c.txt").write_bytes(latin1.encode("latin-1"))
    # A hang would be caught by the subprocess timeout, and fail the test.
    result = archiver("crawl", str(corpus), *FAST, cwd=tmp_path)
    # 3 where exit codes tell failed entries apart (the two invalid documents), else 0.
    assert result.returncode in (0, 3), result.stderr
    seeds = {r["document"]: r for r in index_rows(tmp_path / "archives", "SELECT * FROM seeds")}
    assert seeds["a.txt"]["outcome"] == "archived"
    assert (seeds["b.txt"]["outcome"], seeds["b.txt"]["reason"]) == (
        "invalid",
        "not a regular file: a named pipe (FIFO)",
    )
    at = len(site.url("/query?q=caf"))
    assert (seeds["c.txt"]["outcome"], seeds["c.txt"]["reason"]) == (
        "invalid",
        f"not UTF-8 text: 0xE9 at offset {at} of the URL",
    )
    assert seeds["c.txt"]["url"] == site.url("/query?q=caf\ufffd")
    # The wrong page was not fetched in its place.
    assert not any("/query" in path for path, _ in site.requests if "caf" in path)


def test_closed_standard_input_is_a_usage_error(tmp_path: Path) -> None:
    result = archiver("crawl", "-", cwd=tmp_path, preexec_fn=lambda: os.close(0))
    assert result.returncode == 2
    assert result.stderr == (
        "error: cannot read standard input: it is closed (give a URL list, or pipe one in)\n"
    )
    assert list(tmp_path.iterdir()) == []
