"""``archiver verify``: our own files verify clean, damaged copies do not, foreign files are judged.

Clean files come from the real writer and record builders; damaged ones are
copies with one fault put in by hand (a flipped byte, a dropped record, a cut).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import random
import subprocess
import time
import zipfile
import zlib
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from crawler.warc.exchange import Exchange
from crawler.warc.records import conversion_record, request_record, response_record
from crawler.warc.verify import (
    MAX_PROBLEMS_SHOWN,
    FileReport,
    RunReport,
    find_archives,
    render_report,
    verify_paths,
)
from crawler.warc.verify.digest import DigestError, UnsupportedDigest, parse_digest
from crawler.warc.verify.http import Dechunker, HttpPayload
from crawler.warc.writer import WarcFileWriter
from tests.conftest import archiver, shared_path

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from warcio.recordloader import ArcWarcRecord

MOMENT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
PAGE = b"<!DOCTYPE html><html><head><title>A page</title></head><body>" + b"<p>Text.</p>" * 50
NOISE = random.Random(7).randbytes(20_000)  # does not compress: cuts land inside the body


def chunked(body: bytes, size: int) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


class Ids:
    """Record ids that are unique within a test and the same from run to run."""

    def __init__(self) -> None:
        self._count = count(1)

    def __call__(self) -> str:
        return f"<urn:uuid:00000000-0000-4000-8000-{next(self._count):012d}>"


@pytest.fixture
def new_id() -> Ids:
    return Ids()


def exchange(path: str = "/page", body: bytes = PAGE, *, chunked_origin: bool = False) -> Exchange:
    headers = [(b"Content-Type", b"text/html"), (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2")]
    if chunked_origin:
        # What the capture hands over for a chunked response: the header as sent,
        # the body already de-chunked by Scrapy.
        headers.append((b"Transfer-Encoding", b"chunked"))
    else:
        headers.append((b"Content-Length", str(len(body)).encode()))
    return Exchange(
        url=f"http://example.com{path}",
        method="GET",
        request_headers=[(b"User-Agent", b"archiver-tests")],
        request_body=b"",
        protocol="HTTP/1.1",
        status=200,
        reason=b"OK",
        response_headers=headers,
        body=body,
        started=MOMENT,
        ip_address="127.0.0.1",
    )


def pair(ex: Exchange, new_id: Callable[[], str]) -> list[ArcWarcRecord]:
    request_id, response_id = new_id(), new_id()
    return [
        request_record(ex, record_id=request_id, concurrent_to=response_id),
        response_record(ex, record_id=response_id, concurrent_to=request_id),
    ]


def new_writer(directory: Path, new_id: Callable[[], str], **kwargs: object) -> WarcFileWriter:
    return WarcFileWriter(
        directory,
        info={"software": "archiver tests"},
        clock=lambda: MOMENT,
        new_id=new_id,
        hostname="test",
        **kwargs,  # type: ignore[arg-type]
    )


def write_warc(directory: Path, new_id: Ids, exchanges: Sequence[Exchange] = ()) -> Path:
    """A closed WARC file by our writer, a request and a response per exchange."""
    writer = new_writer(directory, new_id)
    for ex in exchanges or [exchange()]:
        writer.write(pair(ex, new_id))
    writer.close()
    return directory / writer.closed_files[-1]


def members_data(data: bytes) -> list[bytes]:
    """The gzip members of a gzip-per-record file, as stored."""
    out = []
    while data:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        inflater.decompress(data)
        out.append(data[: len(data) - len(inflater.unused_data)])
        data = inflater.unused_data
    return out


def members(path: Path) -> list[bytes]:
    """The records of a gzip-per-record file, each decompressed."""
    return [gzip.decompress(member) for member in members_data(path.read_bytes())]


def write_members(path: Path, records: Sequence[bytes]) -> Path:
    path.write_bytes(b"".join(gzip.compress(record, mtime=0) for record in records))
    return path


def raw_record(
    warc_type: str,
    block: bytes,
    *,
    record_id: str,
    version: str = "WARC/1.1",
    content_type: str = "application/http; msgtype=response",
    fields: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A record put together by hand, for what our builders never write."""
    lines = [
        version,
        f"WARC-Type: {warc_type}",
        f"WARC-Record-ID: {record_id}",
        "WARC-Date: 2024-05-01T12:00:00Z",
        "WARC-Target-URI: http://example.com/",
        f"Content-Type: {content_type}",
        f"WARC-Block-Digest: {sha1_b32(block)}",
        *(f"{name}: {value}" for name, value in fields),
        f"Content-Length: {len(block)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + block + b"\r\n\r\n"


def warcinfo(new_id: Callable[[], str]) -> bytes:
    return raw_record(
        "warcinfo",
        b"software: hand\r\n",
        record_id=new_id(),
        content_type="application/warc-fields",
    )


def chunked_response(new_id: Callable[[], str], *, digest_over: str) -> bytes:
    """A response stored with its chunk framing, as some writers keep it."""
    framed = chunked(PAGE, 100)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    digest = sha1_b32(framed if digest_over == "framing" else PAGE)
    return raw_record(
        "response", head + framed, record_id=new_id(), fields=[("WARC-Payload-Digest", digest)]
    )


def messages(report: FileReport) -> str:
    return "\n".join(str(problem) for problem in report.problems)


def only(run: RunReport) -> FileReport:
    assert len(run.files) == 1, [report.path for report in run.files]
    return run.files[0]


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return archiver("verify", *args, cwd=cwd, env=env or {})


# -- our own files ---------------------------------------------------------------


def test_files_of_our_writer_verify_clean(tmp_path: Path, new_id: Ids) -> None:
    path = write_warc(
        tmp_path,
        new_id,
        [exchange(), exchange("/chunked", PAGE * 3, chunked_origin=True), exchange("/b", NOISE)],
    )
    report = only(verify_paths([path]))
    assert report.ok, render_report(RunReport([report]))
    assert report.records == 7
    assert report.format == "WARC/1.1"
    assert report.warnings == []
    assert report.complete
    # Our warcinfo has no payload digest; nothing else lacks one.
    assert (report.without_block_digest, report.without_payload_digest) == (0, 0)


def test_a_chunked_record_digested_the_spec_way_is_clean(tmp_path: Path, new_id: Ids) -> None:
    path = tmp_path / "chunked.warc"
    path.write_bytes(warcinfo(new_id) + chunked_response(new_id, digest_over="entity"))
    report = only(verify_paths([path]))
    assert report.ok, messages(report)
    assert report.warnings == []


def test_a_body_stored_de_chunked_under_a_chunked_header_is_a_warning(
    tmp_path: Path, new_id: Ids
) -> None:
    # What some writers do: they keep the header and store the de-chunked body.
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    record = raw_record(
        "response",
        head + PAGE,
        record_id=new_id(),
        fields=[("WARC-Payload-Digest", sha1_b32(PAGE))],
    )
    path = tmp_path / "dechunked.warc"
    path.write_bytes(warcinfo(new_id) + record)
    report = only(verify_paths([path]))
    assert report.ok
    assert "the body is not chunked (bad chunk-size line" in report.warnings[0].message


def test_links_span_the_files_of_a_run(tmp_path: Path, new_id: Ids) -> None:
    whole = members(write_warc(tmp_path / "one", new_id))
    # A request in one file, its response in the next, as after a rotation.
    first = write_members(tmp_path / "a.warc.gz", whole[:2])
    second = write_members(tmp_path / "b.warc.gz", [warcinfo(new_id), whole[2]])
    assert verify_paths([first, second]).ok
    alone = only(verify_paths([first]))
    assert "WARC-Concurrent-To target" in messages(alone)


def test_a_missing_refers_to_target_is_a_warning(tmp_path: Path, new_id: Ids) -> None:
    writer = new_writer(tmp_path, new_id)
    writer.write(pair(exchange(), new_id))
    writer.write(
        [
            conversion_record(
                url="http://example.com/page",
                date=MOMENT,
                text="Text.",
                refers_to="<urn:uuid:elsewhere>",
                record_id=new_id(),
            )
        ]
    )
    writer.close()
    report = only(verify_paths([tmp_path]))
    assert report.ok
    assert ["<urn:uuid:elsewhere>" in w.message for w in report.warnings] == [True]


def test_the_same_records_in_two_files_are_duplicates(tmp_path: Path, new_id: Ids) -> None:
    path = write_warc(tmp_path, new_id)
    copy = tmp_path / "copy.warc.gz"
    copy.write_bytes(path.read_bytes())
    run = verify_paths([path, copy, path])  # the same file twice counts once
    assert [report.path for report in run.files] == [str(path), str(copy)]
    assert run.files[0].ok
    assert run.files[1].problem_count == 3
    assert f"duplicate WARC-Record-ID: also in {path} at offset 0" in messages(run.files[1])


def test_an_open_file_is_checked_and_said_to_be_open(tmp_path: Path, new_id: Ids) -> None:
    writer = new_writer(tmp_path, new_id)
    writer.write(pair(exchange(), new_id))
    try:
        (found,) = find_archives(tmp_path)
        assert found.name.endswith(".warc.gz.open")
        report = only(verify_paths([tmp_path]))
    finally:
        writer.close()
    assert report.ok and report.still_open and report.records == 3
    assert "still open" in report.warnings[0].message


def test_a_revisit_payload_digest_is_not_recomputed(tmp_path: Path, new_id: Ids) -> None:
    original = sha1_b32(b"the original body, stored elsewhere")
    block = b"HTTP/1.1 304 Not Modified\r\n\r\n"
    revisit = raw_record(
        "revisit",
        block,
        record_id=new_id(),
        fields=[
            ("WARC-Payload-Digest", original),
            ("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/server-not-modified"),
        ],
    )
    path = tmp_path / "revisit.warc"
    path.write_bytes(warcinfo(new_id) + revisit)
    assert only(verify_paths([path])).ok


def test_our_files_inside_a_wacz_are_checked(tmp_path: Path, new_id: Ids) -> None:
    good = write_warc(tmp_path / "warc", new_id)
    bad = members(write_warc(tmp_path / "warc2", new_id))
    bad[2] = bad[2].replace(PAGE[:20], PAGE[:19] + b"!")
    wacz = tmp_path / "test.wacz"
    with zipfile.ZipFile(wacz, "w") as archive:
        archive.writestr("datapackage.json", "{}")
        archive.write(good, f"archive/{good.name}")
        archive.writestr("archive/bad.warc.gz", b"".join(gzip.compress(m) for m in bad))
    run = verify_paths([tmp_path / "test.wacz"])
    assert [r.path for r in run.files] == [
        f"{wacz}#archive/{good.name}",
        f"{wacz}#archive/bad.warc.gz",
    ]
    assert [r.ok for r in run.files] == [True, False]
    assert "block digest mismatch" in messages(run.files[1])


# -- damaged copies ----------------------------------------------------------------


def flip_body_byte(records: list[bytes], new_id: Ids) -> list[bytes]:
    index = records[2].index(PAGE) + 30
    body = bytearray(records[2])
    body[index] ^= 0x01
    return [records[0], records[1], bytes(body)]


def drop_response(records: list[bytes], new_id: Ids) -> list[bytes]:
    return records[:2]


def mix_versions(records: list[bytes], new_id: Ids) -> list[bytes]:
    return [*records[:2], records[2].replace(b"WARC/1.1\r\n", b"WARC/1.0\r\n", 1)]


def drop_warcinfo(records: list[bytes], new_id: Ids) -> list[bytes]:
    return records[1:]


def digest_over_framing(records: list[bytes], new_id: Ids) -> list[bytes]:
    return [warcinfo(new_id), chunked_response(new_id, digest_over="framing")]


DAMAGES = {
    "flipped body byte": (flip_body_byte, ["block digest mismatch", "payload digest mismatch"]),
    "concurrent-to target missing": (
        drop_response,
        ["WARC-Concurrent-To target <urn:uuid:", "is in none of the files checked"],
    ),
    "WARC/1.0 and WARC/1.1 mixed": (mix_versions, ["WARC/1.0 record in a WARC/1.1 file"]),
    "no warcinfo first": (drop_warcinfo, ["first record is 'request', not warcinfo"]),
    "payload digest over chunk framing": (
        digest_over_framing,
        ["WARC-Payload-Digest covers the chunked transfer encoding"],
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_copy_is_reported(tmp_path: Path, new_id: Ids, damage: str) -> None:
    change, expected = DAMAGES[damage]
    records = members(write_warc(tmp_path / "clean", new_id))
    path = write_members(tmp_path / "damaged.warc.gz", change(records, new_id))
    report = only(verify_paths([path]))
    for text in expected:
        assert text in messages(report)
    assert report.complete
    result = run_cli(str(path))
    assert result.returncode == 1, result.stderr
    assert f"{path}: {report.problem_count} problem" in result.stdout
    for text in expected:
        assert text in result.stdout


def test_a_file_cut_inside_a_record_is_truncated(tmp_path: Path, new_id: Ids) -> None:
    clean = write_warc(tmp_path / "clean", new_id, [exchange(body=NOISE)])
    data = clean.read_bytes()
    last = len(data) - len(members_data(data)[-1])  # where the response's member starts
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: (last + len(data)) // 2])
    report = only(verify_paths([cut]))
    assert report.records == 3
    assert [(p.offset, p.message.split(":")[0]) for p in report.problems] == [
        (last, "truncated record")
    ]
    result = run_cli(str(cut))
    assert result.returncode == 1
    assert "truncated record: its length is" in result.stdout


def test_a_plain_file_cut_inside_a_record_is_truncated(tmp_path: Path, new_id: Ids) -> None:
    plain = b"".join(members(write_warc(tmp_path / "clean", new_id)))
    cut = tmp_path / "cut.warc"
    cut.write_bytes(plain[:-500])
    assert "truncated record" in messages(only(verify_paths([cut])))


def test_garbage_is_not_a_warc_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.warc.gz"
    garbage.write_bytes(random.Random(1).randbytes(5000))
    report = only(verify_paths([garbage]))
    assert not report.complete
    assert report.problems[0].offset == 0
    assert "unreadable: not a WARC or ARC file" in report.problems[0].message
    result = run_cli(str(garbage))
    assert result.returncode == 1
    assert "not a WARC or ARC file" in result.stdout


def test_corrupt_gzip_data_stops_the_file_not_the_run(tmp_path: Path, new_id: Ids) -> None:
    data = bytearray(write_warc(tmp_path / "clean", new_id, [exchange(body=NOISE)]).read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(bytes(data))
    good = write_warc(tmp_path / "good", new_id)
    run = verify_paths([broken, good])
    assert not run.files[0].complete
    assert "bad gzip data, reading stops here: Error -3" in messages(run.files[0])
    assert run.files[1].ok


def test_printed_problems_are_capped_per_file(tmp_path: Path, new_id: Ids) -> None:
    records = [warcinfo(new_id)]
    for _ in range(MAX_PROBLEMS_SHOWN + 5):
        records.append(
            raw_record(
                "resource",
                b"x",
                record_id=new_id(),
                content_type="text/plain",
                fields=[("WARC-Payload-Digest", sha1_b32(b"y"))],
            )
        )
    path = write_members(tmp_path / "many.warc.gz", records)
    run = verify_paths([path])
    text = render_report(run)
    lines = text.splitlines()
    assert lines[0] == f"{path}: {MAX_PROBLEMS_SHOWN + 5} problems (WARC/1.1, 26 records)"
    assert sum("payload digest mismatch" in line for line in lines) == MAX_PROBLEMS_SHOWN
    assert "    ... and 5 more problems" in lines
    assert lines[-1] == "1 file, 26 records: 1 with problems (25 problems), 0 OK; 0 warnings"


# -- digests and chunks ----------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    ["sha1", "SHA-1", "sha256", "sha-256", "sha512", "md5"],
)
@pytest.mark.parametrize("encoding", ["base32", "base32 lower", "base32 unpadded", "hex", "HEX"])
def test_digest_labels_and_encodings(label: str, encoding: str) -> None:
    name = label.lower().replace("-", "")
    raw = hashlib.new(name, b"payload").digest()
    value = {
        "base32": base64.b32encode(raw).decode(),
        "base32 lower": base64.b32encode(raw).decode().lower(),
        "base32 unpadded": base64.b32encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }[encoding]
    digest = parse_digest(f"{label}:{value}")
    assert digest.matches(raw)
    assert not digest.matches(hashlib.new(name, b"other").digest())
    assert digest.encode(raw) == f"{label}:{value}"


def test_base64_digests_as_some_writers_write_them() -> None:
    raw = hashlib.sha1(b"").digest()
    assert parse_digest("sha1:2jmj7l5rSw0yVb/vlWAYkK/YBwk=").matches(raw)
    assert parse_digest("sha1:2jmj7l5rSw0yVb_vlWAYkK_YBwk=").matches(raw)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("sha1", DigestError),
        ("sha1:", DigestError),
        ("sha1:1112H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ", DigestError),  # 1 is not base32
        ("sha1:abc", DigestError),
        ("blake3:abcd", UnsupportedDigest),
    ],
)
def test_unusable_digests(value: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_digest(value)


def feed_in_pieces(dechunker: Dechunker, data: bytes, size: int) -> None:
    for start in range(0, len(data), size):
        dechunker.feed(data[start : start + size])


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 100, 100_000])
def test_dechunking_in_pieces_of_any_size(piece: int) -> None:
    out = bytearray()
    dechunker = Dechunker(out.extend)
    framed = chunked(NOISE[:5000], 777).replace(b"\r\n0\r\n", b"\r\n0;end=1\r\nX-Trailer: t\r\n", 1)
    feed_in_pieces(dechunker, framed, piece)
    assert (bytes(out), dechunker.error, dechunker.done, dechunker.extra) == (
        NOISE[:5000],
        None,
        True,
        0,
    )


@pytest.mark.parametrize(
    ("framed", "error"),
    [
        (b"3\r\naa\r\n0\r\n\r\n", "chunk data is not followed by CRLF at body byte 6"),
        (b"<html>\r\n", "bad chunk-size line b'<html>\\r\\n' at body byte 0"),
        (b"5" * 9000, "chunk-size or trailer line too long"),
        (b"<!DOCTYPE html>", "bad chunk-size line b'<!DOCTYPE html>' at body byte 0"),
        (b"3\r\nabcX", "chunk data is not followed by CRLF at body byte 6"),
    ],
)
def test_bad_chunk_framing(framed: bytes, error: str) -> None:
    dechunker = Dechunker(lambda data: None)
    feed_in_pieces(dechunker, framed, 4)
    dechunker.close()
    assert dechunker.error is not None and dechunker.error.startswith(error)


def test_chunked_body_cut_inside_a_chunk_is_only_incomplete() -> None:
    out = bytearray()
    dechunker = Dechunker(out.extend)
    feed_in_pieces(dechunker, b"5\r\nhello\r\n10\r\nwor", 3)
    dechunker.close()
    assert (bytes(out), dechunker.error, dechunker.done) == (b"hellowor", None, False)


def test_http_payload_is_the_body_after_the_header() -> None:
    http = HttpPayload(["sha1"])
    block = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunked(PAGE, 64)
    for start in range(0, len(block), 5):
        http.feed(block[start : start + 5])
    http.close()
    assert http.chunked and http.head_done
    assert http.entity.digest("sha1") == hashlib.sha1(PAGE).digest()
    assert http.framed.digest("sha1") == hashlib.sha1(chunked(PAGE, 64)).digest()


# -- files made elsewhere ----------------------------------------------------------

SAMPLE_VERDICTS = [
    # (file, clean?, text expected in a problem, or in a warning for a clean file)
    ("pywb/sample_archive/warcs/example.warc.gz", True, None),
    ("warcio/example.warc.gz", True, None),
    ("ukwa-webarchive-discovery/transfer_compression_brotli.warc.gz", True, None),
    ("commoncrawl-whirlwind/whirlwind.warc.gz", True, None),
    ("commoncrawl-whirlwind/whirlwind.warc.wet.gz", True, "WARC-Refers-To target"),
    # LiveWeb Warc Writer stored de-chunked bodies under a chunked header.
    ("pywb/sample_archive/warcs/iana.warc.gz", True, "Transfer-Encoding: chunked but the body"),
    ("warcio/example-bad-non-chunked.warc.gz", False, "one gzip stream, not one gzip member"),
    ("warcio/example-trunc.warc", False, "block digest mismatch"),
    # warcprox 1.4 and wget 1.13 hashed the chunk framing into the payload digest.
    ("warcio/example-iana.org-chunked.warc", False, "covers the chunked transfer encoding"),
    ("warcat/example/at.warc.gz", False, "covers the chunked transfer encoding"),
    # gzip members cut across records: the first one ends inside the block.
    ("warcio/example-wrong-chunks.warc.gz", False, "truncated record"),
    ("resiliparse/tests/data/block-sized-records.warc.lz4", False, "LZ4-compressed"),
    ("ukwa-webarchive-discovery/truncated_datetime.warc", False, "WARC-Date '2019-08-15T01:02'"),
    # The same warcinfo member written at the start and again at the end.
    ("py-wacz/example-iana.warc", False, "duplicate WARC-Record-ID"),
    ("warcio/example-digest.warc", False, "is not a sha1 value in hex, base32 or base64"),
    ("warcio/bad.arc", False, "ARC record length 'abc' is not a number"),
    ("py-wacz/invalid_example_1.wacz", False, "no WARC file under archive/"),
    ("py-wacz/valid_signed_example_1.wacz", False, "first record is 'response', not warcinfo"),
]


@pytest.mark.parametrize(("name", "clean", "text"), SAMPLE_VERDICTS)
def test_verdicts_on_files_made_elsewhere(name: str, clean: bool, text: str | None) -> None:
    run = verify_paths([shared_path("warc-samples", name)])
    assert run.ok is clean, render_report(run)
    if text is not None:
        found = [str(p) for report in run.files for p in report.problems + report.warnings]
        assert any(text in line for line in found), render_report(run)


def test_arc_and_wacz_files_are_read() -> None:
    arc = only(verify_paths([shared_path("warc-samples", "warcio", "example.arc.gz")]))
    assert (arc.ok, arc.format, arc.records) == (True, "ARC", 2)
    wacz = shared_path("warc-samples", "py-wacz", "valid_example_1.wacz")
    member = only(verify_paths([wacz]))
    assert member.path == f"{wacz}#archive/example-collection.warc"
    assert (member.ok, member.format, member.records) == (True, "WARC/1.0", 4)


def test_every_sample_is_judged_without_error_and_fast() -> None:
    root = shared_path("warc-samples")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        started = time.monotonic()
        run = verify_paths([path])
        assert time.monotonic() - started < 5, path
        assert run.files and all(report.path.startswith(str(path)) for report in run.files)
        render_report(run)
    everything = verify_paths([root])  # one run: links and duplicates across files
    assert len(everything.files) > 60
    assert all(report.records or report.problem_count for report in everything.files)


# -- the command line ------------------------------------------------------------


def test_cli_exit_code_0_for_clean_files(tmp_path: Path, new_id: Ids) -> None:
    path = write_warc(tmp_path, new_id)
    result = run_cli(str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{path}: OK (WARC/1.1, 3 records)",
        "1 file, 3 records: all OK; 0 warnings",
    ]


def test_cli_checks_the_archive_folder_by_default(tmp_path: Path, new_id: Ids) -> None:
    archive = tmp_path / "my-archive"
    path = write_warc(archive / "warc", new_id)
    env = {**os.environ, "ARCHIVER_DIR": str(archive)}
    result = run_cli(cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: OK")
    result = run_cli("-s", f"ARCHIVER_DIR={tmp_path / 'none'}", cwd=tmp_path, env=env)
    assert result.returncode == 2


def test_cli_usage_error_for_a_missing_path(tmp_path: Path, new_id: Ids) -> None:
    good = write_warc(tmp_path, new_id)
    result = run_cli(str(good), str(tmp_path / "missing.warc.gz"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: no such file or folder: {tmp_path / 'missing.warc.gz'}"
    ]
