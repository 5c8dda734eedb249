"""``archiver recover``: an archive killed mid-crawl comes back whole, rows matching records."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.utils.defer import deferred_f_from_coro_f

from crawler.cdxj import archive_files
from crawler.layout import Layout
from crawler.lock import acquire
from crawler.recover import recover, whole_end
from crawler.reindex import UNFINISHED, reindex
from crawler.warc.reader import ReadProblem, iter_records
from crawler.warc.records import SEED_URI_PREFIX, parse_warc_fields
from crawler.warc.verify import render_report, verify_paths
from tests.conftest import FAST, archiver, index_rows, run_crawl, write_urls
from tests.server import LocalSite, response
from tests.test_reindex import dump, heritrix_warc

if TYPE_CHECKING:
    from tests.server import Handler

#: Pages of the killed crawls: enough for a kill to land mid-crawl, few enough to stay quick.
PAGES = 200
#: The seed of the kill moments and torn records; printed in every assertion message.
SEED = 20261130
#: A crawl that has not reached its kill moment by then failed the test (not a timing test).
CRAWL_LIMIT = 120.0
#: Small WARC files, so that a kill finds files rotated since the index's last commit.
SMALL_FILES = ["-s", "ARCHIVER_WARC_MAX_SIZE=60000"]
CRAWL = [sys.executable, "-m", "crawler.cli", "crawl"]
QUICK = [*FAST, "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16", "-s", "ARCHIVER_EXTRACT_WORKERS=1"]


def article(handler: Handler) -> bytes:
    number = handler.path.rsplit("/", 1)[-1]
    words = " ".join(f"word{number}x{i}" for i in range(60))
    body = (
        f"<html><head><title>Page {number}</title></head><body><article>"
        f"<h1>Page {number}</h1><p>The text of page {number}. {words}</p>"
        "</article></body></html>"
    )
    return response("200 OK", [("Content-Type", "text/html; charset=utf-8")], body.encode())


def pages(site: LocalSite, tmp_path: Path, count: int = PAGES) -> Path:
    site.add("/recover/*", article)
    return write_urls(tmp_path / "urls.txt", *(site.url(f"/recover/{i}") for i in range(count)))


def half_member(path: Path) -> bytes:
    """The first half of the file's last gzip member: a record torn while it was written."""
    records = [r for r in iter_records(path) if not isinstance(r, ReadProblem)]
    last = records[-1]
    with path.open("rb") as stream:
        stream.seek(last.offset)
        return stream.read(last.length // 2)


def capture_records(archive: Path) -> set[tuple[str, int, int, str]]:
    """(file, offset, length, record id) of every record that must have a capture row."""
    found = set()
    warc = Layout(archive).warc_dir
    for path in archive_files(warc, with_open=True):
        for item in iter_records(path):
            assert not isinstance(item, ReadProblem), str(item)
            kind, url = item.record_type, item.url
            failure = kind == "metadata" and "fetch-error" in parse_warc_fields(item.payload)
            if (kind in ("response", "revisit") and url) or failure:
                place = (path.relative_to(warc).as_posix(), item.offset, item.length)
                found.add((*place, item.record_id or ""))
    return found


def seed_records(archive: Path) -> int:
    return sum(
        1
        for path in archive_files(Layout(archive).warc_dir, with_open=True)
        for item in iter_records(path)
        if not isinstance(item, ReadProblem) and item.url.startswith(SEED_URI_PREFIX)
    )


def assert_sound(archive: Path, why: str) -> None:
    """No open file, verify clean, one row per record and a record under every row."""
    warc = Layout(archive).warc_dir
    assert not list(warc.glob("*.open")), why
    verified = verify_paths([warc])  # what `archiver verify` runs
    assert verified.ok, f"{why}\n{render_report(verified)}"
    rows = index_rows(
        archive,
        "SELECT warc_file, warc_offset, warc_length, record_id FROM captures "
        "WHERE warc_file NOT LIKE '/%'",
    )
    held = [(r["warc_file"], r["warc_offset"], r["warc_length"], r["record_id"]) for r in rows]
    assert len(held) == len(set(held)), why
    assert set(held) == capture_records(archive), why
    (seeds,) = index_rows(archive, "SELECT COUNT(*) AS n FROM seeds")
    assert seeds["n"] == seed_records(archive), why
    open_crawls = index_rows(archive, "SELECT id FROM crawls WHERE finish_reason IS NULL")
    assert not open_crawls, why
    # Rows match records: a rebuild from the WARC files alone gives the same index.
    copy = archive.parent / f"{archive.name}-rebuilt"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(archive, copy)
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (copy / name).unlink(missing_ok=True)
    reindex(Layout(copy))
    assert dump(copy) == dump(archive), why


def crawl_until_killed(
    tmp_path: Path, urls: Path, archive: Path, at_bytes: int, *extra: str
) -> int:
    """Run ``archiver crawl`` and SIGKILL it (with its workers) once the WARC folder holds
    ``at_bytes`` more bytes; return how many bytes it held then."""
    warc = Layout(archive).warc_dir
    env = {
        k: v for k, v in os.environ.items() if k not in ("ARCHIVER_DIR", "SCRAPY_SETTINGS_MODULE")
    }

    def size() -> int:
        with contextlib.suppress(FileNotFoundError):
            return sum(p.stat().st_size for p in warc.iterdir())
        return 0

    target = size() + at_bytes
    process = subprocess.Popen(
        [*CRAWL, str(urls), "-o", str(archive), *QUICK, *SMALL_FILES, *extra],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + CRAWL_LIMIT
    try:
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError):
                if size() >= target:
                    break
            time.sleep(0.005)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, f"the crawl ended before its kill: {target}"
    return size()


def _holds_a_record(path: Path) -> bool:
    return any(not isinstance(item, ReadProblem) for item in iter_records(path))


def tear(archive: Path) -> tuple[Path, bytes]:
    """Append half a gzip member to the open file (the last file, reopened, if none is).

    A kill just after a file was rotated can leave the newest ``.open`` file empty (made,
    its warcinfo not yet written): the last open file that holds a record is torn then.
    """
    warc = Layout(archive).warc_dir
    opened = [path for path in sorted(warc.glob("*.open")) if _holds_a_record(path)]
    if opened:
        path = opened[-1]
    else:
        last = archive_files(warc)[-1]
        path = last.with_name(last.name + ".open")
        last.rename(path)
    torn = half_member(path)
    with path.open("ab") as out:
        out.write(torn)
    return path, torn


def test_a_crawl_killed_again_and_again_comes_back_whole(site: LocalSite, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    urls = pages(site, tmp_path)
    archive = tmp_path / "archives"
    kills = [rng.randint(100_000, 200_000), *(rng.randint(40_000, 120_000) for _ in range(2))]
    why = f"random seed {SEED}, kills at {kills} more WARC bytes"

    # Killed once, a torn record added: `archiver recover` repairs the folder.
    crawl_until_killed(tmp_path, urls, archive, kills[0])
    opened, torn = tear(archive)
    result = archiver("recover", str(archive))
    assert result.returncode == 0, f"{why}\n{result.stdout}\n{result.stderr}"
    final = opened.with_name(opened.name.removesuffix(".open"))
    assert f"closed {opened.name} as {final.name}" in result.stdout, why
    assert final.with_name(final.name + ".torn").read_bytes() == torn, why
    assert_sound(archive, why)
    (first,) = index_rows(archive, "SELECT finish_reason FROM crawls")
    assert first["finish_reason"] == UNFINISHED, why
    assert not recover(Layout(archive)).changed, why

    # Killed again while resuming, torn again: each --resume recovers what the last left.
    for at_bytes in kills[1:]:
        crawl_until_killed(tmp_path, urls, archive, at_bytes, "--resume")
        tear(archive)
    resumed = archiver("crawl", str(urls), "-o", str(archive), "--resume", *QUICK, *SMALL_FILES)
    assert resumed.returncode == 0, f"{why}\n{resumed.stderr[-3000:]}"
    assert not list(Layout(archive).warc_dir.glob("*.open")), (
        f"{why}: the crawl did not recover the folder at its start "
        "(ArchiveExtension.spider_opened must call crawler.recover.recover)"
    )
    assert_sound(archive, why)
    crawls = index_rows(archive, "SELECT finish_reason FROM crawls ORDER BY id")
    assert [c["finish_reason"] for c in crawls] == [UNFINISHED] * len(kills) + ["finished"], why
    # Every input line ends with exactly one outcome over all the crawls.
    positions = index_rows(archive, "SELECT position, COUNT(*) AS n FROM seeds GROUP BY position")
    assert {p["position"]: p["n"] for p in positions} == dict.fromkeys(range(PAGES), 1), why


async def crawled(site: LocalSite, tmp_path: Path, *paths: str) -> Path:
    """The archive folder of a finished crawl of the test site's ``paths``."""
    archive = tmp_path / "archives"
    await run_crawl(archive, write_urls(tmp_path / "urls.txt", *map(site.url, paths)))
    return archive


#: The index as a kill leaves it: no crawl has an end.
UNFINISH = "UPDATE crawls SET finish_reason = NULL, finished_at = NULL, stats = NULL"


def change_index(archive: Path, *statements: str | tuple[str, tuple[Any, ...]]) -> None:
    """Run SQL ``statements`` (each alone, or with its parameters) on the index, committed."""
    db = sqlite3.connect(archive / "index.sqlite")
    try:
        for statement in statements:
            sql, params = (statement, ()) if isinstance(statement, str) else statement
            db.execute(sql, params)
        db.commit()
    finally:
        db.close()


def simulate_kill(archive: Path) -> tuple[Path, bytes]:
    """What a kill leaves after the last commits of a finished crawl were lost.

    The last file is ``.open`` again with a torn record at its end, the crawl has no
    end in the index, and the rows of the last records were never committed.
    """
    opened, torn = tear(archive)
    db = sqlite3.connect(archive / "index.sqlite")
    try:
        db.execute(UNFINISH)
        (first,) = db.execute(
            "SELECT id FROM captures ORDER BY id DESC LIMIT 1 OFFSET 1"
        ).fetchone()
        # The rows written after that moment: the captures, and the seeds from the first
        # that names one of them on.
        (seed,) = db.execute("SELECT min(rowid) FROM seeds WHERE capture_id >= ?", (first,))
        db.execute("DELETE FROM seeds WHERE rowid >= ?", seed)
        db.execute("DELETE FROM captures WHERE id >= ?", (first,))
        db.commit()
    finally:
        db.close()
    return opened, torn


@deferred_f_from_coro_f
async def test_recover_gives_back_the_rows_a_kill_lost(site: LocalSite, tmp_path: Path) -> None:
    archive = await crawled(site, tmp_path, "/page", "/missing", "/gzip")
    original = dump(archive)
    opened, torn = simulate_kill(archive)
    # A row committed for a record the crash then cut off (the disk lost it).
    change_index(
        archive,
        (
            "INSERT INTO captures (crawl_id, url, urlkey, fetched_at, record_type, warc_file, "
            "warc_offset, warc_length, record_id) VALUES (1, 'http://lost/', 'lost)/', "
            "'2026-01-01T00:00:00Z', 'response', ?, 999999, 10, '<urn:uuid:lost>')",
            (opened.name.removesuffix(".open"),),
        ),
    )

    recovery = recover(Layout(archive))

    assert recovery.ok, recovery.render()
    (closed,) = recovery.closed
    assert (closed.found, closed.torn) == (opened.name, len(torn))
    assert closed.torn_file == closed.name + ".torn"
    assert recovery.captures_added == 2 and recovery.captures_removed == 1
    assert recovery.crawls_ended == [(1, "finished")]  # the end record survived
    assert dump(archive) == original
    assert (archive / "indexes" / "index.cdxj").read_text().count("\n") == len(
        [c for c in original["captures"].values() if c["record_type"] == "response"]
    )
    assert not recover(Layout(archive)).changed


@deferred_f_from_coro_f
async def test_a_request_whose_response_was_never_written_is_cut_off(
    site: LocalSite, tmp_path: Path
) -> None:
    archive = await crawled(site, tmp_path, "/page", "/gzip")
    # Killed between the two writes of an exchange: its request is whole, its response
    # never reached the file, and the index had not committed a row yet.
    (closed,) = Layout(archive).warc_dir.glob("*.warc.gz")
    records = [r for r in iter_records(closed) if not isinstance(r, ReadProblem)]
    *_, request = (r for r in records if r.record_type == "request" and r.url == site.url("/gzip"))
    (response_id,) = request.concurrent_to
    assert response_id in {r.record_id for r in records}
    data = closed.read_bytes()
    opened = closed.with_name(closed.name + ".open")
    opened.write_bytes(data[: request.offset + request.length])
    closed.unlink()
    change_index(archive, UNFINISH, "DELETE FROM seeds", "DELETE FROM captures")

    recovery = recover(Layout(archive))

    assert recovery.ok, recovery.render()
    (kept,) = recovery.closed
    assert (kept.name, kept.size) == (closed.name, request.offset)
    # The request is kept with the torn bytes, never lost.
    assert (archive / "warc" / str(kept.torn_file)).read_bytes() == data[
        request.offset : request.offset + request.length
    ]
    assert request.record_id not in {
        r.record_id for r in iter_records(closed) if not isinstance(r, ReadProblem)
    }
    assert_sound(archive, "a request without its response")
    assert not recover(Layout(archive)).changed


@deferred_f_from_coro_f
async def test_a_taken_final_name_gets_a_free_one(site: LocalSite, tmp_path: Path) -> None:
    archive = await crawled(site, tmp_path, "/page", "/missing", "/gzip")
    original = dump(archive)
    opened, _ = simulate_kill(archive)
    final = opened.with_name(opened.name.removesuffix(".open"))
    ids = heritrix_warc(final)  # another file took the name in the meantime
    foreign = final.read_bytes()

    recovery = recover(Layout(archive))

    assert recovery.ok, recovery.render()
    (closed,) = recovery.closed
    assert closed.name == final.name.replace(".warc.gz", "-recovered-1.warc.gz")
    assert final.read_bytes() == foreign
    restored = dump(archive)
    assert restored["seeds"] == original["seeds"]
    moved = {k: v for k, v in restored["captures"].items() if v["warc_file"] == closed.name}
    assert moved.keys() == original["captures"].keys()
    # The file that took the name is what rows still named: read, it is a crawl of its own.
    assert restored["captures"][ids["response"]]["warc_file"] == final.name, recovery.render()
    assert_sound(archive, "a taken final name")


@deferred_f_from_coro_f
async def test_nothing_to_do_changes_nothing(site: LocalSite, tmp_path: Path) -> None:
    archive = await crawled(site, tmp_path, "/page")
    before = {p: p.stat().st_mtime_ns for p in archive.rglob("*") if p.is_file()}
    recovery = recover(Layout(archive))
    assert not recovery.changed and recovery.ok and recovery.render() == "nothing to recover"
    assert {p: p.stat().st_mtime_ns for p in archive.rglob("*") if p.is_file()} == before


def test_a_file_with_no_whole_record_is_removed_and_its_bytes_kept(tmp_path: Path) -> None:
    warc = tmp_path / "archives" / "warc"
    warc.mkdir(parents=True)
    heritrix_warc(warc / "whole.warc.gz")
    opened = warc / "x.warc.gz.open"
    opened.write_bytes(half_member(warc / "whole.warc.gz"))
    assert whole_end(opened) == (0, 0)

    recovery = recover(Layout(tmp_path / "archives"))

    (closed,) = recovery.closed
    assert closed.name is None and not opened.exists()
    assert (warc / "x.warc.gz.torn").read_bytes() == half_member(warc / "whole.warc.gz")
    # No index yet: the whole index is rebuilt, the foreign file included.
    assert recovery.reindexed is not None and recovery.ok, recovery.render()
    assert "removed x.warc.gz.open: no whole record" in recovery.render()


def test_a_record_cut_in_its_gzip_trailer_is_torn(tmp_path: Path) -> None:
    """The reader takes a member cut in its last 8 bytes for a whole record: recover does not."""
    whole = tmp_path / "whole.warc.gz"
    heritrix_warc(whole)
    *_, last = (r for r in iter_records(whole) if not isinstance(r, ReadProblem))
    data = whole.read_bytes()
    for cut in (1, 4, 8):
        opened = tmp_path / "cut.warc.gz.open"
        opened.write_bytes(data[:-cut])
        assert len(list(iter_records(opened))) == 4  # the reader sees every record
        assert whole_end(opened) == (last.offset, 3)


def test_the_command_reports_and_exits_by_what_it_could_do(tmp_path: Path) -> None:
    assert archiver("recover", str(tmp_path / "nowhere")).returncode == 2
    archive = tmp_path / "archives"
    warc = archive / "warc"
    warc.mkdir(parents=True)
    heritrix_warc(warc / "a.warc.gz.open")
    with acquire(Layout(archive).lock, command="archiver crawl busy.txt"):
        busy = archiver("recover", str(archive))
    assert busy.returncode == 2 and "in use by another crawl" in busy.stderr
    assert (warc / "a.warc.gz.open").exists()

    (archive / "index.sqlite").write_bytes(b"not a database" * 100)
    broken = archiver("recover", str(archive))
    assert broken.returncode == 1, broken.stderr
    assert "closed a.warc.gz.open as a.warc.gz" in broken.stdout
    assert "not recovered: " in broken.stdout and "archiver reindex" in broken.stdout

    (archive / "index.sqlite").unlink()
    heritrix_warc(warc / "b.warc.gz.open")
    fixed = archiver("recover", "-o", str(archive))
    assert fixed.returncode == 0, fixed.stdout
    assert "the index was missing: rebuilt from the WARC files" in fixed.stdout
    assert len(index_rows(archive, "SELECT * FROM captures")) == 2


def test_verify_says_what_repairs_an_open_file(tmp_path: Path) -> None:
    warc = tmp_path / "warc"
    warc.mkdir()
    heritrix_warc(warc / "a.warc.gz.open")
    result = archiver("verify", str(warc))
    assert result.returncode == 0
    assert "1 file still open: unless a crawl is writing it, `archiver recover DIR`" in (
        result.stdout
    )


@deferred_f_from_coro_f
async def test_unreadable_data_found_by_a_recovery_is_reported_until_repaired(
    site: LocalSite, tmp_path: Path
) -> None:
    archive = await crawled(site, tmp_path, "/page", "/gzip")
    urls = tmp_path / "urls.txt"  # the list crawled() wrote, crawled again below
    # A crawl killed after its file was closed (no end in the index), whose file is then
    # damaged past its first records, as a bad disk would leave it.
    change_index(archive, UNFINISH)
    (closed,) = (archive / "warc").glob("*.warc.gz")
    data = bytearray(closed.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\0" * 64
    closed.write_bytes(bytes(data))

    first = archiver("recover", str(archive))
    assert first.returncode == 1, first.stdout + first.stderr
    # Not forgotten: the crawl keeps no end, so the next recovery reads the file again.
    again = archiver("recover", str(archive))
    assert again.returncode == 1, again.stdout + again.stderr
    assert "nothing to recover" not in again.stdout
    # A crawl into the folder says so in its exit code too.
    crawl = archiver("crawl", str(urls), "-o", str(archive), *FAST)
    assert crawl.returncode == 1, crawl.stderr
    assert "Not recovered in" in crawl.stderr


@deferred_f_from_coro_f
async def test_a_crawl_started_from_python_leaves_a_folder_in_use_alone(
    site: LocalSite, tmp_path: Path
) -> None:
    archive = await crawled(site, tmp_path, "/page")
    opened, _ = simulate_kill(archive)
    before = opened.read_bytes()
    # Another process holds the folder: it may be writing that .open file right now.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from crawler.lock import acquire; "
            "acquire(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)",
            str(archive / "crawl.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        crawler = await run_crawl(archive, write_urls(tmp_path / "other.txt", site.url("/gzip")))
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert opened.read_bytes() == before  # not cut, not renamed
    assert crawler.stats.get_value("archiver/recover/problems") is None
    # Once the folder is free, the next crawl (or recover) repairs it.
    assert recover(Layout(archive)).closed
