"""``archiver reindex``: every table of the index comes back from the WARC files alone."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

from scrapy.utils.defer import deferred_f_from_coro_f
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.layout import Layout
from crawler.lock import acquire
from crawler.reindex import reindex
from crawler.text.document import Document, render
from crawler.warc.reader import ReadProblem, iter_records
from crawler.warc.records import CRAWL_FIELD
from tests.conftest import archiver, index_rows, run_crawl, write_urls
from tests.server import LocalSite
from tests.warc_reading import read_archive

Tables = dict[str, Any]


def dump(archive_dir: Path) -> Tables:
    """Every table, with capture row ids replaced by the record ids they stand for."""
    db = sqlite3.connect(archive_dir / "index.sqlite")
    db.row_factory = sqlite3.Row
    try:
        record_of = {row["id"]: row["record_id"] for row in db.execute("SELECT * FROM captures")}
        crawls = {row["id"]: dict(row) for row in db.execute("SELECT * FROM crawls")}
        captures = {
            row["record_id"]: {k: row[k] for k in row.keys() if k != "id"}  # noqa: SIM118
            for row in db.execute("SELECT * FROM captures")
        }
        seeds: dict[int, list[dict[str, Any]]] = {}
        for row in db.execute("SELECT * FROM seeds ORDER BY rowid"):
            seed = dict(row)
            seed["capture_id"] = record_of.get(seed["capture_id"])
            seeds.setdefault(seed["crawl_id"], []).append(seed)
        failures = sorted(tuple(row) for row in db.execute("SELECT * FROM failures ORDER BY rowid"))
        return {"crawls": crawls, "captures": captures, "seeds": seeds, "failures": failures}
    finally:
        db.close()


def corpus_folder(tmp_path: Path, site: LocalSite) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, path in (("alpha.txt", "/page"), ("beta.txt", "/gzip"), ("gamma.txt", "/page")):
        doc = Document(title="Old", paragraphs=["Old text."], url=site.url(path))
        (corpus / name).write_text(render(doc), encoding="utf-8")
    return corpus


async def two_crawls(site: LocalSite, tmp_path: Path, archive_dir: Path) -> None:
    urls = write_urls(
        tmp_path / "urls.txt",
        site.url("/page"),
        site.url("/redirect/1"),
        site.url("/missing"),
        site.url("/binary"),
        site.url("/private/secret"),
        "not a url at all",
        site.url("/page"),
    )
    await run_crawl(archive_dir, urls)
    await run_crawl(archive_dir, corpus_folder(tmp_path, site))


def heritrix_warc(path: Path) -> dict[str, str]:
    """A foreign WARC in Heritrix's order: warcinfo, response, then its request, metadata."""
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True, warc_version="WARC/1.0")
        info = writer.create_warcinfo_record(
            path.name, {"software": "Heritrix/3.4.0", "isPartOf": "elsewhere"}
        )
        writer.write_record(info)
        body = b"<html><body><p>Elsewhere.</p></body></html>"
        head = StatusAndHeaders(
            "200 OK",
            [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
            protocol="HTTP/1.1",
        )
        response = writer.create_warc_record(
            "http://elsewhere.example/a?b=2&a=1",
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=head,
        )
        writer.write_record(response)
        response_id = response.rec_headers.get_header("WARC-Record-ID")
        request = writer.create_warc_record(
            "http://elsewhere.example/a?b=2&a=1",
            "request",
            payload=io.BytesIO(b""),
            length=0,
            http_headers=StatusAndHeaders(
                "GET /a?b=2&a=1 HTTP/1.1", [("Host", "elsewhere.example")], is_http_request=True
            ),
            warc_headers_dict={"WARC-Concurrent-To": response_id},
        )
        writer.write_record(request)
        metadata = writer.create_warc_record(
            "http://elsewhere.example/a?b=2&a=1",
            "metadata",
            payload=io.BytesIO(b"via: http://elsewhere.example/\r\n"),
            length=32,
            warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Concurrent-To": response_id},
        )
        writer.write_record(metadata)
    return {
        "response": response_id,
        "request": request.rec_headers.get_header("WARC-Record-ID"),
    }


@deferred_f_from_coro_f
async def test_a_reindexed_archive_gives_the_same_answers(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    await two_crawls(site, tmp_path, archive_dir)
    original = dump(archive_dir)
    # The crawl covers every outcome, so the comparison below covers every kind of row.
    outcomes = {s["outcome"] for rows in original["seeds"].values() for s in rows}
    assert outcomes == {"archived", "failed", "forbidden", "invalid", "duplicate"}
    assert sorted(original["crawls"]) == [1, 2]
    assert any(c["text_outcome"] == "written" for c in original["captures"].values())
    assert any(c["text_outcome"] == "not_html" for c in original["captures"].values())
    assert any(s["document"] == "gamma.txt" for s in original["seeds"][2])
    cdxj_after_crawl = (archive_dir / "indexes" / "index.cdxj").read_text(encoding="utf-8")
    # The archiver's own records never take a page's URI: replay tools would serve them.
    ours = [r for r in read_archive(archive_dir) if r.type in ("metadata", "conversion")]
    assert all(
        r.url and r.url.startswith("urn:")
        for r in ours
        if r.header("Content-Type") != "application/warc-fields"
    )
    seed_records = [r for r in ours if (r.url or "").startswith("urn:archiver:seed:")]
    assert len(seed_records) == sum(len(rows) for rows in original["seeds"].values())

    (archive_dir / "index.sqlite").unlink()
    (archive_dir / "indexes" / "index.cdxj").unlink()
    report = reindex(Layout(archive_dir))

    assert report.ok and not report.problems and not report.foreign_files
    rebuilt = dump(archive_dir)
    assert rebuilt["crawls"] == original["crawls"]
    assert rebuilt["captures"] == original["captures"]
    assert rebuilt["seeds"] == original["seeds"]
    assert rebuilt["failures"] == original["failures"]
    assert (report.crawls, report.captures) == (2, len(original["captures"]))
    # The CDXJ written from the index at the end of the crawl equals the one from the files.
    assert (archive_dir / "indexes" / "index.cdxj").read_text(encoding="utf-8") == cdxj_after_crawl


@deferred_f_from_coro_f
async def test_a_foreign_warc_becomes_a_crawl_of_its_own(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", site.url("/page")))
    original = dump(archive_dir)
    ids = heritrix_warc(archive_dir / "warc" / "zz-heritrix.warc.gz")

    result = archiver("reindex", str(archive_dir))

    assert result.returncode == 0, result.stderr
    assert "files: 2 (1 foreign)" in result.stdout
    rebuilt = dump(archive_dir)
    assert rebuilt["crawls"][1] == original["crawls"][1]
    foreign = rebuilt["crawls"][2]
    assert (foreign["spider"], foreign["input"], foreign["finish_reason"]) == (
        "import",
        "zz-heritrix.warc.gz",
        "imported",
    )
    assert json.loads(foreign["settings"])["warcinfo"]["software"] == "Heritrix/3.4.0"
    capture = rebuilt["captures"].pop(ids["response"])
    assert rebuilt["captures"] == original["captures"]
    assert (capture["crawl_id"], capture["urlkey"], capture["status"], capture["mime"]) == (
        2,
        "example,elsewhere)/a?a=1&b=2",
        200,
        "text/html",
    )
    assert capture["request_record_id"] == ids["request"]  # named by the request, after it
    cdxj = (archive_dir / "indexes" / "index.cdxj").read_text(encoding="utf-8")
    assert "example,elsewhere)/a?a=1&b=2 " in cdxj


@deferred_f_from_coro_f
async def test_an_archive_without_metadata_records_still_reindexes(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    """Archives written before crawl, seed and text records: what the records still give."""
    await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", site.url("/page")))
    original = dump(archive_dir)
    for path in (archive_dir / "warc").iterdir():
        strip_archiver_records(path)
    # The seeds exist in no record: the index in place is kept, the rebuilt one left beside it.
    kept = reindex(Layout(archive_dir))
    assert kept.kept_old is not None and "seeds (0 < 1)" in kept.kept_old
    assert not kept.ok
    assert dump(archive_dir) == original
    assert Layout(archive_dir).reindexed.is_file()
    report = reindex(Layout(archive_dir), force=True)
    assert report.kept_old is None
    rebuilt = dump(archive_dir)
    assert sorted(rebuilt["crawls"]) == [1] and rebuilt["crawls"][1]["spider"] == "urls"
    assert rebuilt["seeds"] == {}
    text_columns = ("text_outcome", "title", "site_name", "published", "text_chars")
    for record_id, capture in original["captures"].items():
        again = rebuilt["captures"][record_id]
        if capture["text_outcome"] == "written":
            assert [again[c] for c in text_columns] == [capture[c] for c in text_columns]
            assert again["conversion_record_id"] == capture["conversion_record_id"]
        plain = {k: v for k, v in capture.items() if not _text_column(k)}
        assert {k: v for k, v in again.items() if not _text_column(k)} == plain
    assert any("crawls written before crawl records" in n for n in report.unrecovered)
    assert any("from conversion records alone" in n for n in report.unrecovered)


def _text_column(name: str) -> bool:
    """Columns the old records cannot give (and the location, moved by the rewrite)."""
    return name.startswith(("text_", "warc_offset", "warc_length")) or name in (
        "title",
        "published",
        "site_name",
        "author",
        "language",
        "conversion_record_id",
    )


def strip_archiver_records(path: Path) -> None:
    """Rewrite a WARC file as the archiver wrote it before its JSON metadata records.

    Records are copied byte for byte (one gzip member each); the warcinfo loses
    its crawl field.
    """
    data = path.read_bytes()
    kept = io.BytesIO()
    for record in iter_records(path):
        assert not isinstance(record, ReadProblem)
        if record.record_type == "metadata" and record.url.startswith("urn:archiver:"):
            continue
        if record.record_type == "warcinfo":
            lines = record.payload.decode().splitlines()
            block = "".join(f"{line}\r\n" for line in lines if not line.startswith(CRAWL_FIELD))
            writer = WARCWriter(kept, gzip=True, warc_version="WARC/1.1")
            info = writer.create_warc_record(
                "",
                "warcinfo",
                payload=io.BytesIO(block.encode()),
                length=len(block.encode()),
                warc_content_type="application/warc-fields",
                warc_headers_dict={"WARC-Filename": path.name},
            )
            writer.write_record(info)
            continue
        kept.write(data[record.offset : record.offset + record.length])
    path.write_bytes(kept.getvalue())


@deferred_f_from_coro_f
async def test_a_replay_into_another_folder_reindexes(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    """Its captures point at the other archive's files: the rows themselves are archived."""
    urls = write_urls(tmp_path / "urls.txt", site.url("/page"), site.url("/missing"))
    await run_crawl(archive_dir, urls)
    out = tmp_path / "out"
    await run_crawl(out, urls, ARCHIVER_REPLAY=str(archive_dir))
    original = dump(out)
    assert original["captures"] and original["seeds"][1]
    cdxj = (out / "indexes" / "index.cdxj").read_bytes()
    (out / "index.sqlite").unlink()
    reindex(Layout(out))
    assert dump(out) == original
    assert (out / "indexes" / "index.cdxj").read_bytes() == cdxj


def test_reindex_of_a_missing_folder_exits_2(tmp_path: Path) -> None:
    result = archiver("reindex", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "no such folder" in result.stderr


def test_an_unreadable_file_is_reported_and_the_rest_indexed(tmp_path: Path) -> None:
    warc = tmp_path / "archives" / "warc"
    warc.mkdir(parents=True)
    ids = heritrix_warc(warc / "a.warc.gz")
    damaged = warc / "b.warc.gz"
    whole = (warc / "a.warc.gz").read_bytes()
    damaged.write_bytes(whole[:-10] + b"\x00garbage" * 8)  # the last gzip member broken
    result = archiver("reindex", str(tmp_path / "archives"))
    assert result.returncode == 1
    assert "unreadable: " in result.stdout and "b.warc.gz at offset " in result.stdout
    rows = index_rows(tmp_path / "archives", "SELECT record_id FROM captures")
    assert ids["response"] in {row["record_id"] for row in rows}


@deferred_f_from_coro_f
async def test_a_killed_crawls_open_file_is_indexed_and_a_busy_folder_refused(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", site.url("/page")))
    (warc,) = (archive_dir / "warc").glob("*.warc.gz")
    # What a crawl killed before closing its file leaves: the records under the .open name.
    opened = warc.with_name(warc.name + ".open")
    warc.rename(opened)
    (archive_dir / "index.sqlite").unlink()
    report = reindex(Layout(archive_dir))
    assert report.ok, report.render()
    files = {row["warc_file"] for row in index_rows(archive_dir, "SELECT * FROM captures")}
    assert files == {opened.name}  # rows point at the file that is there
    assert index_rows(archive_dir, "SELECT COUNT(*) AS n FROM seeds")[0]["n"] == 1

    holder = acquire(Layout(archive_dir).lock)
    try:
        busy = archiver("reindex", str(archive_dir))
    finally:
        holder.release()
    assert busy.returncode == 2, busy.stderr
    assert "in use by another crawl" in busy.stderr
