"""Read back what a crawl wrote, with warcio, checking every digest."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warcio.archiveiterator import ArchiveIterator

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class Record:
    type: str
    headers: dict[str, list[str]]
    http_block: bytes  #: status/request line and headers, as stored
    payload: bytes  #: what follows the HTTP headers, as stored
    file: str
    offset: int
    length: int

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[-1] if values else None

    @property
    def id(self) -> str:
        value = self.header("WARC-Record-ID")
        assert value is not None
        return value

    @property
    def url(self) -> str | None:
        return self.header("WARC-Target-URI")

    def http_headers(self, name: str) -> list[str]:
        wanted = name.lower().encode()
        values = []
        for line in self.http_block.split(b"\r\n")[1:]:
            key, sep, value = line.partition(b":")
            if sep and key.strip().lower() == wanted:
                values.append(value.strip().decode("latin-1"))
        return values

    @property
    def first_line(self) -> str:
        return self.http_block.split(b"\r\n", 1)[0].decode("latin-1")


def sha1_digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def read_warc(path: Path) -> list[Record]:
    """Every record of ``path``, its block and payload digests checked."""
    records = []
    with path.open("rb") as stream:
        iterator = ArchiveIterator(stream, no_record_parse=True)
        for record in iterator:
            headers: dict[str, list[str]] = {}
            for name, value in record.rec_headers.headers:
                headers.setdefault(name.lower(), []).append(value)
            block = record.raw_stream.read()
            iterator.read_to_end(record)
            http_block, payload = b"", block
            content_type = headers.get("content-type", [""])[-1]
            if content_type.startswith("application/http"):
                head, sep, payload = block.partition(b"\r\n\r\n")
                assert sep, f"no end of HTTP headers in {record.rec_type} record"
                http_block = head + sep
            assert headers["warc-block-digest"][-1] == sha1_digest(block), headers
            expected = headers.get("warc-payload-digest", [None])[-1]
            if expected is not None and record.rec_type != "revisit":
                assert expected == sha1_digest(payload), f"payload digest of {headers}"
            records.append(
                Record(
                    record.rec_type,
                    headers,
                    http_block,
                    payload,
                    path.name,
                    iterator.get_record_offset(),
                    iterator.get_record_length(),
                )
            )
    return records


def read_archive(archive_dir: Path) -> list[Record]:
    """All records of all finished WARC files of an archive folder, in file order."""
    records = []
    for path in sorted((archive_dir / "warc").glob("*.warc.gz")):
        records.extend(read_warc(path))
    return records
