"""The CDXJ index under DIR/indexes: pywb's format, written at the end of every crawl."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.cdxj import cdxj_lines, write_cdxj
from crawler.layout import Layout
from tests.conftest import run_crawl, write_urls
from tests.server import LocalSite
from tests.warc_reading import read_archive

PAGE_PATHS = ("/page", "/redirect/1", "/missing", "/binary", "/gzip", "/query?b=2&a=1")


def pywb_indexer() -> Path:
    """pywb's ``cdx-indexer``, from ARCHIVER_PYWB_BIN or the checkout's .venv-pywb, or a skip."""
    folders = [os.environ.get("ARCHIVER_PYWB_BIN", "")]
    folders.append(str(Path(__file__).resolve().parents[1] / ".venv-pywb" / "bin"))
    for folder in filter(None, folders):
        found = shutil.which("cdx-indexer", path=folder)
        if found:
            return Path(found)
    pytest.skip("pywb's cdx-indexer not found (set ARCHIVER_PYWB_BIN=<pywb venv>/bin)")


def parsed(text: str) -> list[tuple[str, str, dict[str, str]]]:
    lines = []
    for line in text.splitlines():
        key, timestamp, fields = line.split(" ", 2)
        lines.append((key, timestamp, json.loads(fields)))
    return lines


async def crawl(site: LocalSite, tmp_path: Path, archive_dir: Path) -> None:
    urls = write_urls(tmp_path / "urls.txt", *(site.url(path) for path in PAGE_PATHS))
    await run_crawl(archive_dir, urls)


@deferred_f_from_coro_f
async def test_each_crawl_ends_with_a_sorted_cdxj_of_responses(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    await crawl(site, tmp_path, archive_dir)
    cdxj = archive_dir / "indexes" / "index.cdxj"
    data = cdxj.read_bytes()
    lines = data.decode("utf-8").splitlines()
    assert lines == sorted(lines, key=lambda line: line.encode("utf-8"))
    assert data.endswith(b"\n")
    records = read_archive(archive_dir)
    responses = {(r.file, r.offset) for r in records if r.type in ("response", "revisit")}
    entries = parsed(data.decode("utf-8"))
    assert {(f["filename"], int(f["offset"])) for _, _, f in entries} == responses
    assert len(entries) == len(responses)
    assert not [key for key, _, _ in entries if key.startswith("urn:")]
    by_url = {f["url"]: (key, f) for key, _, f in entries}
    key, fields = by_url[site.url("/query?b=2&a=1")]
    port = int(site.base.rsplit(":", 1)[1])
    assert key == f"1,0,0,127:{port})/query?a=1&b=2"
    assert (fields["mime"], fields["status"]) == ("text/plain", "200")
    assert by_url[site.url("/missing")][1]["status"] == "404"
    assert set(fields) == {"url", "mime", "status", "digest", "length", "offset", "filename"}
    assert not fields["digest"].startswith("sha1:")
    # The same bytes from the WARC files as from the index.
    cdxj.unlink()
    assert write_cdxj(Layout(archive_dir)).read_bytes() == data


@deferred_f_from_coro_f
async def test_a_cdxj_that_cannot_be_written_costs_a_warning(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    archive_dir.mkdir()
    (archive_dir / "indexes").write_text("in the way")
    crawler = await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", site.url("/page")))
    assert crawler.stats.get_value("archiver/cdxj/errors") == 1
    assert crawler.stats.get_value("finish_reason") == "finished"
    assert (archive_dir / "index.sqlite").exists()


def test_a_revisit_gets_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "revisit.warc.gz"
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True, warc_version="WARC/1.1")
        head = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        revisit = writer.create_revisit_record(
            "http://example.com/",
            digest="sha1:5G5KNHIFYC5KAJ7IXQWDFCLWWDT2F5WA",
            refers_to_uri="http://example.com/",
            refers_to_date="2024-01-01T00:00:00Z",
            http_headers=head,
        )
        writer.write_record(revisit)
        note = writer.create_warc_record(
            "urn:archiver:seed:x",
            "metadata",
            payload=io.BytesIO(b"{}"),
            length=2,
            warc_content_type="application/json",
        )
        writer.write_record(note)
    ((key, _, fields),) = parsed("\n".join(cdxj_lines([path], tmp_path)))
    assert key == "com,example)/"
    assert fields["mime"] == "warc/revisit" and "status" not in fields
    assert fields["digest"] == "5G5KNHIFYC5KAJ7IXQWDFCLWWDT2F5WA"
    assert fields["filename"] == "revisit.warc.gz"


@deferred_f_from_coro_f
async def test_keys_and_fields_agree_with_pywb(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    indexer = pywb_indexer()
    await crawl(site, tmp_path, archive_dir)
    result = subprocess.run(
        [str(indexer), "-j", "-s", "warc/"],
        cwd=archive_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    theirs = parsed(result.stdout)
    ours = parsed((archive_dir / "indexes" / "index.cdxj").read_text(encoding="utf-8"))
    # pywb also indexes our conversion and JSON records, under urn: keys no page has.
    assert all(key.startswith("urn:") for key, _, f in theirs if not f["url"].startswith("http"))
    pages = [(k, t, f) for k, t, f in theirs if not k.startswith("urn:")]
    assert pages == ours
