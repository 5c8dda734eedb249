"""The end report of a crawl, in the log and as JSON, and the quiet start and end."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f

from crawler.extensions.report import WRITE_ERRORS_STAT
from crawler.layout import Layout
from crawler.report import GROUPS_SHOWN, IndexFacts, build_report, render_report
from tests.conftest import FAST, archiver, index_rows, run_crawl, write_urls
from tests.server import LocalSite, response, slow

SLOW_PAGE = response("200 OK", [("Content-Type", "text/html")], b"<p>slow</p>")


def report_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The lines of the report the crawl logged, at INFO, once."""
    (record,) = [
        r
        for r in caplog.records
        if r.name == "crawler.extensions.report" and r.levelno == logging.INFO
    ]
    return record.getMessage().splitlines()


@deferred_f_from_coro_f
async def test_the_report_names_outcomes_failures_paths_and_exit_code(
    site: LocalSite, tmp_path: Path, archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = [site.url(f"/missing?report={i}") for i in range(4)]
    listing = write_urls(
        tmp_path / "urls.txt",
        site.url("/page"),
        *missing,
        site.url("/private/secret"),  # robots.txt forbids it
        "not a url",
        site.url("/page#again"),  # a duplicate
    )
    caplog.set_level(logging.INFO)
    await run_crawl(archive_dir, listing)
    layout = Layout(archive_dir)
    report = json.loads(layout.crawl_report(1).read_text())
    assert json.loads(layout.latest_report.read_text()) == report
    assert report["crawl"] == 1 and report["finish_reason"] == "finished"
    assert report["input"] == str(listing)
    assert report["entries"] == {"done": 8, "total": 8, "resume_skipped": 0}
    outcomes = {name: n for name, n in report["outcomes"].items() if n}
    assert outcomes == {"archived": 1, "failed": 4, "forbidden": 1, "invalid": 1, "duplicate": 1}
    assert report["changes"]["new"] == 1 and report["changes"]["failed"] == 6
    groups = report["failures"]["groups"]
    assert report["failures"]["count"] == 6
    # Most common first, at most three example URLs each, in input order.
    assert groups == [
        {"reason": "HTTP 404 Not Here", "count": 4, "examples": missing[:3]},
        {"reason": "Forbidden by robots.txt", "count": 1,
         "examples": [site.url("/private/secret")]},
        {"reason": "contains spaces or control characters", "count": 1,
         "examples": ["not a url"]},
    ]  # fmt: skip
    paths = report["paths"]
    assert paths["archive"] == str(archive_dir)
    assert paths["index"] == str(archive_dir / "index.sqlite")
    assert paths["text_dir"] == str(archive_dir / "text") and paths["text_files_written"] == 1
    (warc,) = paths["warc_files"]
    assert report["throughput"]["bytes_archived"] == (archive_dir / "warc" / warc).stat().st_size
    assert report["throughput"]["pages"] == 6  # robots.txt, the page, four 404s
    assert report["exit_code"] == 3
    assert report["exit_reason"] == (
        "some input entries were not archived (4 failed, 1 forbidden, 1 invalid)"
    )

    lines = report_lines(caplog)
    assert lines[0].startswith("Crawl 1 finished in ")
    assert "8 entries (" in lines[0] and "6 pages" in lines[0]
    assert "  Outcomes: 1 archived, 4 failed, 1 forbidden, 1 invalid, 1 duplicate" in lines
    assert "  Crawl-end counts: 1 new, 0 changed, 0 unchanged, 6 failed, 0 not due" in lines
    assert f"    HTTP 404 Not Here (4): {', '.join(missing[:3])}" in lines
    assert f"    Forbidden by robots.txt (1): {site.url('/private/secret')}" in lines
    assert f"  WARC files: {archive_dir / 'warc'} (1 with this crawl's captures: {warc})" in lines
    assert f"  This report: {layout.crawl_report(1)}" in lines
    assert lines[-1] == (
        "  Exits with code 3: some input entries were not archived "
        "(4 failed, 1 forbidden, 1 invalid)"
    )


@deferred_f_from_coro_f
async def test_a_report_that_cannot_be_written_is_a_warning(
    site: LocalSite, tmp_path: Path, archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    listing = write_urls(tmp_path / "urls.txt", site.url("/page"))
    archive_dir.mkdir()
    (archive_dir / "reports").write_text("a file where the reports folder should be")
    caplog.set_level(logging.INFO)
    crawler = await run_crawl(archive_dir, listing)
    assert crawler.stats.get_value(WRITE_ERRORS_STAT) == 1
    assert "Could not write the crawl report into" in caplog.text
    lines = report_lines(caplog)
    assert "  This report: not written" in lines
    assert lines[-1] == (
        "  Exits with code 0: it reached its end: every entry archived, or skipped "
        "(duplicate, not due)"
    )


@deferred_f_from_coro_f
async def test_a_stopped_crawl_reports_how_far_it_went(
    site: LocalSite, tmp_path: Path, archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site.add("/report-slow", slow(0.1, SLOW_PAGE))
    listing = write_urls(tmp_path / "urls.txt", *(site.url(f"/report-slow?{i}") for i in range(6)))
    caplog.set_level(logging.INFO)
    await run_crawl(archive_dir, listing, CLOSESPIDER_ITEMCOUNT=2, CONCURRENT_REQUESTS=1)
    report = json.loads(Layout(archive_dir).latest_report.read_text())
    assert report["finish_reason"] == "closespider_itemcount"
    seeds = index_rows(archive_dir, "SELECT position FROM seeds")
    assert report["entries"]["total"] == 6 and report["entries"]["done"] == len(seeds)
    assert report["exit_code"] == 1
    assert report["exit_reason"] == "the crawl stopped before its end (closespider_itemcount)"
    head = report_lines(caplog)[0]
    assert head.startswith("Crawl 1 stopped (closespider_itemcount) after ")
    assert f": {report['entries']['done']} of 6 entries (" in head


def test_failure_groups_past_the_limit_are_counted_together(tmp_path: Path) -> None:
    stats: dict[str, Any] = {"archiver/seeds/failed": 2 * GROUPS_SHOWN + 2}
    for i in range(GROUPS_SHOWN + 2):
        stats[f"archiver/changes/failed/HTTP {500 + i} Error"] = 2 if i < GROUPS_SHOWN else 1
    report = build_report(
        crawl_id=7,
        spider="urls",
        reason="finished",
        stats=stats,
        facts=IndexFacts(),
        layout=Layout(tmp_path),
        total=None,
    )
    assert len(report["failures"]["groups"]) == GROUPS_SHOWN
    assert report["failures"]["groups_not_shown"] == 2
    assert report["failures"]["failed_not_shown"] == 2
    text = render_report(report, None)
    assert "    2 more in 2 other reasons (see the failures view)" in text.splitlines()


# -- the quiet start and end ----------------------------------------------------------------

SCRAPY_LISTINGS = (
    "Scrapy 2.",  # the banner: versions of Scrapy and its libraries
    "Versions:",
    "Overridden settings:",
    "Enabled extensions:",
    "Enabled downloader middlewares:",
    "Enabled item pipelines:",
    "Disabled crawler.spidermiddlewares.requisites",
    "Dumping Scrapy stats:",
)


def test_the_crawl_starts_and_ends_quietly(site: LocalSite, tmp_path: Path) -> None:
    write_urls(tmp_path / "urls.txt", site.url("/page"))
    quiet = archiver("crawl", "urls.txt", *FAST, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    for listing in SCRAPY_LISTINGS:
        assert listing not in quiet.stderr
    # What the user acts on is still there.
    assert "INFO: Archiving crawl 1 into archives" in quiet.stderr
    assert "INFO: Crawl 1 finished in " in quiet.stderr

    # -L DEBUG shows them, at DEBUG.
    debug = archiver("crawl", "urls.txt", *FAST, "-L", "DEBUG", cwd=tmp_path)
    assert debug.returncode == 0, debug.stderr
    for listing in SCRAPY_LISTINGS:
        assert f"DEBUG: {listing}" in debug.stderr

    # ARCHIVER_QUIET=False gives Scrapy's usual output.
    loud = archiver("crawl", "urls.txt", *FAST, "-s", "ARCHIVER_QUIET=False", cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    for listing in SCRAPY_LISTINGS:
        assert listing in loud.stderr
    assert "INFO: Overridden settings:" in loud.stderr
    assert "[scrapy.extensions.logstats] INFO: Crawled 0 pages" in loud.stderr
