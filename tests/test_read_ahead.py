"""The spider reads at most ARCHIVER_START_AHEAD input entries ahead of their outcomes.

Real crawls of the local site with a small read-ahead: every entry still ends
with its outcome (pages, redirects, robots.txt refusals, HTTP errors, invalid
lines, duplicates, entries a component drops with or without a word), and the
stat of the most entries in flight at once never exceeds the limit. Entries
that a spider middleware drops silently take room until the crawl finds them
lost; the spider does not wait for them forever.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.utils.defer import deferred_f_from_coro_f

from crawler import settings as project_settings
from crawler.extensions.ledger import AHEAD_STAT, LOST_REASON, SCHEDULER_REASON
from tests.conftest import index_rows, run_crawl, write_urls
from tests.test_input_faults import DROP_MARK, seeds_by_line

if TYPE_CHECKING:
    from pathlib import Path

    from tests.server import LocalSite


def outcomes(archive_dir: Path) -> dict[int, str]:
    return {line: row["outcome"] for line, row in seeds_by_line(archive_dir).items()}


@deferred_f_from_coro_f
async def test_every_entry_ends_with_at_most_the_limit_in_flight(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    pages = [site.url(f"/page?ahead={n}") for n in range(12)]
    lines = [
        *pages[:4],
        site.url("/redirect/1"),
        site.url("/private/secret"),  # refused by robots.txt
        site.url("/missing"),
        "not a url",
        pages[0],  # a duplicate
        *pages[4:],
    ]
    urls = write_urls(tmp_path / "urls.txt", *lines)
    crawler = await run_crawl(archive_dir, urls, ARCHIVER_START_AHEAD=3)
    found = outcomes(archive_dir)
    assert sorted(found) == list(range(1, len(lines) + 1))
    assert [found[n] for n in (5, 6, 7, 8, 9)] == [
        "archived",
        "forbidden",
        "failed",
        "invalid",
        "duplicate",
    ]
    assert {found[n] for n in (*range(1, 5), *range(10, len(lines) + 1))} == {"archived"}
    # The pages were read ahead up to the limit, never beyond.
    assert crawler.stats.get_value(AHEAD_STAT) == 3
    assert crawler.stats.get_value("archiver/input/lost") is None


@deferred_f_from_coro_f
async def test_the_default_limit_bounds_a_crawl_too(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    lines = [site.url(f"/page?default={n}") for n in range(5)]
    crawler = await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", *lines))
    assert set(outcomes(archive_dir).values()) == {"archived"}
    limit = project_settings.ARCHIVER_START_AHEAD
    assert 1 <= crawler.stats.get_value(AHEAD_STAT) <= min(limit, len(lines))


@deferred_f_from_coro_f
async def test_entries_dropped_silently_do_not_keep_their_room(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    # More silent drops than room: the spider waits for room they never give back,
    # until the crawl, with nothing else in flight, finds them lost.
    dropped = [site.url(f"/page?{DROP_MARK}={n}") for n in range(5)]
    kept = [site.url(f"/page?kept={n}") for n in range(3)]
    urls = write_urls(tmp_path / "urls.txt", *dropped, f"ftp://example.com/{DROP_MARK}", *kept)
    middlewares = {
        **project_settings.SPIDER_MIDDLEWARES,
        "tests.test_input_faults.DropMarked": 500,
    }
    crawler = await run_crawl(
        archive_dir, urls, ARCHIVER_START_AHEAD=2, SPIDER_MIDDLEWARES=middlewares
    )
    seeds = seeds_by_line(archive_dir)
    assert [(seeds[n]["outcome"], seeds[n]["reason"]) for n in range(1, 6)] == [
        ("dropped", LOST_REASON)
    ] * 5
    assert seeds[6]["outcome"] == "dropped"
    assert seeds[6]["reason"].startswith(LOST_REASON)
    assert [seeds[n]["outcome"] for n in (7, 8, 9)] == ["archived"] * 3
    assert crawler.stats.get_value("archiver/input/lost") == 6
    assert crawler.stats.get_value(AHEAD_STAT) == 2
    # Each entry has one outcome, recorded once.
    (count,) = index_rows(archive_dir, "SELECT COUNT(*) AS n FROM seeds")
    assert count["n"] == 9


@deferred_f_from_coro_f
async def test_entries_the_scheduler_drops_settle_at_once(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    # The same request for Scrapy's fingerprint, many times over, one entry of room.
    lines = [site.url("/query?a=1&b=2"), *[site.url("/query?b=2&a=1")] * 4]
    urls = write_urls(tmp_path / "urls.txt", *lines)
    middlewares = {
        **project_settings.SPIDER_MIDDLEWARES,
        "tests.test_input_faults.LetTheSchedulerFilter": 500,
    }
    crawler = await run_crawl(
        archive_dir, urls, ARCHIVER_START_AHEAD=1, SPIDER_MIDDLEWARES=middlewares
    )
    seeds = seeds_by_line(archive_dir)
    assert seeds[1]["outcome"] == "archived"
    # The input's own duplicate check sees one repeated line; the scheduler none of them.
    assert {seeds[n]["outcome"] for n in range(3, 6)} == {"duplicate"}
    assert (seeds[2]["outcome"], seeds[2]["reason"]) == ("dropped", SCHEDULER_REASON)
    assert crawler.stats.get_value(AHEAD_STAT) == 1
