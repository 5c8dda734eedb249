"""The read side: records back from our files and other tools', exchanges paired, revisits."""

from __future__ import annotations

import gzip
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from crawler.warc.exchange import Exchange, stored_headers
from crawler.warc.reader import (
    ReadProblem,
    RevisitError,
    StoredRecord,
    iter_exchanges,
    iter_records,
    read_record,
    replay_head,
    resolve_revisit,
)
from crawler.warc.records import request_record, response_record
from crawler.warc.verify import find_archives
from crawler.warc.writer import WarcFileWriter
from tests.conftest import shared_path

if TYPE_CHECKING:
    from pathlib import Path

EXCHANGE = Exchange(
    url="http://example.com/a?b=1",
    method="GET",
    request_headers=[(b"User-Agent", b"test")],
    request_body=b"",
    protocol="HTTP/1.0",
    status=404,
    reason=b"Not Here",
    response_headers=[
        (b"Content-Type", b"text/html"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
        (b"Content-Encoding", b"gzip"),
    ],
    body=gzip.compress(b"<p>gone</p>", mtime=0),
    started=datetime(2024, 1, 2, 3, 4, 5, 678901, UTC),
    ip_address="192.0.2.1",
)


def warc_record(record_type: str, url: str, block: bytes, *extra: str) -> bytes:
    """One uncompressed WARC/1.0 record, written by hand as other tools write them."""
    fields = [
        "WARC/1.0",
        f"WARC-Type: {record_type}",
        f"WARC-Record-ID: <urn:uuid:{record_type}-{len(block)}-{abs(hash(url)) % 1000}>",
        "WARC-Date: 2020-05-06T07:08:09Z",
        f"WARC-Target-URI: {url}",
        f"Content-Type: application/http; msgtype={record_type}",
        *extra,
        f"Content-Length: {len(block)}",
    ]
    return ("\r\n".join(fields) + "\r\n\r\n").encode() + block + b"\r\n\r\n"


def write_exchanges(path: Path, *exchanges: Exchange) -> list[str]:
    """Our writer's file of ``exchanges``; the response record ids, in order."""
    writer = WarcFileWriter(path, info={"software": "test"}, hostname="test")
    ids = []
    for number, exchange in enumerate(exchanges):
        request_id = f"<urn:uuid:00000000-0000-4000-8000-{2 * number:012d}>"
        response_id = f"<urn:uuid:00000000-0000-4000-8000-{2 * number + 1:012d}>"
        writer.write(
            [
                request_record(exchange, record_id=request_id, concurrent_to=response_id),
                response_record(exchange, record_id=response_id, concurrent_to=request_id),
            ]
        )
        ids.append(response_id)
    writer.close()
    return ids


def test_our_records_read_back_as_written(tmp_path: Path) -> None:
    (response_id,) = write_exchanges(tmp_path, EXCHANGE)
    (path,) = tmp_path.glob("*.warc.gz")
    records = [r for r in iter_records(path) if isinstance(r, StoredRecord)]
    assert [r.record_type for r in records] == ["warcinfo", "request", "response"]
    response = records[2]
    assert response.record_id == response_id
    assert response.url == EXCHANGE.url
    assert response.date == "2024-01-02T03:04:05.678901Z"
    assert response.timestamp == "20240102030405"
    assert (response.protocol, response.status, response.reason) == ("HTTP/1.0", 404, b"Not Here")
    assert response.http_headers == stored_headers(EXCHANGE)
    assert response.http_headers.count((b"Set-Cookie", b"a=1")) == 1
    assert response.payload == EXCHANGE.body  # still content-coded, as stored
    again = read_record(path, response.offset)
    assert again.record_id == response_id
    assert again.length == response.length
    assert again.http_head == response.http_head


def test_read_record_at_a_wrong_offset_is_an_error(tmp_path: Path) -> None:
    write_exchanges(tmp_path, EXCHANGE)
    (path,) = tmp_path.glob("*.warc.gz")
    with pytest.raises(ValueError, match="no record at offset"):
        read_record(path, 7)


def test_exchanges_pair_requests_either_way_round(tmp_path: Path) -> None:
    ids = write_exchanges(tmp_path, EXCHANGE, replace(EXCHANGE, url="http://example.com/b"))
    (path,) = tmp_path.glob("*.warc.gz")
    exchanges = list(iter_exchanges(path))
    assert [e.response.record_id for e in exchanges] == ids  # type: ignore[union-attr]
    for exchange in exchanges:
        assert not isinstance(exchange, ReadProblem)
        assert exchange.request is not None
        assert exchange.request.record_type == "request"
        assert exchange.request.url == exchange.response.url

    # Heritrix writes the response first and names it only from the request.
    heritrix = tmp_path / "heritrix.warc"
    response = warc_record(
        "response", "http://example.org/", b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nhi"
    )
    response_id = "<urn:uuid:response-" + response.split(b"response-", 1)[1].split(b">")[0].decode()
    request = warc_record(
        "request",
        "http://example.org/",
        b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n",
        f"WARC-Concurrent-To: {response_id}>",
    )
    heritrix.write_bytes(response + request)
    (exchange,) = iter_exchanges(heritrix)
    assert not isinstance(exchange, ReadProblem)
    assert exchange.request is not None
    assert exchange.response.entity_body == b"hi"


def test_a_cut_file_ends_in_a_problem_not_an_exception(tmp_path: Path) -> None:
    write_exchanges(tmp_path, EXCHANGE, replace(EXCHANGE, url="http://example.com/b"))
    (path,) = tmp_path.glob("*.warc.gz")
    data = path.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) - 40])
    items = list(iter_records(cut))
    assert isinstance(items[-1], ReadProblem)
    assert all(isinstance(item, StoredRecord) for item in items[:-1])
    assert items[-1].file == str(cut)
    missing = list(iter_records(tmp_path / "nothing.warc.gz"))
    assert len(missing) == 1 and isinstance(missing[0], ReadProblem)


def test_chunked_payload_of_a_foreign_writer_is_dechunked(tmp_path: Path) -> None:
    path = tmp_path / "old-wget.warc"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    framed = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    path.write_bytes(warc_record("response", "http://example.org/", head + framed))
    (record,) = [r for r in iter_records(path) if isinstance(r, StoredRecord)]
    assert record.entity_body == b"hello world"


def _revisit(profile: str, head: bytes, refers_to: str, uri: str, date: str) -> StoredRecord:
    headers = [
        ("WARC-Type", "revisit"),
        ("WARC-Record-ID", "<urn:uuid:revisit>"),
        ("WARC-Profile", f"http://netpreserve.org/warc/1.1/revisit/{profile}"),
        ("WARC-Refers-To", refers_to),
        ("WARC-Refers-To-Target-URI", uri),
        ("WARC-Refers-To-Date", date),
    ]
    return StoredRecord("revisit", headers, "x.warc", 0, 0, http_head=head, payload=b"")


def test_revisits_resolve_by_id_then_by_uri_and_date(tmp_path: Path) -> None:
    write_exchanges(tmp_path, EXCHANGE)
    (path,) = tmp_path.glob("*.warc.gz")
    original = next(
        r for r in iter_records(path) if isinstance(r, StoredRecord) and r.record_type == "response"
    )
    by_id = {original.record_id: original}
    new_head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nDate: later\r\n\r\n"
    revisit = _revisit(
        "identical-payload-digest", new_head, str(original.record_id), original.url, original.date
    )
    assert resolve_revisit(revisit, by_id.get) is original
    assert replay_head(revisit, original) == new_head  # that moment's head

    unknown = _revisit(
        "identical-payload-digest", new_head, "<urn:uuid:gone>", original.url, original.date
    )
    with pytest.raises(RevisitError, match="not in the archive"):
        resolve_revisit(unknown, by_id.get)
    found = resolve_revisit(
        unknown,
        by_id.get,
        lambda uri, date: original if (uri, date) == (original.url, original.date) else None,
    )
    assert found is original

    not_modified = _revisit(
        "server-not-modified",
        b"HTTP/1.1 304 Not Modified\r\n\r\n",
        str(original.record_id),
        original.url,
        original.date,
    )
    assert replay_head(not_modified, original) == original.http_head  # replays as the page

    loop = _revisit("identical-payload-digest", new_head, "<urn:uuid:revisit>", "u", "d")
    with pytest.raises(RevisitError, match="loops"):
        resolve_revisit(loop, {"<urn:uuid:revisit>": loop}.get)


def test_other_tools_files_read_or_report() -> None:
    samples = shared_path("warc-samples")
    files = [path for path in find_archives(samples) if not path.name.endswith(".wacz")]
    assert len(files) > 50
    records = problems = 0
    for path in files:
        for item in iter_records(path):
            if isinstance(item, ReadProblem):
                problems += 1
                assert item.message
            else:
                records += 1
                assert item.record_type
        for exchange in iter_exchanges(path):
            if not isinstance(exchange, ReadProblem) and exchange.response.is_http:
                _ = (exchange.response.status, exchange.response.http_headers)
                _ = exchange.response.entity_body
    assert records > 700
    assert problems < 10


def test_arc_files_read_as_responses() -> None:
    arc = shared_path("warc-samples", "warcio", "example.arc.gz")
    responses = [
        r for r in iter_records(arc) if isinstance(r, StoredRecord) and r.record_type == "response"
    ]
    assert responses
    assert responses[0].status == 200
    assert responses[0].url.startswith("http://")
    assert b"<html" in responses[0].entity_body.lower()


def test_the_extraction_pool_does_not_install_a_reactor() -> None:
    # A command module importing the pool at the top must leave the reactor choice to Scrapy.
    code = (
        "import sys, crawler.extract.pool, crawler.warc.reader, crawler.extract.convert; "
        "print('twisted.internet.reactor' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
