"""``archiver crawl``'s exit codes: 0 all archived, 3 some failed, 1 stopped or a fault, 2 usage."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.changes import NOT_FAILURES
from crawler.exitcodes import FAULT_STATS, SOME_FAILED, STOPPED, crawl_exit_code, explain
from crawler.outcomes import InputOutcome
from tests.conftest import FAST, archiver, index_rows, run_module, write_urls
from tests.server import LocalSite

REPO = Path(__file__).resolve().parents[1]


def test_every_entry_archived_or_skipped_gives_0(site: LocalSite, tmp_path: Path) -> None:
    write_urls(tmp_path / "urls.txt", site.url("/page"), site.url("/page#again"), site.url("/gzip"))
    log = tmp_path / "crawl.log"
    result = archiver("crawl", "urls.txt", *FAST, "-L", "INFO", "--logfile", str(log), cwd=tmp_path)
    assert result.returncode == 0, log.read_text()
    outcomes = [r["outcome"] for r in index_rows(tmp_path / "archives", "SELECT * FROM seeds")]
    assert sorted(outcomes) == ["archived", "archived", "duplicate"]
    # Scrapy's options went through: the log is in the file, not on standard error.
    assert "Spider closed (finished)" in log.read_text()
    assert "Exit code" not in log.read_text()


def test_a_404_gives_3(site: LocalSite, tmp_path: Path) -> None:
    write_urls(tmp_path / "urls.txt", site.url("/page"), site.url("/missing"))
    result = archiver("crawl", "urls.txt", *FAST, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "WARNING: Exit code 3: some input entries were not archived (1 failed)" in (
        result.stderr
    )
    (crawl,) = index_rows(tmp_path / "archives", "SELECT finish_reason FROM crawls")
    assert crawl["finish_reason"] == "finished"


def test_scrapy_crawl_has_the_same_exit_codes(site: LocalSite, tmp_path: Path) -> None:
    urls = write_urls(tmp_path / "urls.txt", site.url("/missing"), "not a url")
    result = run_module(
        "scrapy.cmdline",
        *("crawl", "urls", "-a", f"urls={urls}", "-s", f"ARCHIVER_DIR={tmp_path / 'archives'}"),
        *FAST,
        cwd=REPO,
    )
    assert result.returncode == 3, result.stderr
    assert "Exit code 3: some input entries were not archived (1 failed, 1 invalid)" in (
        result.stderr
    )


def test_a_crawl_that_cannot_write_its_archive_gives_1(site: LocalSite, tmp_path: Path) -> None:
    write_urls(tmp_path / "urls.txt", site.url("/page"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "warc").write_text("a file where the WARC folder should be")
    result = archiver("crawl", "urls.txt", "-o", "out", *FAST, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Exit code 1: the crawl stopped before its end (archiver_write_error)" in result.stderr


def test_a_fault_at_a_finished_crawl_gives_1(site: LocalSite, tmp_path: Path) -> None:
    """Every page archived, but the CDXJ index could not be written: the user must know."""
    write_urls(tmp_path / "urls.txt", site.url("/page"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "indexes").write_text("a file where the CDXJ folder should be")
    result = archiver("crawl", "urls.txt", "-o", "out", *FAST, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert (
        "Exit code 1: the crawl reached its end with faults to look at (archiver/cdxj/errors: 1)"
    ) in result.stderr
    (crawl,) = index_rows(tmp_path / "out", "SELECT finish_reason FROM crawls")
    assert crawl["finish_reason"] == "finished"
    (seed,) = index_rows(tmp_path / "out", "SELECT outcome FROM seeds")
    assert seed["outcome"] == "archived"


def test_a_bad_command_line_gives_2_and_writes_nothing(tmp_path: Path) -> None:
    write_urls(tmp_path / "urls.txt", "http://127.0.0.1:9/")
    for args in (
        ["--due", "soon"],
        ["--at", "2026-11-27"],
        ["--resmue"],
        ["-s", "ARCHIVER_TEXT_ENABLED=maybe"],
        ["-s", "ARCHIVER_EXTRACT_FUNCTION=tests.extractors.absent"],
    ):
        result = archiver("crawl", "urls.txt", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error: "), result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["urls.txt"]


def test_the_extraction_function_is_checked_only_when_text_is_extracted(
    site: LocalSite, tmp_path: Path
) -> None:
    write_urls(tmp_path / "urls.txt", site.url("/page"))
    result = archiver(
        "crawl",
        "urls.txt",
        "-o",
        "out",
        *FAST,
        *["-s", "ARCHIVER_TEXT_ENABLED=False"],
        *["-s", "ARCHIVER_EXTRACT_FUNCTION=tests.extractors.absent"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr


#: Every outcome that counts as a failure, whichever helpers add to InputOutcome.
FAILURES = [outcome for outcome in InputOutcome if outcome not in NOT_FAILURES]


@pytest.mark.parametrize("outcome", FAILURES)
def test_every_failure_outcome_gives_3(outcome: str) -> None:
    stats = {"archiver/seeds/archived": 5, f"archiver/seeds/{outcome}": 2}
    assert crawl_exit_code(["finished"], stats) == SOME_FAILED
    assert explain(SOME_FAILED, ["finished"], stats) == (
        f"Exit code 3: some input entries were not archived (2 {outcome})"
    )


@pytest.mark.parametrize("outcome", sorted(NOT_FAILURES))
def test_outcomes_that_are_no_failure_give_0(outcome: str) -> None:
    stats = {f"archiver/seeds/{outcome}": 3, "archiver/seeds/archived_copies": 1}
    assert crawl_exit_code(["finished"], stats) == 0
    assert explain(0, ["finished"], stats) is None


@pytest.mark.parametrize("fault", FAULT_STATS)
def test_every_fault_gives_1(fault: str) -> None:
    stats = {"archiver/seeds/failed": 1, fault: 1}
    assert crawl_exit_code(["finished"], stats) == STOPPED
    assert explain(STOPPED, ["finished"], stats) == (
        f"Exit code 1: the crawl reached its end with faults to look at ({fault}: 1)"
    )
    assert crawl_exit_code(["finished"], {fault: 0}) == 0


def test_any_close_reason_but_finished_gives_1() -> None:
    for reasons in (["shutdown"], ["closespider_itemcount"], [], ["finished", "bootstrap_failed"]):
        assert crawl_exit_code(reasons, {}) == STOPPED, reasons
    assert (
        explain(STOPPED, [], {})
        == "Exit code 1: the crawl stopped before its end (it did not start)"
    )
