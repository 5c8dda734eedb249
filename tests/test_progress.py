"""Progress while crawling: a bar on a terminal, a log line elsewhere, and the input's total."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import sqlite3
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scrapy.utils.defer import deferred_f_from_coro_f

from crawler import inputcount
from crawler.extensions.progress import TOTAL_STAT, progress_line, time_left
from crawler.inputcount import EntryCounter, count_entries, count_list_lines
from crawler.inputs import read_url_list
from crawler.spiders.urls import RESUME_SKIPPED_STAT
from tests.conftest import FAST, archiver, index_rows, run_crawl, write_urls
from tests.server import LocalSite, response, slow

SLOW_PAGE = response("200 OK", [("Content-Type", "text/html")], b"<p>slow</p>")
#: A log line as Scrapy writes it: the date first.
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[[\w.]+\] [A-Z]+: ")


def crawl_on_a_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """``archiver crawl ARGS`` with standard error on a pseudo-terminal; its code and output."""
    master, replica = pty.openpty()
    fcntl.ioctl(replica, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {
        k: v for k, v in os.environ.items() if k not in ("ARCHIVER_DIR", "SCRAPY_SETTINGS_MODULE")
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "crawl", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=replica,
        cwd=cwd,
        env=env,
    )
    os.close(replica)
    output = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(master)
        code = process.wait(timeout=120)
    return code, output.decode("utf-8", "replace")


def test_a_terminal_gets_a_bar_and_whole_log_lines(site: LocalSite, tmp_path: Path) -> None:
    site.add("/progress-bar", slow(0.1, SLOW_PAGE))
    pages = [site.url(f"/progress-bar?{i}") for i in range(6)]
    write_urls(tmp_path / "urls.txt", "# a comment", *pages, "", site.url("/missing"), "bad line")
    code, output = crawl_on_a_terminal("urls.txt", *FAST, cwd=tmp_path)
    assert code == 3, output
    # The bar counted the 8 entries, and ended full, with the failures beside it.
    assert re.search(r"Crawl: 100%\|[^\r\n]*\| 8/8 \[[^\]]*2 failed\]", output), output
    # Every log line is whole on a line of its own: the bar was cleared before it.
    lines = [line.rsplit("\r", 1)[-1] for line in output.split("\r\n")]
    logged = [line for line in lines if re.search(r" (INFO|WARNING): ", line)]
    assert logged and all(LOG_LINE.match(line) for line in logged), logged
    assert any("Exits with code 3" in line for line in lines)
    assert any("Skipped urls.txt:10 'bad line'" in line for line in logged)
    # No bar after the end: the report comes below the bar's last state.
    assert "Crawl:" not in output.split("Exits with code 3", 1)[1]
    assert "Progress: " not in output  # the bar, not the lines


def test_without_a_terminal_a_progress_line_is_logged(site: LocalSite, tmp_path: Path) -> None:
    # One page answers at once, the other after 1.5 s: lines come every 0.2 s meanwhile.
    # Without text the first entry is done when archived, not when the extraction workers,
    # which start in about as long, have made its text.
    site.add("/progress-slow", slow(1.5, SLOW_PAGE))
    write_urls(tmp_path / "urls.txt", site.url("/page"), site.url("/progress-slow"))
    result = archiver(
        "crawl",
        "urls.txt",
        *FAST,
        *("-s", "ARCHIVER_PROGRESS_INTERVAL=0.2", "-s", "ARCHIVER_TEXT_ENABLED=False"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    line = (
        r"INFO: Progress: 1 of 2 entries \(50\.0%\), 0 failed, \d+\.\d entries/s, about \d+s left"
    )
    assert re.search(line, result.stderr), result.stderr
    assert "\r" not in result.stderr and "Crawl:" not in result.stderr
    # Scrapy's own once-a-minute line is not logged in its place.
    assert "Crawled 0 pages" not in result.stderr


def test_progress_can_be_turned_off(site: LocalSite, tmp_path: Path) -> None:
    site.add("/progress-off", slow(0.5, SLOW_PAGE))
    write_urls(tmp_path / "urls.txt", site.url("/progress-off"))
    result = archiver(
        "crawl", "urls.txt", *FAST, "-s", "ARCHIVER_PROGRESS_INTERVAL=0", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "Progress:" not in result.stderr
    bad = archiver("crawl", "urls.txt", *FAST, "-s", "ARCHIVER_PROGRESS_INTERVAL=-1", cwd=tmp_path)
    assert bad.returncode != 0
    assert "ARCHIVER_PROGRESS_INTERVAL must be" in bad.stderr


@deferred_f_from_coro_f
async def test_a_resumed_crawl_counts_only_what_is_left(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    site.add("/progress-resume", slow(0.1, SLOW_PAGE))
    pages = [site.url(f"/progress-resume?{i}") for i in range(8)]
    listing = write_urls(tmp_path / "urls.txt", *pages[:4], "", "# skipped", *pages[4:])
    first = await run_crawl(archive_dir, listing)
    assert first.stats.get_value(TOTAL_STAT) == 8
    # As an interrupted crawl leaves it (no timing to race): only some entries have rows.
    db = sqlite3.connect(archive_dir / "index.sqlite")
    try:
        db.execute("UPDATE crawls SET finish_reason = 'shutdown'")
        db.execute("DELETE FROM seeds WHERE rowid NOT IN (SELECT rowid FROM seeds LIMIT 3)")
        db.commit()
    finally:
        db.close()
    second = await run_crawl(archive_dir, listing, ARCHIVER_RESUME=True)
    (done,) = index_rows(archive_dir, "SELECT COUNT(*) AS n FROM seeds WHERE crawl_id = 2")
    assert second.stats.get_value(RESUME_SKIPPED_STAT) == 3
    assert second.stats.get_value(TOTAL_STAT) == 8 - 3 == done["n"]


# -- the figures --------------------------------------------------------------------------


def test_the_progress_line_says_what_is_known() -> None:
    assert progress_line(1234, 10_000, 56, 301.0) == (
        "Progress: 1,234 of 10,000 entries (12.3%), 56 failed, 4.1 entries/s, about 36m left"
    )
    # Standard input: no total, so no share and no time left.
    assert progress_line(50, None, 0, 10.0) == "Progress: 50 entries, 0 failed, 5.0 entries/s"
    assert (
        progress_line(0, 10, 0, 5.0) == "Progress: 0 of 10 entries (0.0%), 0 failed, 0.0 entries/s"
    )
    assert progress_line(10, 10, 1, 5.0).endswith("(100.0%), 1 failed, 2.0 entries/s")
    assert progress_line(0, 0, 0, 1.0).startswith("Progress: 0 of 0 entries (100.0%)")
    assert [time_left(s) for s in (3, 44, 61, 3_900, 90_000)] == [
        "10s",
        "40s",
        "1m",
        "1h5m",
        "1d1h",
    ]


def count_as_the_crawl_reads(data: bytes) -> int:
    return sum(1 for _ in read_url_list(io.BytesIO(data), "urls.txt"))


LINES = st.sampled_from(
    ["", " ", "\t", "#", "# comment", " # indented", "http://a.example/", " http://b.example/ ",
     "not a url", "http://a.example/", "ftp://c.example/", "\r", "x"]
)  # fmt: skip


@given(st.lists(LINES, max_size=40), st.booleans(), st.booleans(), st.booleans())
def test_counting_a_list_agrees_with_reading_it(
    lines: list[str], crlf: bool, final_newline: bool, bom: bool
) -> None:
    text = ("\r\n" if crlf else "\n").join(lines) + ("\n" if final_newline and lines else "")
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    expected = count_as_the_crawl_reads(data)
    assert count_list_lines(io.BytesIO(data)) == expected
    # Lines cut across chunks, and lines longer than a chunk, count the same.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inputcount, "CHUNK_SIZE", 4)
        assert count_list_lines(io.BytesIO(data)) == expected


def test_inputs_are_counted_without_being_read_as_the_crawl_reads_them(tmp_path: Path) -> None:
    listing = write_urls(tmp_path / "urls.txt", "http://a.example/", "# no", "", "b")
    assert count_entries(str(listing)) == 2
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("001.txt", "002.txt", "notes.md"):
        (corpus / name).write_text("whatever\n")
    assert count_entries(str(corpus)) == 2
    # Standard input and a named pipe are the crawl's stream: never read here.
    assert count_entries("-") is None
    os.mkfifo(tmp_path / "fifo")
    assert count_entries(str(tmp_path / "fifo")) is None
    counter = EntryCounter(str(listing)).start()
    assert counter.wait(10) and counter.count == 2
    missing = EntryCounter(str(tmp_path / "gone.txt")).start()
    assert missing.wait(10) and missing.count is None


def test_counting_gives_up_past_its_time_limit(tmp_path: Path) -> None:
    listing = write_urls(tmp_path / "urls.txt", *(f"http://a.example/{i}" for i in range(10)))
    counter = EntryCounter(str(listing), time_limit=-1.0).start()
    assert counter.wait(10)
    assert counter.count is None
