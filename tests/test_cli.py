"""The two ways in: ``archiver crawl`` from any folder and ``scrapy crawl urls`` in the project."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from crawler.warc.verify import verify_paths
from tests.conftest import FAST, archiver, index_rows, run_module, write_urls
from tests.server import LocalSite, response, slow
from tests.warc_reading import read_archive

REPO = Path(__file__).resolve().parents[1]


def test_crawl_from_any_folder_into_default_archives(site: LocalSite, tmp_path: Path) -> None:
    urls = write_urls(tmp_path / "urls.txt", site.url("/page"), "not-a-url", site.url("/missing"))
    result = archiver("crawl", "urls.txt", *FAST, cwd=tmp_path)
    assert result.returncode == 3, result.stderr  # it reached its end; two entries failed
    assert "Exit code 3: some input entries were not archived (1 failed, 1 invalid)" in (
        result.stderr
    )
    archive = tmp_path / "archives"
    assert len(list((archive / "warc").glob("*.warc.gz"))) == 1
    outcomes = [
        (r["line"], r["outcome"]) for r in index_rows(archive, "SELECT * FROM seeds ORDER BY line")
    ]
    assert outcomes == [(1, "archived"), (2, "invalid"), (3, "failed")]
    assert "Skipped urls.txt:2 'not-a-url': no scheme" in result.stderr
    assert urls.exists()


def test_output_folder_from_option_and_environment(site: LocalSite, tmp_path: Path) -> None:
    write_urls(tmp_path / "urls.txt", site.url("/page"))
    result = archiver("crawl", "urls.txt", "-o", "out", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "index.sqlite").exists()
    result = archiver(
        "crawl", "urls.txt", *FAST, cwd=tmp_path, env={"ARCHIVER_DIR": str(tmp_path / "env")}
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env" / "index.sqlite").exists()
    assert not (tmp_path / "archives").exists()


def test_urls_from_standard_input(site: LocalSite, tmp_path: Path) -> None:
    result = archiver(
        "crawl", "-", *FAST, cwd=tmp_path, stdin=f"# from a pipe\n{site.url('/query?from=stdin')}\n"
    )
    assert result.returncode == 0, result.stderr
    records = read_archive(tmp_path / "archives")
    assert any(r.url == site.url("/query?from=stdin") and r.type == "response" for r in records)
    (row,) = index_rows(tmp_path / "archives", "SELECT * FROM seeds")
    assert (row["source"], row["line"], row["outcome"]) == ("-", 2, "archived")


def test_unreadable_input_is_a_usage_error(tmp_path: Path) -> None:
    result = archiver("crawl", "missing.txt", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: cannot read missing.txt: no such file or folder\n"
    assert not (tmp_path / "archives").exists()


def test_scrapy_crawl_in_the_project(site: LocalSite, tmp_path: Path) -> None:
    urls = write_urls(tmp_path / "urls.txt", site.url("/page"))
    result = run_module(
        "scrapy.cmdline",
        *("crawl", "urls", "-a", f"urls={urls}", "-s", f"ARCHIVER_DIR={tmp_path / 'archives'}"),
        *FAST,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    (row,) = index_rows(tmp_path / "archives", "SELECT * FROM seeds")
    assert row["outcome"] == "archived"
    missing = run_module("scrapy.cmdline", "crawl", "urls", "-a", "urls=/nonexistent", cwd=REPO)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "error: cannot read /nonexistent: no such file or folder"
    ]


def test_a_record_that_cannot_be_written_stops_the_crawl(site: LocalSite, tmp_path: Path) -> None:
    """The disk fills up (a file size limit here): no URL counts as archived without its record."""
    big = site.add(
        "/big",
        lambda h: response("200 OK", [("Content-Type", "application/pdf")], os.urandom(400_000)),
    )
    urls = write_urls(
        tmp_path / "urls.txt", site.url("/page"), big, *(site.url(f"/page?{i}") for i in range(20))
    )
    limit = 300_000

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    # The site serves the whole session: only this crawl's requests count.
    earlier = len(site.requests)
    result = archiver(
        "crawl",
        str(urls),
        *FAST,
        "-s",
        "CONCURRENT_REQUESTS=1",
        cwd=tmp_path,
        preexec_fn=limit_file_size,
    )
    assert result.returncode == 1, result.stderr
    assert "Could not archive" in result.stderr and "stopping the crawl" in result.stderr
    archive = tmp_path / "archives"
    (crawl,) = index_rows(archive, "SELECT * FROM crawls")
    assert crawl["finish_reason"] == "archiver_write_error"
    archived = {
        r["url"] for r in index_rows(archive, "SELECT * FROM seeds WHERE outcome = 'archived'")
    }
    assert big not in archived
    records = read_archive(archive)  # the file ends on a whole record and is renamed
    captured = {r.url for r in records if r.type == "response"}
    assert archived <= captured
    rows = index_rows(archive, "SELECT url, record_id FROM captures")
    assert {r["record_id"] for r in rows} <= {r.id for r in records}
    verified = archiver("verify", cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout
    # Once the archive failed, nothing more was fetched (start requests go in order,
    # one at a time: one more may have been on its way) and no failure was invented.
    requested = [path for path, _ in site.requests[earlier:] if path.startswith("/page?")]
    assert len(requested) <= 1
    outcomes = {r["outcome"] for r in index_rows(archive, "SELECT outcome FROM seeds")}
    assert outcomes <= {"archived"}

    # With room on the disk again, --resume fetches what was cut short, and only that.
    resumed = archiver("crawl", str(urls), "--resume", *FAST, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    seeds = index_rows(archive, "SELECT position, outcome FROM seeds")
    assert sorted(s["position"] for s in seeds) == list(range(22))
    assert {s["outcome"] for s in seeds} == {"archived"}


def test_an_interrupt_stops_the_crawl_cleanly(site: LocalSite, tmp_path: Path) -> None:
    slow_page = response("200 OK", [("Content-Type", "text/html")], b"<p>slow</p>")
    site.add("/interrupt", slow(0.3, slow_page))
    urls = write_urls(tmp_path / "urls.txt", *(site.url(f"/interrupt?{i}") for i in range(30)))
    env = {
        k: v for k, v in os.environ.items() if k not in ("ARCHIVER_DIR", "SCRAPY_SETTINGS_MODULE")
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crawler.cli",
            "crawl",
            str(urls),
            *FAST,
            "-s",
            "CONCURRENT_REQUESTS=1",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    archive = tmp_path / "archives"
    deadline = time.monotonic() + 60
    while not list((archive / "warc").glob("*.open")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    (crawl,) = index_rows(archive, "SELECT * FROM crawls")
    assert crawl["finish_reason"] == "shutdown"
    files = list((archive / "warc").iterdir())
    assert files and not [f for f in files if f.name.endswith(".open")]
    seeds = index_rows(archive, "SELECT * FROM seeds")
    assert 0 < len(seeds) < 30
    assert verify_paths([archive / "warc"]).ok


def test_bad_settings_are_a_usage_error(tmp_path: Path) -> None:
    write_urls(tmp_path / "urls.txt", "http://127.0.0.1:9/")
    result = archiver("crawl", "urls.txt", "-s", "ARCHIVER_WARC_GZIP_LEVEL=12", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: ARCHIVER_WARC_GZIP_LEVEL must be from 0 to 9, not 12\n"
    assert not (tmp_path / "archives").exists()


def test_an_archive_that_cannot_be_opened_stops_the_crawl(site: LocalSite, tmp_path: Path) -> None:
    urls = write_urls(tmp_path / "urls.txt", site.url("/page"))
    (tmp_path / "not-a-folder").write_text("a file")
    result = archiver("crawl", str(urls), "-o", "not-a-folder", *FAST, cwd=tmp_path)
    assert result.returncode == 1
    assert "Cannot open the archive in not-a-folder" in result.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "index.sqlite").write_bytes(b"this is not a database" * 100)
    result = archiver("crawl", str(urls), "-o", "broken", *FAST, cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot open index broken/index.sqlite: file is not a database" in result.stderr
    assert not (broken / "warc").exists()


def test_an_interrupted_crawl_resumes_where_it_stopped(site: LocalSite, tmp_path: Path) -> None:
    # Slow pages, so that the first crawl stops with most of them still to fetch.
    slow_page = response("200 OK", [("Content-Type", "text/html")], b"<p>resumed</p>")
    site.add("/slow-page", slow(0.2, slow_page))
    pages = [site.url(f"/slow-page?resume={i}") for i in range(12)]
    urls = write_urls(tmp_path / "urls.txt", *pages[:6], "bad-line", *pages[6:])
    # No text: a page's item waits for the extraction workers, which may take longer to
    # start than the whole list takes to fetch, and then nothing would be left to resume.
    one_at_a_time = [*FAST, "-s", "CONCURRENT_REQUESTS=1", "-s", "ARCHIVER_TEXT_ENABLED=0"]
    first = archiver(
        "crawl", "urls.txt", *one_at_a_time, "-s", "CLOSESPIDER_ITEMCOUNT=4", cwd=tmp_path
    )
    assert first.returncode == 1, first.stderr  # stopped before its end
    second = archiver("crawl", "urls.txt", "--resume", *one_at_a_time, cwd=tmp_path)
    archive = tmp_path / "archives"
    crawls = index_rows(archive, "SELECT id, finish_reason, input FROM crawls ORDER BY id")
    assert second.returncode == 0, second.stderr
    assert [c["finish_reason"] for c in crawls] == ["closespider_itemcount", "finished"]
    assert crawls[0]["input"] == str(urls)
    seeds = index_rows(archive, "SELECT crawl_id, position, outcome FROM seeds")
    first_positions = {s["position"] for s in seeds if s["crawl_id"] == crawls[0]["id"]}
    second_positions = {s["position"] for s in seeds if s["crawl_id"] == crawls[1]["id"]}
    assert first_positions and second_positions
    assert not first_positions & second_positions
    assert first_positions | second_positions == set(range(13))
    assert "Resuming" in second.stderr
    third = archiver("crawl", "urls.txt", "--resume", *one_at_a_time, cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert "Nothing to resume" in third.stderr
    (count,) = index_rows(archive, "SELECT COUNT(*) AS n FROM seeds")
    assert count["n"] == 13
    stdin = archiver("crawl", "-", "--resume", cwd=tmp_path, stdin="")
    assert stdin.returncode == 2
    assert (
        stdin.stderr == "error: cannot resume a crawl of standard input: give the list as a file\n"
    )
