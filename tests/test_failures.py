"""Fetches that go wrong: archived as metadata records or truncated responses, never lost."""

from __future__ import annotations

import socket
from pathlib import Path

from scrapy.exceptions import CannotResolveHostError, DownloadFailedError
from scrapy.utils.defer import deferred_f_from_coro_f
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed

from crawler.failures import WireError, describe
from crawler.warc.verify import render_report, verify_paths
from tests.conftest import index_rows, run_crawl, write_urls
from tests.server import Handler, LocalSite, response, slow
from tests.warc_reading import Record, read_archive

CUT_BODY = b"<html><body><p>The first part of a page whose connection drops.</p>"


def cut_short(handler: Handler) -> None:
    """Promise 10,000 bytes, send fewer, hang up."""
    head = response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "10000")], b"")
    handler.wfile.write(head + CUT_BODY)
    handler.wfile.flush()
    handler.close_connection = True


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fields(record: Record) -> dict[str, str]:
    lines = record.payload.decode("utf-8").splitlines()
    return dict(line.split(": ", 1) for line in lines)


@deferred_f_from_coro_f
async def test_failed_fetches_are_archived_as_metadata(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    refused = f"http://127.0.0.1:{closed_port()}/nothing-listens-here"
    slow_url = site.add("/f/slow", slow(5, response("200 OK", [], b"late")))
    cut = site.add("/f/cut", cut_short)  # type: ignore[arg-type]
    urls = write_urls(tmp_path / "urls.txt", refused, slow_url, cut, site.url("/page"))
    crawler = await run_crawl(
        archive_dir, urls, DOWNLOAD_TIMEOUT=1, RETRY_ENABLED=True, RETRY_TIMES=1
    )
    assert crawler.stats.get_value("finish_reason") == "finished"

    # The archiver's own JSON records (crawl, seeds, text outcomes) are urn:archiver:...
    records = read_archive(archive_dir)
    failures = [r for r in records if r.type == "metadata" and not (r.url or "").startswith("urn:")]
    by_url: dict[str, list[dict[str, str]]] = {}
    for record in failures:
        assert record.header("Content-Type") == "application/warc-fields"
        by_url.setdefault(record.url or "", []).append(fields(record))
    # Each attempt (the first and one retry) is on record.
    assert [f["attempt"] for f in by_url[refused]] == ["1", "2"]
    assert by_url[refused][0]["fetch-error"].startswith("connection refused")
    assert by_url[refused][0]["error-type"].endswith("DownloadConnectionRefusedError")
    assert by_url[slow_url][0]["fetch-error"].startswith("timed out")
    assert by_url[cut][0]["fetch-error"].startswith(
        "connection closed before the whole body arrived"
    )

    seeds = {
        r["url"]: (r["outcome"], r["reason"])
        for r in index_rows(archive_dir, "SELECT * FROM seeds")
    }
    assert seeds[refused][0] == "failed" and seeds[refused][1].startswith("connection refused")
    assert seeds[slow_url][1].startswith("timed out")
    assert seeds[site.url("/page")][0] == "archived"
    rows = index_rows(archive_dir, "SELECT * FROM captures WHERE record_type = 'metadata'")
    # Two attempts each, and the refused host's robots.txt is a failed fetch too.
    robots = refused.rsplit("/", 1)[0] + "/robots.txt"
    assert {url: len(f) for url, f in by_url.items()} == {
        robots: 2,
        refused: 2,
        slow_url: 2,
        cut: 2,
    }
    assert len(rows) == len(failures)
    assert all(row["reason"] and row["status"] is None for row in rows)

    verified = verify_paths([archive_dir / "warc"])
    assert verified.ok, render_report(verified)


@deferred_f_from_coro_f
async def test_a_cut_off_body_kept_on_request_is_marked_truncated(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    cut = site.add("/f/cut-kept", cut_short)  # type: ignore[arg-type]
    await run_crawl(
        archive_dir, write_urls(tmp_path / "urls.txt", cut), DOWNLOAD_FAIL_ON_DATALOSS=False
    )
    (record,) = [r for r in read_archive(archive_dir) if r.type == "response" and r.url == cut]
    assert record.header("WARC-Truncated") == "disconnect"
    assert record.payload == CUT_BODY
    assert record.http_headers("Content-Length") == ["10000"]
    (row,) = index_rows(archive_dir, "SELECT * FROM captures WHERE url = ?", (cut,))
    assert row["reason"] == "truncated: disconnect"
    verified = verify_paths([archive_dir / "warc"])
    assert verified.ok, render_report(verified)


def test_failure_reasons_read_well() -> None:
    dns = CannotResolveHostError("DNS lookup failed: no results for hostname lookup: x.example.")
    assert describe(dns) == "DNS lookup failed: no results for hostname lookup: x.example."
    try:
        try:
            raise ResponseFailed([Failure(ConnectionDone())])
        except ResponseFailed as exc:
            raise DownloadFailedError(str(exc)) from exc
    except DownloadFailedError as wrapped:
        assert (
            describe(wrapped) == "connection failed: ConnectionDone: Connection was closed cleanly."
        )


def test_a_wire_error_is_its_own_reason() -> None:
    try:
        try:
            raise ResponseFailed(
                [Failure(WireError("response header line longer than 16384 bytes"))]
            )
        except ResponseFailed as exc:
            raise DownloadFailedError(str(exc)) from exc
    except DownloadFailedError as wrapped:
        assert describe(wrapped) == "response header line longer than 16384 bytes"
