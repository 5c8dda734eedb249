"""Real crawls where the text goes wrong: a wrong charset, a cut body, a text folder that
cannot be written. Nothing wrong is written silently and nothing is lost silently."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f

from crawler.extract.convert import convert_record
from crawler.text.document import file_name, parse
from tests.conftest import index_rows, run_crawl, write_urls
from tests.server import response

if TYPE_CHECKING:
    from pathlib import Path

    from tests.server import Handler, LocalSite

FRENCH = (
    "<html><head>{meta}<title>Café naïve</title></head><body><article>"
    + "<p>Le café crème est servi à la terrasse, près de la rivière, chaque matin d'été.</p>" * 4
    + "</article></body></html>"
)
ARTICLE = (
    "<html><head><title>Harbour News {n}</title></head><body><article>"
    + "<p>The harbour reopened on Monday after a week of repairs to the old sea wall, "
    "and the first fishing boats left before dawn, page {n}.</p>" * 8 + "</article></body></html>"
)


def html(site: LocalSite, path: str, body: bytes, content_type: str = "text/html") -> str:
    return site.add(path, lambda h: response("200 OK", [("Content-Type", content_type)], body))


def seeds(archive_dir: Path, crawl_id: int | None = None) -> dict[str, tuple[str, str | None]]:
    where = "" if crawl_id is None else f" WHERE crawl_id = {crawl_id}"
    rows = index_rows(archive_dir, f"SELECT url, outcome, reason FROM seeds{where}")
    return {row["url"]: (row["outcome"], row["reason"]) for row in rows}


def captures(archive_dir: Path, crawl_id: int) -> dict[str, tuple[str, str | None]]:
    rows = index_rows(
        archive_dir,
        "SELECT url, text_outcome, text_reason FROM captures WHERE crawl_id = ? "
        "AND text_outcome IS NOT NULL",
        (crawl_id,),
    )
    return {row["url"]: (row["text_outcome"], row["text_reason"]) for row in rows}


def finish_reasons(archive_dir: Path) -> list[str]:
    return [r["finish_reason"] for r in index_rows(archive_dir, "SELECT * FROM crawls ORDER BY id")]


@deferred_f_from_coro_f
async def test_a_wrongly_declared_charset_is_repaired_live_and_offline(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    latin = {
        "header": html(
            site,
            "/f/cs-header",
            FRENCH.format(meta="").encode("cp1252"),
            "text/html; charset=utf-8",
        ),
        "meta": html(
            site, "/f/cs-meta", FRENCH.format(meta="<meta charset='utf-8'>").encode("cp1252")
        ),
    }
    sound = html(site, "/f/cs-sound", FRENCH.format(meta="").encode(), "text/html; charset=utf-8")
    urls = [*latin.values(), sound]
    await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", *urls))

    note = "declared utf-8, decoded as cp1252"
    for position, url in enumerate(urls):
        text = (archive_dir / "text" / file_name(position, url)).read_text(encoding="utf-8")
        assert "Le café crème est servi à la terrasse" in text, url
        assert "\ufffd" not in text
    assert captures(archive_dir, 1) == {
        latin["header"]: ("written", note),
        latin["meta"]: ("written", note),
        sound: ("written", None),
    }
    assert seeds(archive_dir) == {
        latin["header"]: ("archived", note),
        latin["meta"]: ("archived", note),
        sound: ("archived", None),
    }
    # ``archiver extract`` reads the same record back and makes the same text.
    rows = index_rows(
        archive_dir, "SELECT url, warc_file, warc_offset FROM captures WHERE url = ?", (urls[0],)
    )
    offline = convert_record(
        str(archive_dir / "warc" / rows[0]["warc_file"]),
        rows[0]["warc_offset"],
        url=urls[0],
        original_url=urls[0],
    )
    assert offline.reason == note
    assert offline.text == (archive_dir / "text" / file_name(0, urls[0])).read_text("utf-8")


def _cut_connection(body: bytes, declared: int) -> object:
    def route(handler: Handler) -> bytes:
        handler.close_connection = True  # the server hangs up after the bytes it has
        head = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(declared))]
        return response("200 OK", head, body)

    return route


@deferred_f_from_coro_f
async def test_text_from_a_cut_body_is_written_and_flagged(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    page = ARTICLE.format(n=1).encode()
    compressed = gzip.compress(page * 3, mtime=0)
    gzip_cut = site.add(
        "/f/gzip-cut",
        lambda h: response(
            "200 OK",
            [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
            compressed[: len(compressed) * 2 // 3],
        ),
    )
    disconnect = site.add("/f/disconnect", _cut_connection(page, len(page) + 5000))  # type: ignore[arg-type]
    urls = write_urls(tmp_path / "urls.txt", gzip_cut, disconnect)

    # Scrapy's default (DOWNLOAD_FAIL_ON_DATALOSS): a body cut by the connection is a failure.
    strict = await run_crawl(archive_dir, urls)
    assert strict.stats.get_value("finish_reason") == "finished"
    gzip_note = "text from a truncated body (compressed body cut short)"
    assert captures(archive_dir, 1)[gzip_cut] == ("written", gzip_note)
    entries = seeds(archive_dir, 1)
    assert entries[gzip_cut] == ("archived", gzip_note)
    outcome, reason = entries[disconnect]
    assert outcome == "failed"
    assert reason is not None
    assert reason.startswith("connection closed before the whole body arrived")

    # Accepted when the user says so: archived as WARC-Truncated, its text flagged.
    lenient = tmp_path / "lenient"
    await run_crawl(lenient, urls, DOWNLOAD_FAIL_ON_DATALOSS=False)
    cut_note = (
        "text from a truncated body (the connection closed before the whole body arrived; "
        "WARC-Truncated: disconnect)"
    )
    assert captures(lenient, 1)[disconnect] == ("written", cut_note)
    assert seeds(lenient, 1)[disconnect] == ("archived", cut_note)
    text = parse((lenient / "text" / file_name(1, disconnect)).read_text(encoding="utf-8"))
    assert text.title == "Harbour News 1"
    assert text.paragraphs


def _break_text_folder(archive_dir: Path) -> None:
    """A ``text`` that is a regular file: no text file can be made in it (root or not)."""
    text = archive_dir / "text"
    if text.is_dir():
        shutil.rmtree(text)
    archive_dir.mkdir(parents=True, exist_ok=True)
    text.write_bytes(b"not a folder")


def _mend_text_folder(archive_dir: Path) -> None:
    (archive_dir / "text").unlink()


@deferred_f_from_coro_f
async def test_a_text_file_that_cannot_be_written_stops_the_crawl_and_resume_redoes_it(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    urls = [html(site, f"/f/unwritable/{n}", ARTICLE.format(n=n).encode()) for n in range(3)]
    listing = write_urls(tmp_path / "urls.txt", *urls)
    _break_text_folder(archive_dir)

    first = await run_crawl(archive_dir, listing)
    assert first.stats.get_value("finish_reason") == "archiver_text_write_error"
    assert first.stats.get_value("archiver/text/write_errors") >= 1
    entries = seeds(archive_dir, 1)
    assert entries, "the first page reached the text pipeline"
    for url, (outcome, reason) in entries.items():
        name = file_name(urls.index(url), url)
        expected = f"could not write text file text/{name}: [Errno 17] File exists"
        assert (outcome, reason) == ("incomplete", expected)
        assert captures(archive_dir, 1)[url] == ("failed", expected)
    failures = index_rows(archive_dir, "SELECT url, outcome, reason FROM failures")
    assert {row["url"]: (row["outcome"], row["reason"]) for row in failures} == entries

    # Disk mended: --resume does the incomplete entries again, and the ones never reached.
    _mend_text_folder(archive_dir)
    resumed = await run_crawl(archive_dir, listing, ARCHIVER_RESUME=True)
    assert resumed.stats.get_value("finish_reason") == "finished"
    assert {url: outcome for url, (outcome, _) in seeds(archive_dir, 2).items()} == dict.fromkeys(
        urls, "archived"
    )
    for position, url in enumerate(urls):
        assert parse(
            (archive_dir / "text" / file_name(position, url)).read_text("utf-8")
        ).paragraphs
    assert finish_reasons(archive_dir) == ["archiver_text_write_error", "finished"]


@deferred_f_from_coro_f
async def test_a_revisit_whose_text_file_is_missing_writes_it_again(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    url = html(site, "/f/revisited", ARTICLE.format(n=7).encode())
    listing = write_urls(tmp_path / "urls.txt", url)
    text_file = archive_dir / "text" / file_name(0, url)

    await run_crawl(archive_dir, listing)
    original = text_file.read_bytes()

    # Recrawled (same bytes: a revisit) while text/ cannot be written.
    _break_text_folder(archive_dir)
    broken = await run_crawl(archive_dir, listing)
    assert broken.stats.get_value("finish_reason") == "archiver_text_write_error"
    assert seeds(archive_dir, 2)[url][0] == "incomplete"
    assert captures(archive_dir, 2)[url][0] == "failed"

    # Resumed: the same text again, its file written (not "unchanged, nothing written").
    _mend_text_folder(archive_dir)
    resumed = await run_crawl(archive_dir, listing, ARCHIVER_RESUME=True)
    assert resumed.stats.get_value("finish_reason") == "finished"
    assert seeds(archive_dir, 3) == {url: ("archived", None)}
    rows = index_rows(
        archive_dir,
        "SELECT record_type, text_outcome, text_path FROM captures WHERE crawl_id = 3 AND url = ?",
        (url,),
    )
    assert [tuple(row) for row in rows] == [("revisit", "unchanged", f"text/{text_file.name}")]
    assert text_file.read_bytes() == original


@pytest.fixture
def small_disk(tmp_path: Path) -> object:
    """A 64 KiB tmpfs as the archive's text folder, unmounted after the test."""
    archive_dir = tmp_path / "archives"
    text = archive_dir / "text"
    text.mkdir(parents=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(text)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    yield archive_dir
    subprocess.run(["umount", str(text)], check=False)


@deferred_f_from_coro_f
async def test_a_full_disk_is_a_failure_with_its_reason(
    site: LocalSite, tmp_path: Path, small_disk: Path
) -> None:
    archive_dir = small_disk
    long_article = (
        "<html><head><title>Long read {n}</title></head><body><article>"
        + "".join(
            f"<p>Paragraph {i} of a long read that fills the disk, number {{n}}.</p>"
            for i in range(600)
        )
        + "</article></body></html>"
    )
    urls = [html(site, f"/f/full/{n}", long_article.format(n=n).encode()) for n in range(6)]
    crawler = await run_crawl(
        archive_dir, write_urls(tmp_path / "urls.txt", *urls), CONCURRENT_REQUESTS=1
    )
    assert crawler.stats.get_value("finish_reason") == "archiver_text_write_error"
    entries = seeds(archive_dir, 1)
    full = {url: reason for url, (outcome, reason) in entries.items() if outcome == "incomplete"}
    assert full, entries
    for url, reason in full.items():
        name = file_name(urls.index(url), url)
        assert (
            reason == f"could not write text file text/{name}: [Errno 28] No space left on device"
        )
    # What was written is whole; what was not left nothing behind.
    files = sorted(p.name for p in (archive_dir / "text").iterdir())
    assert not [name for name in files if name.endswith(".tmp")]
    for name in files:
        assert parse((archive_dir / "text" / name).read_text("utf-8")).paragraphs
    archived = [url for url, (outcome, _) in entries.items() if outcome == "archived"]
    assert sorted(file_name(urls.index(url), url) for url in archived) == files
