"""The CDXJ index that replay tools read (pywb's format), under ``DIR/indexes/``.

One line per ``response`` and ``revisit`` record::

    SURTKEY YYYYMMDDhhmmss {"url": ..., "mime": ..., "status": ..., "digest": ...,
                            "length": ..., "offset": ..., "filename": ...}

with the fields, their order and their spelling of pywb's ``cdx-indexer -j``
(digest in bare base32, values as strings, revisits with ``"mime":
"warc/revisit"`` and no status; the media type lower-cased, as the index
keeps it, where pywb keeps the server's case), sorted in byte order (``LC_ALL=C sort``),
uncompressed: pywb binary-searches the file and reads only ``.cdxj`` names.

Requests, ``metadata`` and ``conversion`` records get no line: pywb would
serve them in place of the page (a request replays as an error, metadata and
text as the page itself).

A ``server-not-modified`` revisit (the 304 head as its block: what really
happened) gets a line at *its* moment that points at the original response
(the original's filename, offset, length, media type and status). Measured with
pywb 2.10: a revisit line for it replays that moment as "304" with the old body,
while this line replays it as the page, a 200 with its HTML, and the timemap
lists the moment. The record itself stays untouched; a reindex from the WARC
files gives the same line (:class:`LineMaker` remembers each 200 response).

Sorting is done in memory: the lines of the whole archive are held at once,
about 250 bytes a capture (some 250 MB for a million captures).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.archive import url_key
from crawler.warc.exchange import media_type
from crawler.warc.reader import ReadProblem, StoredRecord, cdx_timestamp, iter_records
from crawler.warc.writer import OPEN_SUFFIX

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from crawler.index import Index
    from crawler.layout import Layout

logger = logging.getLogger(__name__)

#: The file names read as WARC or ARC files (``.open`` files are being written).
ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
INDEXED_TYPES = frozenset({"response", "revisit"})
REVISIT_MIME = "warc/revisit"


def archive_files(warc_dir: Path, *, with_open: bool = False) -> list[Path]:
    """Every WARC and ARC file under ``warc_dir``, in name order.

    ``.open`` files are being written, or were left by a crawl that was killed:
    only with ``with_open`` (a reindex, which holds the folder's lock).
    """
    if not warc_dir.is_dir():
        return []
    suffixes: tuple[str, ...] = ARCHIVE_SUFFIXES
    if with_open:
        suffixes += tuple(suffix + OPEN_SUFFIX for suffix in ARCHIVE_SUFFIXES)
    found = [
        path
        for path in warc_dir.rglob("*")
        if path.is_file() and path.name.lower().endswith(suffixes)
    ]
    return sorted(found)


def cdxj_line(
    *,
    url: str,
    timestamp: str,
    record_type: str,
    mime: str | None,
    status: int | None,
    digest: str | None,
    length: int,
    offset: int,
    filename: str,
) -> str:
    """One CDXJ line, spelled as pywb's indexer spells it."""
    fields: dict[str, Any] = {"url": url}
    if record_type == "revisit":
        fields["mime"] = REVISIT_MIME
    else:
        fields["mime"] = mime or "unk"
        if status is not None:
            fields["status"] = str(status)
    if digest:
        fields["digest"] = digest.removeprefix("sha1:")
    fields["length"] = str(length)
    fields["offset"] = str(offset)
    fields["filename"] = filename
    return f"{url_key(url)} {timestamp} {json.dumps(fields)}"


def record_line(record: StoredRecord, filename: str) -> str:
    """The CDXJ line of a response or revisit record."""
    status = record.status
    if record.is_http:
        mime = media_type(record.http_headers)
    else:
        # A response that is not HTTP (``dns:``, some ARC records): pywb reads
        # it as a 200 of the record's own Content-Type.
        content_type = (record.header("Content-Type") or "").encode("latin-1", "replace")
        mime = media_type([(b"content-type", content_type)])
        status = 200 if record.record_type == "response" else None
    digest = record.header("WARC-Payload-Digest")
    if not digest and record.record_type != "revisit":
        # Some writers (ARC files, old tools) leave it out; pywb computes it too.
        digest = base64.b32encode(hashlib.sha1(record.entity_body).digest()).decode("ascii")
    return cdxj_line(
        url=record.url,
        timestamp=record.timestamp,
        record_type=record.record_type,
        mime=mime,
        status=status,
        digest=digest,
        length=record.length,
        offset=record.offset,
        filename=filename,
    )


@dataclass(frozen=True, slots=True)
class _Original:
    filename: str
    offset: int
    length: int
    mime: str | None
    digest: str | None


class LineMaker:
    """CDXJ lines of records read in file order, 304 revisits pointed at their originals.

    It remembers the location of every 200 response by record id (about 150
    bytes each) so that a later 304 revisit's line can point at its original.
    """

    def __init__(self) -> None:
        self._originals: dict[str, _Original] = {}
        #: 304 revisits read before their original (file names need not sort by time).
        self._waiting: list[tuple[StoredRecord, str]] = []

    def lines(self, record: StoredRecord, filename: str) -> list[str]:
        """The line of ``record``, or none yet: a 304 revisit waits for its original."""
        if (
            record.record_type == "revisit"
            and record.status == 304
            and (record.header("WARC-Refers-To") or "") not in self._originals
        ):
            # The block is dropped: the line needs only the headers and the place.
            self._waiting.append((_head_only(record), filename))
            return []
        return [self.line(record, filename)]

    def finish(self) -> list[str]:
        """The lines of the 304 revisits still waiting, now that every file was read."""
        waiting, self._waiting = self._waiting, []
        return [self.line(record, filename) for record, filename in waiting]

    def line(self, record: StoredRecord, filename: str) -> str:
        if record.record_type == "response" and record.status == 200 and record.record_id:
            self._originals[record.record_id] = _Original(
                filename,
                record.offset,
                record.length,
                media_type(record.http_headers),
                record.header("WARC-Payload-Digest"),
            )
        elif record.record_type == "revisit" and record.status == 304:
            original = self._originals.get(record.header("WARC-Refers-To") or "")
            if original is not None:
                return not_modified_line(record.url, record.timestamp, original)
        return record_line(record, filename)


def _head_only(record: StoredRecord) -> StoredRecord:
    return StoredRecord(
        record.record_type,
        record.headers,
        record.file,
        record.offset,
        record.length,
        http_head=record.http_head,
    )


def not_modified_line(url: str, timestamp: str, original: _Original) -> str:
    """The line of a 304 revisit: its moment, the original response's record."""
    return cdxj_line(
        url=url,
        timestamp=timestamp,
        record_type="response",
        mime=original.mime,
        status=200,
        digest=original.digest,
        length=original.length,
        offset=original.offset,
        filename=original.filename,
    )


def cdxj_lines(
    warc_files: Iterable[Path], base: Path, problems: list[ReadProblem] | None = None
) -> Iterator[str]:
    """Unsorted lines for the response and revisit records of ``warc_files``.

    ``filename`` is each file's path relative to ``base``. A file that cannot
    be read whole gives the lines of what could be read; the problem is added
    to ``problems`` when given, else logged.
    """
    maker = LineMaker()
    for path in warc_files:
        filename = _relative(path, base)
        for item in iter_records(path):
            if isinstance(item, ReadProblem):
                if problems is not None:
                    problems.append(item)
                else:
                    logger.warning("CDXJ: %s", item)
                continue
            if item.record_type in INDEXED_TYPES and item.url:
                yield from maker.lines(item, filename)
    yield from maker.finish()


def index_lines(index: Index) -> Iterator[str]:
    """Unsorted lines for the response and revisit captures the index holds.

    The same lines as :func:`cdxj_lines` gives for the files the index covers,
    for the cost of one query: the end of a crawl must not read every WARC.
    """
    rows = index.query(
        "SELECT c.url, c.fetched_at, c.record_type, c.status, c.mime, c.payload_digest, "
        "c.warc_length, c.warc_offset, c.warc_file, o.warc_file AS o_file, "
        "o.warc_offset AS o_offset, o.warc_length AS o_length, o.mime AS o_mime, "
        "o.payload_digest AS o_digest FROM captures c LEFT JOIN captures o "
        "ON c.record_type = 'revisit' AND c.status = 304 AND o.record_id = c.refers_to "
        "AND o.record_type = 'response' AND o.status = 200 "
        "WHERE c.record_type IN ('response', 'revisit')"
    )
    for row in rows:
        if Path(row["warc_file"]).is_absolute():
            continue  # a record of another archive, replayed from it: not ours to serve
        if row["o_file"] is not None:
            original = _Original(
                row["o_file"], row["o_offset"], row["o_length"], row["o_mime"], row["o_digest"]
            )
            yield not_modified_line(row["url"], cdx_timestamp(row["fetched_at"]), original)
            continue
        yield cdxj_line(
            url=row["url"],
            timestamp=cdx_timestamp(row["fetched_at"]),
            record_type=row["record_type"],
            mime=row["mime"],
            status=row["status"],
            digest=row["payload_digest"],
            length=row["warc_length"],
            offset=row["warc_offset"],
            filename=row["warc_file"],
        )


def write_sorted(lines: Iterable[str], target: Path) -> Path:
    """Sort ``lines`` in byte order and write them to ``target`` atomically."""
    # Python orders str by code point, which is the byte order of their UTF-8.
    ordered = sorted(lines)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            for line in ordered:
                out.write(line)
                out.write("\n")
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return target


def write_cdxj(layout: Layout, problems: list[ReadProblem] | None = None) -> Path:
    """Write ``layout.cdxj`` from every WARC and ARC file under ``layout.warc_dir``."""
    files = archive_files(layout.warc_dir)
    path = write_sorted(cdxj_lines(files, layout.warc_dir, problems), layout.cdxj)
    logger.info("wrote %s from %d WARC files", path, len(files))
    return path


def write_cdxj_from_index(layout: Layout, index: Index) -> Path:
    """Write ``layout.cdxj`` from the index's captures (the end of a crawl)."""
    path = write_sorted(index_lines(index), layout.cdxj)
    logger.info("wrote %s from the index", path)
    return path


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()
