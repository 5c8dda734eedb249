"""Recrawls: conditional requests, revisit records, text history and the crawl-end counts.

Three crawls of the same list in a row, in process, against a local site whose
pages answer 304 to validators, change bytes but not text, change text, or
stay byte for byte the same.
"""

from __future__ import annotations

import gzip
import json
import logging
import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f

from crawler.cdxj import write_cdxj
from crawler.index import SCHEMA_VERSION, Index
from crawler.layout import Layout
from crawler.reindex import reindex
from crawler.text.document import file_name
from crawler.warc.records import REVISIT_PROFILE_URI
from tests.conftest import FAST, archiver, index_rows, run_crawl, write_urls
from tests.recrawl_site import ETAG, HTML, LAST_MODIFIED, PATHS, RecrawlRoutes, article, paragraphs
from tests.server import LocalSite, response
from tests.test_reindex import dump
from tests.warc_reading import Record, read_archive, read_warc

if TYPE_CHECKING:
    from pathlib import Path

    from tests.server import Handler


def by_crawl(archive_dir: Path) -> dict[int, list[Record]]:
    """The records of each crawl's WARC files (one file per crawl here), in order."""
    files = sorted((archive_dir / "warc").glob("*.warc.gz"))
    return {number: read_warc(path) for number, path in enumerate(files, start=1)}


def pages(records: list[Record], kind: str) -> dict[str, Record]:
    """The records of ``kind`` by page name (``etag``...), robots.txt left out."""
    named = {(r.url or "").rsplit("/", 1)[-1]: r for r in records if r.type == kind}
    return {name: r for name, r in named.items() if name != "robots.txt"}


def heard(site: LocalSite, since: int) -> dict[str, dict[str, list[str]]]:
    """The request headers the server saw for each path, from request ``since`` on."""
    return {path: headers for path, headers in site.requests[since:] if path in PATHS}


def changes(crawler: Any) -> dict[str, int]:
    stats = crawler.stats.get_stats()
    prefix = "archiver/changes/"
    return {k.removeprefix(prefix): v for k, v in stats.items() if k.startswith(prefix)}


@deferred_f_from_coro_f
async def test_three_crawls_keep_what_changed_and_refer_to_the_rest(
    tmp_path: Path, archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = LocalSite().start()
    routes = RecrawlRoutes()
    urls = routes.install(site)
    listing = write_urls(tmp_path / "urls.txt", *urls.values())
    text_dir = archive_dir / "text"
    try:
        first = await run_crawl(archive_dir, listing)
        assert changes(first) == {
            "new": 5, "changed": 0, "unchanged": 0, "failed": 0, "not_due": 0
        }  # fmt: skip
        texts = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in text_dir.iterdir()}
        assert len(texts) == 5

        asked = len(site.requests)
        second = await run_crawl(archive_dir, listing)
        sent = heard(site, asked)
        routes.version = 2
        asked = len(site.requests)
        with caplog.at_level(logging.INFO, logger="crawler.extensions.report"):
            third = await run_crawl(archive_dir, listing)
        sent_third = heard(site, asked)
    finally:
        site.stop()

    # The validators of the last good capture went out; pages without any got none.
    assert sent["/etag"]["if-none-match"] == [ETAG]
    assert sent["/modified"]["if-modified-since"] == [LAST_MODIFIED]
    assert "if-none-match" not in sent["/modified"]
    for path in ("/token", "/article", "/static"):
        assert not {"if-none-match", "if-modified-since"} & set(sent[path]), path
    # After a 304, the next crawl asks again with the original's validators.
    assert sent_third["/etag"]["if-none-match"] == [ETAG]

    records = by_crawl(archive_dir)
    assert len(records) == 3
    originals = pages(records[1], "response")
    assert set(originals) == {"etag", "modified", "token", "article", "static"}
    # Crawl 2: revisits for all but the page whose bytes changed; no new bodies, no text.
    revisits = pages(records[2], "revisit")
    assert set(revisits) == {"etag", "modified", "article", "static"}
    assert set(pages(records[2], "response")) == {"token"}
    assert not [r for r in records[2] if r.type == "conversion"]
    profiles = {name: r.header("WARC-Profile") for name, r in revisits.items()}
    assert profiles == {
        "etag": REVISIT_PROFILE_URI + "server-not-modified",
        "modified": REVISIT_PROFILE_URI + "server-not-modified",
        "article": REVISIT_PROFILE_URI + "identical-payload-digest",
        "static": REVISIT_PROFILE_URI + "identical-payload-digest",
    }
    # Crawl 3: the revisits still name crawl 1's responses, never crawl 2's revisits.
    third_revisits = pages(records[3], "revisit")
    assert set(third_revisits) == {"etag", "modified", "static"}
    for name, revisit in [*revisits.items(), *third_revisits.items()]:
        original = originals[name]
        assert revisit.header("WARC-Refers-To") == original.id, name
        assert revisit.header("WARC-Refers-To-Target-URI") == original.url, name
        assert revisit.header("WARC-Refers-To-Date") == original.header("WARC-Date"), name
        assert revisit.header("WARC-Payload-Digest") == original.header("WARC-Payload-Digest")
        assert revisit.header("WARC-Truncated") == "length", name
        # The block is the head alone: what the server said, without the body again.
        assert revisit.payload == b"", name
    assert revisits["etag"].first_line.startswith("HTTP/1.1 304")
    assert revisits["static"].first_line.startswith("HTTP/1.1 200")

    # An unchanged recrawl stores far fewer bytes: heads instead of bodies.
    sizes = {
        crawl: sum(r.length for r in recs if r.type in ("response", "revisit"))
        for crawl, recs in records.items()
    }
    assert sizes[2] < sizes[1] * 0.4, sizes

    # Text: untouched in crawl 2 (the token page's text did not change), the latest in crawl 3.
    rows = index_rows(
        archive_dir,
        "SELECT c.crawl_id, c.url, c.record_type, c.status, c.text_outcome, c.text_reason, "
        "c.conversion_record_id, c.text_digest, s.outcome FROM captures c "
        "JOIN seeds s ON s.capture_id = c.id WHERE c.url NOT LIKE '%robots.txt' ORDER BY c.id",
    )
    second_rows = {r["url"].rsplit("/", 1)[-1]: r for r in rows if r["crawl_id"] == 2}
    first_rows = {r["url"].rsplit("/", 1)[-1]: r for r in rows if r["crawl_id"] == 1}
    for name, row in second_rows.items():
        assert row["outcome"] == "archived", name
        assert row["text_outcome"] == "unchanged", name
        # It refers to the version it repeats.
        assert row["conversion_record_id"] == first_rows[name]["conversion_record_id"], name
        assert row["text_digest"] == first_rows[name]["text_digest"], name
        assert "text version 1" in row["text_reason"], name
    assert second_rows["etag"]["record_type"] == "revisit"
    assert second_rows["etag"]["status"] == 304
    assert second_rows["token"]["text_reason"] == "same text as text version 1"
    third_rows = {r["url"].rsplit("/", 1)[-1]: r for r in rows if r["crawl_id"] == 3}
    assert third_rows["article"]["text_outcome"] == "written"
    assert third_rows["article"]["text_digest"] != first_rows["article"]["text_digest"]
    conversions = [r for r in records[3] if r.type == "conversion"]
    assert len(conversions) == 1 and b"revision number 2" in conversions[0].payload
    assert conversions[0].id == third_rows["article"]["conversion_record_id"]
    assert conversions[0].header("WARC-Refers-To") == pages(records[3], "response")["article"].id
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in text_dir.iterdir()}
    changed = [name for name in after if after[name] != texts[name]]
    assert len(changed) == 1
    assert b"revision number 2" in after[changed[0]][0]

    # The counts: in the stats, in the index's crawls row, in the log.
    assert changes(second)["unchanged"] == 5
    assert changes(third) == {
        "new": 0, "changed": 1, "unchanged": 4, "failed": 0, "not_due": 0
    }  # fmt: skip
    stats = index_rows(archive_dir, "SELECT stats FROM crawls WHERE id = 3")[0]["stats"]
    assert '"archiver/changes/changed": 1' in stats
    assert "Crawl-end counts: 0 new, 1 changed, 4 unchanged, 0 failed, 0 not due" in caplog.text


@deferred_f_from_coro_f
async def test_failures_are_counted_with_their_reasons(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    listing = write_urls(
        tmp_path / "urls.txt", site.url("/page"), site.url("/missing"), site.url("/missing?2")
    )
    crawler = await run_crawl(archive_dir, listing)
    stats = crawler.stats.get_stats()
    assert stats["archiver/changes/new"] == 1
    assert stats["archiver/changes/failed"] == 2
    assert stats["archiver/changes/failed/HTTP 404 Not Here"] == 2


@deferred_f_from_coro_f
async def test_conditional_requests_can_be_switched_off(tmp_path: Path, archive_dir: Path) -> None:
    site = LocalSite().start()
    urls = RecrawlRoutes().install(site)
    listing = write_urls(tmp_path / "urls.txt", urls["/etag"])
    try:
        await run_crawl(archive_dir, listing)
        asked = len(site.requests)
        await run_crawl(archive_dir, listing, ARCHIVER_CONDITIONAL_ENABLED=False)
        sent = heard(site, asked)
    finally:
        site.stop()
    assert "if-none-match" not in sent["/etag"]
    # The same bytes again: an identical-payload revisit all the same.
    kinds = [r["record_type"] for r in index_rows(archive_dir, "SELECT * FROM captures")]
    assert kinds.count("revisit") >= 1


@deferred_f_from_coro_f
async def test_due_fetches_only_urls_captured_longer_ago(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    old, fresh = site.url("/page"), site.url("/gzip")
    await run_crawl(archive_dir, write_urls(tmp_path / "one.txt", fresh))
    db = sqlite3.connect(archive_dir / "index.sqlite")
    with db:
        db.execute("UPDATE captures SET fetched_at = '2020-01-01T00:00:00.000000Z'")
    db.close()
    await run_crawl(archive_dir, write_urls(tmp_path / "one.txt", fresh))
    asked = len(site.requests)
    listing = write_urls(tmp_path / "two.txt", old, fresh)
    crawler = await run_crawl(archive_dir, listing, ARCHIVER_DUE="6h")
    fetched = [path for path, _ in site.requests[asked:] if path != "/robots.txt"]
    assert fetched == ["/page"]
    seeds = index_rows(archive_dir, "SELECT url, outcome, reason FROM seeds WHERE crawl_id = 3")
    outcome = {row["url"]: (row["outcome"], row["reason"]) for row in seeds}
    assert outcome[old][0] == "archived"
    assert outcome[fresh][0] == "not_due"
    assert outcome[fresh][1].startswith("captured 20")
    assert outcome[fresh][1].endswith("Z, due after 6h")
    assert crawler.stats.get_value("archiver/changes/not_due") == 1
    # Not a failure: the failures view leaves it out.
    assert not index_rows(archive_dir, "SELECT * FROM failures WHERE crawl_id = 3")


def test_due_on_the_command_line(site: LocalSite, tmp_path: Path) -> None:
    root = tmp_path / "archives"
    listing = write_urls(tmp_path / "urls.txt", site.url("/page"))
    assert archiver("crawl", str(listing), "-o", str(root), *FAST).returncode == 0
    result = archiver("crawl", str(listing), "-o", str(root), "--due", "1d", *FAST)
    assert result.returncode == 0, result.stderr
    assert "0 new, 0 changed, 0 unchanged, 0 failed, 1 not due" in result.stderr
    bad = archiver("crawl", str(listing), "-o", str(root), "--due", "6", *FAST)
    assert bad.returncode == 2
    assert "ARCHIVER_DUE" in bad.stderr


@deferred_f_from_coro_f
async def test_an_archive_with_revisits_and_text_versions_reindexes_the_same(
    tmp_path: Path, archive_dir: Path
) -> None:
    site = LocalSite().start()
    routes = RecrawlRoutes()
    listing = write_urls(tmp_path / "urls.txt", *routes.install(site).values())
    try:
        await run_crawl(archive_dir, listing)
        await run_crawl(archive_dir, listing)
        routes.version = 2
        await run_crawl(archive_dir, listing)
    finally:
        site.stop()
    original = dump(archive_dir)
    cdxj = (archive_dir / "indexes" / "index.cdxj").read_text(encoding="utf-8")
    assert {c["record_type"] for c in original["captures"].values()} == {"response", "revisit"}
    (archive_dir / "index.sqlite").unlink()
    (archive_dir / "indexes" / "index.cdxj").unlink()
    report = reindex(Layout(archive_dir))
    assert report.ok
    rebuilt = dump(archive_dir)
    assert rebuilt["captures"] == original["captures"]
    assert rebuilt["seeds"] == original["seeds"]
    assert rebuilt["crawls"] == original["crawls"]
    assert (archive_dir / "indexes" / "index.cdxj").read_text(encoding="utf-8") == cdxj
    # The archive stays clean for the checker, revisits (WARC-Truncated: length) included.
    result = archiver("verify", str(archive_dir / "warc"))
    assert result.returncode == 0, result.stdout
    assert any(r.type == "revisit" for r in read_archive(archive_dir))


V2_COLUMNS = ("etag", "last_modified", "refers_to", "text_digest", "text_words")


def make_schema_1(path: Path) -> None:
    """An index as the previous release wrote it (schema 1), with one capture."""
    Index(path).close()
    # Schema 1 as the previous release wrote it: without the columns of schema 2.
    db = sqlite3.connect(path)
    with db:
        db.execute("DROP INDEX captures_url")
        db.execute("DROP VIEW failures")
        for column in V2_COLUMNS:
            db.execute(f"ALTER TABLE captures DROP COLUMN {column}")
        db.execute(
            "CREATE VIEW failures AS SELECT crawl_id, url, source, line, document, outcome, "
            "reason FROM seeds WHERE outcome NOT IN ('archived', 'duplicate')"
        )
        db.execute(
            "INSERT INTO crawls (id, started_at, spider, settings) VALUES (1, 'then', 'urls', '{}')"
        )
        db.execute(
            "INSERT INTO captures (crawl_id, url, urlkey, fetched_at, record_type, status, "
            "payload_digest, warc_file, warc_offset, warc_length, record_id, text_outcome) "
            "VALUES (1, 'http://a/', 'a)/', '2026-01-01T00:00:00Z', 'response', 200, 'sha1:X', "
            "'a.warc.gz', 10, 20, '<urn:uuid:1>', 'written')"
        )
        db.execute("PRAGMA user_version=1")
    db.close()


def test_an_index_of_schema_1_opens_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    make_schema_1(path)
    index = Index(path)
    last = index.last_good("http://a/")
    index.close()
    assert last is not None and last.record_id == "<urn:uuid:1>" and last.warc_offset == 10
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        columns = {row[1] for row in db.execute("PRAGMA table_info(captures)")}
        assert set(V2_COLUMNS) <= columns
        row = db.execute("SELECT url, status, text_outcome, etag FROM captures").fetchone()
        assert row == ("http://a/", 200, "written", None)
    finally:
        db.close()


def test_processes_opening_an_old_index_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    make_schema_1(path)
    # Half-migrated by an older migration that was cut short: the column is there already.
    db = sqlite3.connect(path)
    with db:
        db.execute("ALTER TABLE captures ADD COLUMN etag TEXT")
    db.close()
    code = "import sys; from pathlib import Path; from crawler.index import Index; " + (
        "Index(Path(sys.argv[1])).close()"
    )
    opening = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for process in opening:
        _, errors = process.communicate(timeout=60)
        assert process.returncode == 0, errors
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT COUNT(*) FROM captures").fetchone()[0] == 1
    finally:
        db.close()


@deferred_f_from_coro_f
async def test_a_304_gives_the_spider_the_archived_page(tmp_path: Path, archive_dir: Path) -> None:
    """A 304 answered with the archived original: decoded like a download, text made anew."""
    site = LocalSite().start()
    html = article("Compressed tagged page", paragraphs("compressed"))

    def tagged_gzip(handler: Handler) -> bytes:
        if handler.headers.get("If-None-Match") == ETAG:
            return response("304 Not Modified", [("ETag", ETAG)], b"")
        headers = [*HTML, ("Content-Encoding", "gzip"), ("ETag", ETAG)]
        return response("200 OK", headers, gzip.compress(html, mtime=0))

    url = site.add("/tagged.gz", tagged_gzip)
    listing = write_urls(tmp_path / "urls.txt", url)
    try:
        await run_crawl(archive_dir, listing)
        text_file = next((archive_dir / "text").iterdir())
        written = text_file.read_bytes()
        # Without its text file, the page's text must come from the archived original.
        text_file.unlink()
        crawler = await run_crawl(archive_dir, listing)
    finally:
        site.stop()
    assert crawler.stats.get_value("archiver/conditional/not_modified") == 1
    assert text_file.read_bytes() == written
    row = index_rows(
        archive_dir, "SELECT record_type, status, text_outcome FROM captures WHERE crawl_id = 2"
    )
    assert [tuple(r) for r in row if r["status"] == 304] == [("revisit", 304, "unchanged")]
    # No second conversion record: the text is the same version.
    conversions = [r for r in read_archive(archive_dir) if r.type == "conversion"]
    assert len(conversions) == 1


@deferred_f_from_coro_f
async def test_validators_never_follow_a_redirect(tmp_path: Path, archive_dir: Path) -> None:
    """A page that moves: the target gets no validators of the old URL, and its own page."""
    site = LocalSite().start()
    moved = False
    old_page = article("Old home", paragraphs("old home"))
    new_page = article("New home", paragraphs("new home"))

    def old_home(handler: Handler) -> bytes:
        if moved:
            return response("301 Moved Permanently", [("Location", "/new-home")], b"")
        return response("200 OK", [*HTML, ("Last-Modified", LAST_MODIFIED)], old_page)

    def new_home(handler: Handler) -> bytes:
        # A server that would answer the old URL's date with a 304.
        if handler.headers.get("If-Modified-Since") == LAST_MODIFIED:
            return response("304 Not Modified", [], b"")
        return response("200 OK", HTML, new_page)

    site.add("/old-home", old_home)
    site.add("/new-home", new_home)
    listing = write_urls(tmp_path / "urls.txt", site.url("/old-home"))
    try:
        await run_crawl(archive_dir, listing)
        moved = True
        asked = len(site.requests)
        await run_crawl(archive_dir, listing)
        sent = {path: headers for path, headers in site.requests[asked:]}
        # --due follows the redirect: the input's capture is the new home's.
        asked = len(site.requests)
        await run_crawl(archive_dir, listing, ARCHIVER_DUE="1h")
        due_fetches = [p for p, _ in site.requests[asked:] if p != "/robots.txt"]
    finally:
        site.stop()
    assert "if-modified-since" in sent["/old-home"]
    assert "if-modified-since" not in sent["/new-home"]
    new = index_rows(
        archive_dir, "SELECT record_type, status, title FROM captures WHERE url LIKE '%/new-home'"
    )
    assert [tuple(row) for row in new] == [("response", 200, "New home")]
    (text,) = (archive_dir / "text").glob("*.txt")
    assert "# New home" in text.read_text(encoding="utf-8")
    assert due_fetches == []


@deferred_f_from_coro_f
async def test_a_revisit_repeats_the_text_of_the_capture_it_stands_for(
    tmp_path: Path, archive_dir: Path
) -> None:
    """Text, then no text, then the same bytes again; and a file named by another input."""
    site = LocalSite().start()
    state = {"body": article("Flip page", paragraphs("flip"))}
    site.add("/flip", lambda handler: response("200 OK", HTML, state["body"]))
    other = site.add(
        "/other", lambda handler: response("200 OK", HTML, article("Other", paragraphs("other")))
    )
    flip = site.url("/flip")
    alone = write_urls(tmp_path / "alone.txt", flip)
    try:
        await run_crawl(archive_dir, alone)  # text version 1, in 000_...
        state["body"] = b"<html><head><title>Gone</title></head><body></body></html>"
        await run_crawl(archive_dir, alone)  # new bytes, no text
        await run_crawl(archive_dir, alone)  # the same bytes: a revisit of a page with no text
        rows = index_rows(
            archive_dir,
            "SELECT crawl_id, record_type, text_outcome FROM captures "
            "WHERE url = ? ORDER BY crawl_id",
            (flip,),
        )
        assert [tuple(r) for r in rows] == [
            (1, "response", "written"),
            (2, "response", "empty"),
            (3, "revisit", "empty"),  # not "unchanged" as text version 1
        ]

        # Text version 2 is written under the name another input gives the page ...
        state["body"] = article("Flip page", paragraphs("flip", "Now with a new ending."))
        await run_crawl(archive_dir, write_urls(tmp_path / "two.txt", other, flip))
        # ... and the first input's file, still version 1, is brought up to date.
        await run_crawl(archive_dir, alone)
    finally:
        site.stop()
    first = archive_dir / "text" / file_name(0, flip)
    second = archive_dir / "text" / file_name(1, flip)
    assert "Now with a new ending." in second.read_text(encoding="utf-8")
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8")


@deferred_f_from_coro_f
async def test_a_304_moment_replays_as_the_page_whatever_the_file_order(
    tmp_path: Path, archive_dir: Path
) -> None:
    site = LocalSite().start()
    urls = RecrawlRoutes().install(site)
    listing = write_urls(tmp_path / "urls.txt", urls["/etag"])
    try:
        # File names that sort the second crawl's file (with the 304) first.
        await run_crawl(archive_dir, listing, ARCHIVER_WARC_PREFIX="zz")
        await run_crawl(archive_dir, listing, ARCHIVER_WARC_PREFIX="aa")
    finally:
        site.stop()
    lines = write_cdxj(Layout(archive_dir)).read_text(encoding="utf-8").splitlines()
    etag = [json.loads(line.split(" ", 2)[2]) for line in lines if "/etag" in line]
    assert len(etag) == 2  # both moments
    assert all(fields["status"] == "200" for fields in etag)
    assert {fields["filename"][:2] for fields in etag} == {"zz"}  # both at the original


@deferred_f_from_coro_f
async def test_a_replays_rows_of_another_archive_are_no_base_for_revisits(
    tmp_path: Path,
) -> None:
    site = LocalSite().start()
    urls = RecrawlRoutes().install(site)
    listing = write_urls(tmp_path / "urls.txt", urls["/etag"])
    source, replayed = tmp_path / "source", tmp_path / "replayed"
    try:
        await run_crawl(source, listing)
        await run_crawl(replayed, listing, ARCHIVER_REPLAY=str(source))
        asked = len(site.requests)
        await run_crawl(replayed, listing)
        sent = heard(site, asked)
    finally:
        site.stop()
    # The replay's row points at the source archive: nothing of this folder to refer to.
    assert "if-none-match" not in sent["/etag"]
    kinds = index_rows(
        replayed, "SELECT record_type FROM captures WHERE crawl_id = 2 AND url LIKE '%/etag'"
    )
    assert [row["record_type"] for row in kinds] == ["response"]
