"""Crawls through the less travelled paths: other hosts, rotation, corpus duplicates, fallbacks."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from scrapy.utils.defer import deferred_f_from_coro_f

from crawler.text.document import Document, file_name, parse, render
from crawler.warc.verify import render_report, verify_paths
from tests.conftest import index_rows, run_crawl, write_urls
from tests.server import PAGE, LocalSite, response
from tests.test_failures import closed_port
from tests.warc_reading import read_archive


@deferred_f_from_coro_f
async def test_a_redirect_to_another_host(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    other = site.base.replace("127.0.0.1", "localhost")
    start = site.add(
        "/hop/away", lambda h: response("302 Found", [("Location", f"{other}/page")], b"")
    )
    await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", start))
    responses = {r.url for r in read_archive(archive_dir) if r.type == "response"}
    # Each host's robots.txt is fetched and archived, then the page itself.
    assert {f"{site.base}/robots.txt", f"{other}/robots.txt", start, f"{other}/page"} <= responses
    doc = parse((archive_dir / "text" / file_name(0, start)).read_text(encoding="utf-8"))
    assert doc.url == start
    (seed,) = index_rows(archive_dir, "SELECT * FROM seeds")
    assert (seed["outcome"], seed["final_url"]) == ("archived", f"{other}/page")


@deferred_f_from_coro_f
async def test_rotation_during_a_crawl_keeps_the_index_right(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    urls = [site.url(f"/page?rotate={i}") for i in range(12)]
    await run_crawl(
        archive_dir, write_urls(tmp_path / "urls.txt", *urls), ARCHIVER_WARC_MAX_SIZE=3000
    )
    files = sorted((archive_dir / "warc").iterdir())
    assert len(files) >= 3 and not any(f.name.endswith(".open") for f in files)
    records = {r.id: r for r in read_archive(archive_dir)}
    rows = index_rows(archive_dir, "SELECT * FROM captures")
    assert len({row["warc_file"] for row in rows}) >= 3
    for row in rows:
        record = records[row["record_id"]]
        assert (row["warc_file"], row["warc_offset"], row["warc_length"]) == (
            record.file,
            record.offset,
            record.length,
        )
        request = records[row["request_record_id"]]
        assert request.file == record.file, "a request and its response share a file"
    verified = verify_paths([archive_dir / "warc"])
    assert verified.ok, render_report(verified)


@deferred_f_from_coro_f
async def test_crawling_a_corpus_folder(site: LocalSite, tmp_path: Path, archive_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, url in (
        ("a.txt", site.url("/page")),
        ("b.txt", site.url("/page")),
        ("c.txt", site.url("/gzip")),
    ):
        (corpus / name).write_text(render(Document(title="Old", paragraphs=["Old text."], url=url)))
    await run_crawl(archive_dir, corpus)
    seeds = {r["document"]: r for r in index_rows(archive_dir, "SELECT * FROM seeds")}
    assert seeds["a.txt"]["outcome"] == "archived"
    assert (seeds["b.txt"]["outcome"], seeds["b.txt"]["reason"]) == (
        "duplicate",
        "duplicate of a.txt",
    )
    assert sorted(p.name for p in (archive_dir / "text").iterdir()) == ["a.txt", "c.txt"]
    assert [r.url for r in read_archive(archive_dir) if r.type == "response"].count(
        site.url("/page")
    ) == 1


def wayback_for(site: LocalSite, prefix: str) -> str:
    """A web archive that has one capture of every URL, from 2020."""

    def cdx(handler):  # type: ignore[no-untyped-def]
        url = parse_qs(urlsplit(handler.path).query)["url"][0]
        rows = [["timestamp", "original", "statuscode"], ["20200101000000", url, "200"]]
        return response("200 OK", [("Content-Type", "application/json")], json.dumps(rows).encode())

    site.add(f"{prefix}/cdx/search/cdx", cdx)
    site.add(f"{prefix}/web/*", lambda h: response("200 OK", [("Content-Type", "text/html")], PAGE))
    return site.url(prefix)


@deferred_f_from_coro_f
async def test_server_errors_and_refused_connections_fall_back_to_archived_copies(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    broken = site.add("/fb/broken", lambda h: response("503 Service Unavailable", [], b"down"))
    refused = f"http://127.0.0.1:{closed_port()}/gone"
    wayback = wayback_for(site, "/fbwb")
    await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", broken, refused, site.url("/missing")),
        ARCHIVER_ARCHIVED_FALLBACK=True,
        ARCHIVER_WAYBACK_URL=wayback,
        RETRY_ENABLED=True,
        RETRY_TIMES=1,
    )
    seeds = {r["url"]: r for r in index_rows(archive_dir, "SELECT * FROM seeds")}
    for url, failure in (
        (broken, "HTTP 503 Service Unavailable"),
        (refused, "connection refused"),
        (site.url("/missing"), "HTTP 404 Not Here"),
    ):
        seed = seeds[url]
        assert seed["outcome"] == "archived", seed["reason"]
        assert seed["archived_copy"] == "20200101000000"
        assert seed["reason"].startswith(failure)
        assert seed["final_url"] == f"{wayback}/web/20200101000000id_/{url}"
    # The 503 was retried before the archive was asked: both attempts are on record.
    assert [r.url for r in read_archive(archive_dir) if r.type == "response"].count(broken) == 2
