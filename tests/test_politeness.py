"""Crawl-delay and Retry-After are honoured per host, timed from the server's own log."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING

import pytest
from scrapy.core.downloader import Slot
from scrapy.utils.defer import deferred_f_from_coro_f

from crawler.politeness import floor_slot_delay, http_date, retry_after_seconds
from tests.conftest import index_rows, run_crawl, write_urls
from tests.server import PAGE, ROUTES, Handler, LocalSite, Route, response
from tests.warc_reading import read_archive

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: Server-side arrival times can be this much closer than the crawler's send times
#: (a new connection against a reused one).
SLACK = 0.05
HTML = [("Content-Type", "text/html; charset=utf-8")]


class TimedSite(LocalSite):
    """A site of its own (its own robots.txt) that logs when each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[str, float]] = []
        self._arrival_lock = threading.Lock()

    def log_request_line(self, handler: Handler) -> None:
        with self._arrival_lock:
            self.arrivals.append((handler.path, time.monotonic()))
        super().log_request_line(handler)

    def times(self, path: str) -> list[float]:
        return [t for p, t in self.arrivals if p == path]


@pytest.fixture(scope="module")
def timed_server() -> Iterator[TimedSite]:
    server = TimedSite()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def timed(timed_server: TimedSite) -> TimedSite:
    """The module's site with its routes and log as new: each crawl reads robots.txt anew."""
    timed_server.routes = dict(ROUTES)
    timed_server.arrivals.clear()
    return timed_server


def robots(text: str) -> Route:
    return lambda h: response("200 OK", [("Content-Type", "text/plain")], text.encode())


def page(h: Handler) -> bytes:
    return response("200 OK", HTML, PAGE)


def first_then_page(first: bytes) -> Route:
    """``first`` on the first request, the page on every later one."""
    calls: list[None] = []

    def route(h: Handler) -> bytes:
        calls.append(None)
        return first if len(calls) == 1 else page(h)

    return route


def crawl_stats(archive_dir: Path) -> dict[str, object]:
    (row,) = index_rows(archive_dir, "SELECT stats FROM crawls")
    stats: dict[str, object] = json.loads(row["stats"])
    return stats


def seeds(archive_dir: Path) -> dict[str, tuple[str, str | None]]:
    rows = index_rows(archive_dir, "SELECT url, outcome, reason FROM seeds")
    return {r["url"]: (r["outcome"], r["reason"]) for r in rows}


# -- Crawl-delay ---------------------------------------------------------------------


@pytest.mark.parametrize("autothrottle", [False, True], ids=["fixed", "autothrottle"])
@deferred_f_from_coro_f
async def test_crawl_delay_spaces_requests_to_the_host(
    timed: TimedSite, tmp_path: Path, archive_dir: Path, autothrottle: bool
) -> None:
    timed.add("/robots.txt", robots("User-agent: *\nCrawl-delay: 1\n"))
    urls = [timed.add(f"/cd/{n}", page) for n in range(3)]
    crawler = await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", *urls),
        DOWNLOAD_DELAY=0,
        AUTOTHROTTLE_ENABLED=autothrottle,
        # AutoThrottle lowers a fast host's delay towards DOWNLOAD_DELAY (0) after each response.
        AUTOTHROTTLE_START_DELAY=0.1,
    )
    arrivals = [t for _, t in timed.arrivals]
    assert timed.arrivals[0][0] == "/robots.txt"
    assert len(arrivals) == 4
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 1 - SLACK, gaps
    host = timed.base.removeprefix("http://")
    assert crawler.stats.get_value(f"archiver/politeness/crawl_delay/{host}") == 1.0
    assert crawl_stats(archive_dir)[f"archiver/politeness/crawl_delay/{host}"] == 1.0
    assert {outcome for outcome, _ in seeds(archive_dir).values()} == {"archived"}


@deferred_f_from_coro_f
async def test_crawl_delay_is_capped(
    timed: TimedSite, tmp_path: Path, archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    timed.add("/robots.txt", robots("User-agent: archiver\nCrawl-delay: 3600\n"))
    urls = [timed.add(f"/cap/{n}", page) for n in range(2)]
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        crawler = await run_crawl(
            archive_dir, write_urls(tmp_path / "urls.txt", *urls), ARCHIVER_MAX_CRAWL_DELAY=0.5
        )
    assert time.monotonic() - started < 30
    arrivals = [t for _, t in timed.arrivals]
    assert len(arrivals) == 3
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 0.5 - SLACK
    host = timed.base.removeprefix("http://")
    assert crawler.stats.get_value(f"archiver/politeness/crawl_delay/{host}") == 0.5
    assert crawler.stats.get_value("archiver/politeness/crawl_delay_capped") == 1
    assert "Crawl-delay of 3600 s" in caplog.text
    assert "ARCHIVER_MAX_CRAWL_DELAY" in caplog.text


# -- Retry-After ---------------------------------------------------------------------


@deferred_f_from_coro_f
async def test_retry_after_holds_the_host_then_retries(
    timed: TimedSite, tmp_path: Path, archive_dir: Path
) -> None:
    busy = response("503 Service Unavailable", [("Retry-After", "2")], b"busy\n")
    target = timed.add("/ra/page", first_then_page(busy))
    others = [timed.add(f"/ra/other/{n}", page) for n in range(2)]
    crawler = await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", target, *others),
        DOWNLOAD_DELAY=0.3,
        DOWNLOAD_DELAY_JITTER=0,
        CONCURRENT_REQUESTS_PER_DOMAIN=1,
        RETRY_ENABLED=True,
    )
    first, second = timed.times("/ra/page")
    assert second - first >= 2
    # Nothing else went to the host during the hold either, and something was held.
    after = [t for p, t in timed.arrivals if t > first]
    assert len(after) == 3
    assert min(after) - first >= 2

    statuses = [
        r.first_line for r in read_archive(archive_dir) if r.type == "response" and r.url == target
    ]
    assert statuses == ["HTTP/1.1 503 Service Unavailable", "HTTP/1.1 200 OK"]
    assert seeds(archive_dir)[target][0] == "archived"
    assert crawler.stats.get_value("archiver/politeness/retry_after/count") == 1
    assert crawler.stats.get_value("archiver/politeness/retry_after/max_seconds") == 2
    assert crawler.stats.get_value("retry/count") == 1


@deferred_f_from_coro_f
async def test_retry_after_date_is_read_on_the_servers_clock(
    timed: TimedSite, tmp_path: Path, archive_dir: Path
) -> None:
    # The server's clock is an hour behind ours: on our clock its date is long past, on its
    # own it is 2 seconds after its Date header.
    server_now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    headers = [
        ("Date", format_datetime(server_now, usegmt=True)),
        ("Retry-After", format_datetime(server_now + timedelta(seconds=2), usegmt=True)),
    ]
    target = timed.add("/date", first_then_page(response("429 Too Many Requests", headers, b"")))
    crawler = await run_crawl(
        archive_dir, write_urls(tmp_path / "urls.txt", target), RETRY_ENABLED=True
    )
    first, second = timed.times("/date")
    assert second - first >= 2
    assert seeds(archive_dir)[target][0] == "archived"
    assert crawler.stats.get_value("archiver/politeness/retry_after/count") == 1


@deferred_f_from_coro_f
async def test_retry_after_over_the_cap_fails_the_seed(
    timed: TimedSite, tmp_path: Path, archive_dir: Path
) -> None:
    busy = response("503 Service Unavailable", [("Retry-After", "3600")], b"come back later\n")
    target = timed.add("/later", lambda h: busy)
    started = time.monotonic()
    crawler = await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", target),
        RETRY_ENABLED=True,
        ARCHIVER_MAX_RETRY_AFTER=5,
    )
    assert time.monotonic() - started < 5
    assert len(timed.times("/later")) == 1  # not retried at once against the server's wish
    outcome, reason = seeds(archive_dir)[target]
    assert outcome == "failed"
    assert reason == (
        "HTTP 503 with Retry-After 3600 s, over ARCHIVER_MAX_RETRY_AFTER (5 s): not retried"
    )
    assert crawler.stats.get_value("archiver/politeness/retry_after/over_cap") == 1
    assert [r.url for r in read_archive(archive_dir) if r.type == "response"][-1] == target
    (row,) = index_rows(archive_dir, "SELECT capture_id FROM seeds")
    assert row["capture_id"] is not None  # the 503 that said so is the seed's capture


@deferred_f_from_coro_f
async def test_retry_after_counts_against_retry_times(
    timed: TimedSite, tmp_path: Path, archive_dir: Path
) -> None:
    busy = response("503 Service Unavailable", [("Retry-After", "1")], b"busy\n")
    target = timed.add("/busy", lambda h: busy)
    await run_crawl(
        archive_dir, write_urls(tmp_path / "urls.txt", target), RETRY_ENABLED=True, RETRY_TIMES=1
    )
    first, second = timed.times("/busy")
    assert second - first >= 1
    assert seeds(archive_dir)[target] == ("failed", "HTTP 503 Service Unavailable")


# -- the rules, without a crawl --------------------------------------------------------

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "server_date", "expected"),
    [
        ("120", None, 120.0),
        (b" 0 ", None, 0.0),
        ("Mon, 30 Nov 2026 12:00:30 GMT", None, 30.0),
        ("Monday, 30-Nov-26 12:01:00 GMT", None, 60.0),  # RFC 850
        ("Mon Nov 30 12:00:05 2026", None, 5.0),  # asctime, no zone: GMT
        ("Mon, 30 Nov 2026 11:00:00 GMT", None, 0.0),  # in the past
        ("Mon, 30 Nov 2026 12:00:30 GMT", "Mon, 30 Nov 2026 12:00:20 GMT", 10.0),
        ("Mon, 30 Nov 2026 12:00:30 GMT", "not a date", 30.0),
        ("soon", None, None),
        ("", None, None),
        ("12abc", None, None),
        ("1e999", None, None),
    ],
)
def test_retry_after_seconds(
    value: str | bytes, server_date: str | None, expected: float | None
) -> None:
    assert retry_after_seconds(value, now=NOW, server_date=server_date) == expected


def test_http_date_is_utc() -> None:
    assert http_date("Mon, 30 Nov 2026 13:00:00 +0100") == NOW
    assert http_date("yesterday") is None


@pytest.mark.parametrize(
    ("delay", "jitter", "floor", "expected"),
    [
        (0.0, 0.5, 1.0, (1.0, 0.0)),  # raised to the floor, no room to jitter below it
        (4.0, 0.5, 1.0, (4.0, 0.5)),  # far above the floor: jitter as configured
        (1.5, 0.5, 1.0, (1.5, 1 / 3)),  # 1.5 * (1 - 1/3) == 1.0
    ],
)
def test_floor_slot_delay(
    delay: float, jitter: float, floor: float, expected: tuple[float, float]
) -> None:
    slot = Slot(concurrency=1, delay=delay, jitter=jitter)
    floor_slot_delay(slot, floor, jitter)
    assert (slot.delay, slot.jitter) == pytest.approx(expected)
    assert min(slot.download_delay() for _ in range(200)) >= floor - 1e-9
