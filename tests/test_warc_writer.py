"""WARC records byte for byte, and the files they are written to."""

from __future__ import annotations

import base64
import gzip
import hashlib
import random
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from io import BytesIO
from typing import TYPE_CHECKING

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from crawler.warc import writer as writer_module
from crawler.warc.exchange import Exchange
from crawler.warc.records import conversion_record, request_record, response_record
from crawler.warc.writer import OPEN_SUFFIX, WarcFileWriter, WarcWriteError, serialize_for
from tests.warc_reading import read_warc

if TYPE_CHECKING:
    from pathlib import Path

REQUEST_ID = "<urn:uuid:00000000-0000-4000-8000-000000000001>"
RESPONSE_ID = "<urn:uuid:00000000-0000-4000-8000-000000000002>"

EXCHANGE = Exchange(
    url="http://example.com/a?b=1&c=%C3%A9",
    method="GET",
    request_headers=[(b"User-Agent", b"test"), (b"Accept-Encoding", b"gzip")],
    request_body=b"",
    protocol="HTTP/1.1",
    status=200,
    reason=b"OK",
    response_headers=[
        (b"Content-Type", b"text/html; charset=iso-8859-1"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
        (b"Transfer-Encoding", b"chunked"),
        (b"X-Caf\xe9", b"cr\xe8me"),
    ],
    body=b"<p>caf\xe9</p>",
    started=datetime(2024, 1, 2, 3, 4, 5, 678901, UTC),
    ip_address="93.184.216.34",
)

REQUEST_BLOCK = (
    b"GET /a?b=1&c=%C3%A9 HTTP/1.1\r\n"
    b"User-Agent: test\r\n"
    b"Accept-Encoding: gzip\r\n"
    b"Host: example.com\r\n"
    b"\r\n"
)
RESPONSE_BLOCK = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/html; charset=iso-8859-1\r\n"
    b"Set-Cookie: a=1\r\n"
    b"Set-Cookie: b=2\r\n"
    b"X-Caf\xe9: cr\xe8me\r\n"
    b"\r\n"
    b"<p>caf\xe9</p>"
)
GOLDEN = (
    b"WARC/1.1\r\n"
    b"WARC-Type: request\r\n"
    b"WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
    b"WARC-Date: 2024-01-02T03:04:05.678901Z\r\n"
    b"WARC-Target-URI: http://example.com/a?b=1&c=%C3%A9\r\n"
    b"WARC-Concurrent-To: <urn:uuid:00000000-0000-4000-8000-000000000002>\r\n"
    b"WARC-Block-Digest: sha1:CUXZAUX6TZ7YDOBYQFJKOBDGNUKWAELB\r\n"
    b"WARC-Payload-Digest: sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ\r\n"
    b"Content-Type: application/http; msgtype=request\r\n"
    b"Content-Length: 92\r\n"
    b"\r\n" + REQUEST_BLOCK + b"\r\n\r\n"
    b"WARC/1.1\r\n"
    b"WARC-Type: response\r\n"
    b"WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000002>\r\n"
    b"WARC-Date: 2024-01-02T03:04:05.678901Z\r\n"
    b"WARC-Target-URI: http://example.com/a?b=1&c=%C3%A9\r\n"
    b"WARC-IP-Address: 93.184.216.34\r\n"
    b"WARC-Concurrent-To: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
    b"WARC-Block-Digest: sha1:3XI4BWNFXXXUQ3EFZYVK3I4QKXXBGDC4\r\n"
    b"WARC-Payload-Digest: sha1:TMEATRPIX7PYQWLHQWK5WCVBOUM46JVJ\r\n"
    b"Content-Type: application/http; msgtype=response\r\n"
    b"Content-Length: 124\r\n"
    b"\r\n" + RESPONSE_BLOCK + b"\r\n\r\n"
)


def b32sha1(data: bytes) -> bytes:
    return b"sha1:" + base64.b32encode(hashlib.sha1(data).digest())


def test_golden_request_and_response_records() -> None:
    # The digests in the golden bytes are those of the blocks and the body.
    assert b32sha1(REQUEST_BLOCK) in GOLDEN
    assert b32sha1(b"") in GOLDEN
    assert b32sha1(RESPONSE_BLOCK) in GOLDEN
    assert b32sha1(b"<p>caf\xe9</p>") in GOLDEN
    assert len(REQUEST_BLOCK) == 92 and len(RESPONSE_BLOCK) == 124

    out = BytesIO()
    writer = WARCWriter(out, gzip=False, warc_version="WARC/1.1")
    writer.write_record(request_record(EXCHANGE, record_id=REQUEST_ID, concurrent_to=RESPONSE_ID))
    writer.write_record(response_record(EXCHANGE, record_id=RESPONSE_ID, concurrent_to=REQUEST_ID))
    assert out.getvalue() == GOLDEN


def test_golden_records_read_back_with_warcio() -> None:
    records = list(ArchiveIterator(BytesIO(GOLDEN), check_digests="raise"))
    assert [r.rec_type for r in records] == ["request", "response"]
    response = list(ArchiveIterator(BytesIO(GOLDEN), check_digests="raise"))[1]
    assert response.http_headers.get_statuscode() == "200"
    assert response.http_headers.headers[1:3] == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]


def test_status_line_keeps_an_empty_reason_phrase_separator() -> None:
    exchange = replace(EXCHANGE, reason=b"", status=299)
    out = BytesIO()
    WARCWriter(out, gzip=False, warc_version="WARC/1.1").write_record(
        response_record(exchange, record_id=RESPONSE_ID, concurrent_to=REQUEST_ID)
    )
    assert b"\r\n\r\nHTTP/1.1 299 \r\n" in out.getvalue()


def fixed_ids() -> object:
    counter = iter(range(1, 10_000))
    return lambda: f"<urn:uuid:00000000-0000-4000-8000-{next(counter):012d}>"


def make_writer(folder: Path, **kwargs: object) -> WarcFileWriter:
    return WarcFileWriter(
        folder,
        info={"software": "test"},
        hostname="host",
        clock=lambda: datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        new_id=fixed_ids(),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def exchange_records(n: int) -> list:
    ids = (f"<urn:uuid:00000000-0000-4000-9000-{i:012d}>" for i in (2 * n, 2 * n + 1))
    request_id, response_id = next(ids), next(ids)
    return [
        request_record(EXCHANGE, record_id=request_id, concurrent_to=response_id),
        response_record(EXCHANGE, record_id=response_id, concurrent_to=request_id),
    ]


def test_files_are_open_while_written_and_renamed_on_close(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    locations = writer.write(exchange_records(0))
    name = "archiver-20240102030405-00000-host.warc.gz"
    assert [p.name for p in tmp_path.iterdir()] == [name + OPEN_SUFFIX]
    assert writer.current_file == name
    writer.close()
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == [name]
    records = read_warc(tmp_path / name)
    assert [r.type for r in records] == ["warcinfo", "request", "response"]
    warcinfo = records[0]
    assert warcinfo.header("WARC-Filename") == name
    assert warcinfo.payload == b"software: test\r\n"
    assert all(r.header("WARC-Warcinfo-ID") == warcinfo.id for r in records[1:])
    assert [(loc.filename, loc.offset, loc.length) for loc in locations] == [
        (name, r.offset, r.length) for r in records[1:]
    ]


def test_each_record_is_its_own_gzip_member(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    locations = writer.write(exchange_records(0))
    writer.close()
    data = (tmp_path / locations[0].filename).read_bytes()
    for location in locations:
        member = data[location.offset : location.offset + location.length]
        decompressor = zlib.decompressobj(zlib.MAX_WBITS + 16)
        record = decompressor.decompress(member)
        assert decompressor.eof and not decompressor.unused_data
        assert record.startswith(b"WARC/1.1\r\n")
    assert gzip.decompress(data).count(b"WARC/1.1\r\n") == 3


@pytest.mark.parametrize(
    ("headers", "stored"),
    [
        ([(b"Content-Type", b"text/html"), (b"Content-Encoding", b"gzip")], True),
        ([(b"Content-Type", b"text/html"), (b"Content-Encoding", b"GZIP, br")], True),
        ([(b"Content-Type", b"image/jpeg")], True),
        ([(b"Content-Type", b"text/html")], False),
        ([(b"Content-Type", b"text/html"), (b"Content-Encoding", b"identity")], False),
    ],
)
def test_a_compressed_payload_is_stored_in_its_member(
    tmp_path: Path, headers: list[tuple[bytes, bytes]], stored: bool
) -> None:
    rng = random.Random(7)
    # Half random bytes (what compressed bodies look like), half text that deflates well.
    body = rng.randbytes(40_000) + b"<p>archived</p>" * 2_000
    exchange = replace(EXCHANGE, response_headers=headers, body=body)
    writer = make_writer(tmp_path, gzip_level=6)
    locations = writer.write(
        [
            request_record(exchange, record_id=REQUEST_ID, concurrent_to=RESPONSE_ID),
            response_record(exchange, record_id=RESPONSE_ID, concurrent_to=REQUEST_ID),
        ]
    )
    writer.close()
    data = (tmp_path / locations[1].filename).read_bytes()
    member = data[locations[1].offset : locations[1].offset + locations[1].length]
    # One member that gzip and warcio read back whole, the body byte for byte.
    decompressor = zlib.decompressobj(zlib.MAX_WBITS + 16)
    plain = decompressor.decompress(member)
    assert plain.endswith(b"\r\n\r\n" + body + b"\r\n\r\n")
    assert decompressor.eof and not decompressor.unused_data
    record = next(iter(ArchiveIterator(BytesIO(member))))
    assert record.raw_stream.read() == body
    # Stored: the member is the body's size and more; deflated: the text part shrinks.
    assert (len(member) > len(body)) is stored
    if stored:
        # The headers before a stored body are deflated all the same.
        head = len(plain) - len(body) - 4
        assert len(member) < len(body) + head


def test_rotation_by_size_keeps_pairs_together(tmp_path: Path) -> None:
    writer = make_writer(tmp_path, max_size=1500)
    for n in range(5):
        writer.write(exchange_records(n))
    writer.close()
    files = sorted(tmp_path.iterdir())
    assert len(files) >= 3
    assert all(not f.name.endswith(OPEN_SUFFIX) for f in files)
    assert [f.name.split("-")[2] for f in files] == [f"{i:05d}" for i in range(len(files))]
    total = 0
    for path in files:
        records = read_warc(path)
        assert records[0].type == "warcinfo"
        assert records[0].header("WARC-Filename") == path.name
        pairs = records[1:]
        assert len(pairs) % 2 == 0 and pairs
        for request, response in zip(pairs[::2], pairs[1::2], strict=True):
            assert request.header("WARC-Concurrent-To") == response.id
        total += len(pairs) // 2
        # A file is closed once it reaches the size; it never holds more than one extra pair.
        assert path.stat().st_size < 1500 + 2 * max(r.length for r in records)
    assert total == 5


def test_existing_names_are_not_overwritten(tmp_path: Path) -> None:
    taken = tmp_path / "archiver-20240102030405-00000-host.warc.gz"
    taken.write_bytes(b"someone else's file")
    writer = make_writer(tmp_path)
    writer.write(exchange_records(0))
    writer.close()
    assert taken.read_bytes() == b"someone else's file"
    assert (tmp_path / "archiver-20240102030405-00001-host.warc.gz").exists()


def test_a_failed_write_leaves_whole_records_only(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    writer.write(exchange_records(0))
    size = (tmp_path / (writer.current_file + OPEN_SUFFIX)).stat().st_size  # type: ignore[operator]

    class Full:
        """A file whose disk fills up after a few bytes."""

        def __init__(self, real: object) -> None:
            self.real = real

        def write(self, data: bytes) -> int:
            self.real.write(data[:10])  # type: ignore[attr-defined]
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str) -> object:
            return getattr(self.real, name)

    writer._file = Full(writer._file)  # type: ignore[assignment]
    with pytest.raises(WarcWriteError, match="No space left on device"):
        writer.write(exchange_records(1))
    writer._file = writer._file.real  # type: ignore[attr-defined]
    writer.close()
    path = tmp_path / "archiver-20240102030405-00000-host.warc.gz"
    assert path.stat().st_size == size
    assert [r.type for r in read_warc(path)] == ["warcinfo", "request", "response"]


def test_conversion_record_refers_to_its_response(tmp_path: Path) -> None:
    record = conversion_record(
        url="http://example.com/",
        date=datetime(2024, 1, 2, tzinfo=UTC),
        text="Title\n\nBody – é",
        refers_to=RESPONSE_ID,
        record_id=REQUEST_ID,
    )
    writer = make_writer(tmp_path)
    writer.write([record])
    writer.close()
    (path,) = tmp_path.iterdir()
    converted = read_warc(path)[1]
    assert converted.type == "conversion"
    assert converted.header("WARC-Refers-To") == RESPONSE_ID
    assert converted.url == "urn:text:http://example.com/"
    assert converted.header("WARC-Refers-To-Target-URI") == "http://example.com/"
    assert converted.header("Content-Type") == "text/plain; charset=utf-8"
    assert converted.payload == "Title\n\nBody – é".encode()


def test_records_made_apart_are_appended_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Members past the spool size go through a temporary file: this body does.
    monkeypatch.setattr(writer_module, "SPOOL_ABOVE", 1000)
    body = random.Random(3).randbytes(5000)

    def records() -> list:
        big = response_record(
            replace(EXCHANGE, body=body), record_id=RESPONSE_ID, concurrent_to=REQUEST_ID
        )
        return [*exchange_records(0), big]

    written, appended = tmp_path / "written", tmp_path / "appended"
    reference = make_writer(written)
    reference.write(records())
    reference.close()
    writer = make_writer(appended)
    serialized = serialize_for(records(), writer.ready(), writer.gzip_level, spool_dir=appended)
    assert [isinstance(m, bytes) for m in serialized.members] == [True, True, False]
    locations = writer.append(serialized)
    assert serialized.members == []  # closed: the temporary file is gone
    writer.close()
    (expected,) = written.iterdir()
    (path,) = appended.iterdir()
    assert path.read_bytes() == expected.read_bytes()
    assert locations is not None
    assert [(r.offset, r.length) for r in read_warc(path)[1:]] == [
        (loc.offset, loc.length) for loc in locations
    ]
    assert read_warc(path)[3].payload == body


def test_records_made_for_a_file_rotated_meanwhile_are_refused(tmp_path: Path) -> None:
    writer = make_writer(tmp_path, max_size=100)
    first = writer.ready()
    serialized = serialize_for(exchange_records(0), first, writer.gzip_level)
    writer.write(exchange_records(1))  # fills the file: the next write rotates it
    assert writer.ready() != first
    assert writer.append(serialized) is None
    again = serialize_for(exchange_records(0), writer.ready(), writer.gzip_level)
    assert writer.append(again) is not None
    writer.close()
    second = sorted(tmp_path.iterdir())[1]
    warcinfo, *records = read_warc(second)
    assert [r.header("WARC-Warcinfo-ID") for r in records] == [warcinfo.id] * 2
