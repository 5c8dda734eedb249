"""robots.txt: read up to a size limit, and a failed fetch told in one line."""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f

from crawler.downloadermiddlewares.robotstxt import robots_prefix
from tests.conftest import index_rows, run_crawl, write_urls
from tests.server import PAGE, LocalSite, response
from tests.warc_reading import read_archive

if TYPE_CHECKING:
    from pathlib import Path

HTML = [("Content-Type", "text/html; charset=utf-8")]
LIMIT = 50_000
#: A robots.txt far over LIMIT: a rule at its start, filler, and a rule past the limit.
BIG_ROBOTS = (
    b"User-agent: *\nDisallow: /early/\n"
    + b"".join(b"Disallow: /filler/%d/\n" % n for n in range(100_000))
    + b"Disallow: /late/\n"
)


def seeds(archive_dir: Path) -> dict[str, tuple[str, str | None]]:
    rows = index_rows(archive_dir, "SELECT url, outcome, reason FROM seeds")
    return {r["url"]: (r["outcome"], r["reason"]) for r in rows}


@pytest.fixture
def own_site() -> LocalSite:
    """A site of its own: its robots.txt is fetched anew by each crawl."""
    server = LocalSite().start()
    yield server  # type: ignore[misc]
    server.stop()


@deferred_f_from_coro_f
async def test_a_large_robots_txt_is_read_up_to_the_limit(
    own_site: LocalSite,
    tmp_path: Path,
    archive_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert len(BIG_ROBOTS) > 20 * LIMIT
    own_site.add(
        "/robots.txt", lambda h: response("200 OK", [("Content-Type", "text/plain")], BIG_ROBOTS)
    )
    early = own_site.add("/early/page", lambda h: response("200 OK", HTML, PAGE))
    late = own_site.add("/late/page", lambda h: response("200 OK", HTML, PAGE))
    with caplog.at_level(logging.INFO):
        crawler = await run_crawl(
            archive_dir,
            write_urls(tmp_path / "urls.txt", early, late),
            ARCHIVER_ROBOTSTXT_MAX_SIZE=LIMIT,
        )
    found = seeds(archive_dir)
    # The rule within the limit is obeyed; the one past it was never read.
    assert found[early][0] == "forbidden"
    assert found[late][0] == "archived"
    assert crawler.stats.get_value("archiver/robotstxt/cut") == 1
    host = own_site.base.removeprefix("http://")
    assert (
        f"robots.txt of {host} is larger than {LIMIT} bytes: only its first "
        f"{len(robots_prefix(BIG_ROBOTS, LIMIT))} bytes are read (ARCHIVER_ROBOTSTXT_MAX_SIZE)"
    ) in caplog.messages
    # The download stopped soon after the limit; the archive holds what was received.
    (record,) = [
        r
        for r in read_archive(archive_dir)
        if r.type == "response" and r.url == own_site.url("/robots.txt")
    ]
    assert LIMIT < len(record.payload) < len(BIG_ROBOTS) // 4
    assert BIG_ROBOTS.startswith(record.payload)
    assert record.header("WARC-Truncated") == "length"


def test_robots_prefix_keeps_whole_lines() -> None:
    body = b"User-agent: *\nDisallow: /a\nDisallow: /abcdef\n"
    assert robots_prefix(body, len(body)) == body
    assert robots_prefix(body, 30) == b"User-agent: *\nDisallow: /a\n"
    assert robots_prefix(b"User-agent: *\r\nDisallow: /a", 20) == b"User-agent: *\r\n"
    assert robots_prefix(b"x" * 100, 10) == b""


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@deferred_f_from_coro_f
async def test_a_robots_txt_that_cannot_be_fetched_is_one_line(
    tmp_path: Path, archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    host = f"127.0.0.1:{closed_port()}"
    url = f"http://{host}/page"
    with caplog.at_level(logging.INFO):
        crawler = await run_crawl(
            archive_dir,
            write_urls(tmp_path / "urls.txt", url),
            RETRY_ENABLED=True,
            RETRY_TIMES=1,
        )
    (line,) = [r for r in caplog.records if "robots.txt of" in r.getMessage()]
    assert line.levelname == "WARNING"
    message = line.getMessage()
    assert message.startswith(f"robots.txt of {host} could not be fetched (connection refused")
    assert message.endswith("): all its URLs are allowed")
    assert not [r for r in caplog.records if r.exc_info], "a traceback in the log means a bug"
    assert crawler.stats.get_value("archiver/robotstxt/failed") == 1
    # Both attempts at robots.txt are archived as failed fetches, and the page was tried.
    failures = [r for r in read_archive(archive_dir) if r.type == "metadata"]
    assert [r.url for r in failures].count(f"http://{host}/robots.txt") == 2
    assert seeds(archive_dir)[url][0] == "failed"
