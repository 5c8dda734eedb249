"""Write an archive folder as a WACZ 1.1.1 file, for ReplayWeb.page and other replay tools.

A WACZ is a ZIP file::

    archive/<name>.warc.gz      the WARC files, stored uncompressed in the ZIP:
                                replay tools read records by byte range
    indexes/index.cdxj          the archive's CDXJ index (filenames relative to archive/)
    pages/pages.jsonl           the pages, with their extracted text (full-text search)
    datapackage.json            every other file with its size and SHA-256
    datapackage-digest.json     the SHA-256 of datapackage.json

Pages come from the index: every input entry's final capture and every
capture that gave a text file, each with its URL as archived (the final URL
after redirects), its capture time, title and text (the paragraphs of its text
file joined by empty lines). A capture without text is listed with its URL,
time and title only. Everything is streamed: no WARC file is ever held in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from crawler.cdxj import archive_files
from crawler.index import read_only
from crawler.outcomes import TextOutcome
from crawler.text.document import DocumentFormatError, parse
from crawler.warc.reader import ReadProblem, iter_records, read_record

if TYPE_CHECKING:
    from collections.abc import Iterator

    from crawler.layout import Layout

logger = logging.getLogger(__name__)

WACZ_VERSION = "1.1.1"
PAGES_PATH = "pages/pages.jsonl"
INDEX_PATH = "indexes/index.cdxj"
ARCHIVE_FOLDER = "archive"
CHUNK = 1 << 20

# Every input entry's final capture, and every capture that gave text; a
# capture's text file is its own only if no later capture wrote the same name.
_PAGES_SQL = """
SELECT c.id, c.url, c.fetched_at, c.title, c.text_outcome, c.text_path, c.record_id,
       c.conversion_record_id, c.warc_file, c.id = owners.owner AS owns_text
FROM captures c
LEFT JOIN (
    SELECT text_path, MAX(id) AS owner FROM captures
    WHERE text_path IS NOT NULL GROUP BY text_path
) owners ON owners.text_path = c.text_path
WHERE c.text_outcome = ? OR c.id IN (SELECT capture_id FROM seeds WHERE capture_id IS NOT NULL)
ORDER BY c.fetched_at, c.id
"""


@dataclass(frozen=True, slots=True)
class Page:
    """One line of ``pages.jsonl``."""

    id: str
    url: str
    ts: str  #: capture time, ISO 8601 to the second (as replay URLs count it)
    title: str
    text: str | None = None

    def line(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"id": self.id, "url": self.url, "ts": self.ts}
        fields["title"] = self.title
        if self.text is not None:
            fields["text"] = self.text
        return fields


@dataclass(frozen=True, slots=True)
class WaczSummary:
    path: Path
    pages: int
    pages_with_text: int
    warc_files: int
    size: int


class WaczError(Exception):
    """The archive folder cannot be exported."""


def iter_pages(layout: Layout) -> Iterator[Page]:
    """The pages of the archive folder, from its index, in capture order."""
    if not layout.index.is_file():
        raise WaczError(f"{layout.index} is missing (rebuild it with `archiver reindex`)")
    db = read_only(layout.index)
    conversions = _ConversionFinder(layout)
    try:
        elsewhere = 0
        for row in db.execute(_PAGES_SQL, (TextOutcome.WRITTEN.value,)):
            if Path(row["warc_file"]).is_absolute():
                # A replay's capture of another archive's record: not in this WACZ.
                elsewhere += 1
                continue
            text: str | None = None
            # An unchanged capture's text is the version it repeats (its conversion record).
            if row["text_outcome"] in (TextOutcome.WRITTEN, TextOutcome.UNCHANGED):
                text = _page_text(layout, row, conversions)
            yield Page(
                id=_page_id(row["record_id"]),
                url=row["url"],
                ts=_iso_second(row["fetched_at"]),
                title=row["title"] or row["url"],
                text=text,
            )
        if elsewhere:
            logger.warning(
                "WACZ pages: %d captures left out: their records are in another archive "
                "(a replay into this folder); export that archive",
                elsewhere,
            )
    except sqlite3.DatabaseError as exc:
        raise WaczError(f"cannot read {layout.index}: {exc}") from exc
    finally:
        db.close()


def document_text(document: str) -> str:
    """What ReplayWeb.page searches: the document's paragraphs, joined by empty lines."""
    try:
        return "\n\n".join(parse(document).paragraphs)
    except DocumentFormatError:
        return document.strip()


def write_wacz(layout: Layout, cdxj: Path, out: Path, *, title: str) -> WaczSummary:
    """Write the WACZ of ``layout`` (with its CDXJ index ``cdxj``) to ``out``, atomically."""
    warcs = archive_files(layout.warc_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: the file gets the usual permissions (umask), not 0600.
    partial = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with tempfile.TemporaryFile(dir=out.parent) as pages_file:
            pages, with_text = _write_pages(layout, pages_file, title)
            pages_file.seek(0)
            with zipfile.ZipFile(partial, "w") as wacz:
                resources = [
                    _add_file(wacz, warc, _archive_name(warc, layout.warc_dir), stored=True)
                    for warc in warcs
                ]
                resources.append(_add_file(wacz, cdxj, INDEX_PATH))
                resources.append(_add_stream(wacz, pages_file, PAGES_PATH))
                _add_datapackage(wacz, resources, title)
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    logger.info("wrote %s: %d pages, %d WARC files", out, pages, len(warcs))
    return WaczSummary(out, pages, with_text, len(warcs), out.stat().st_size)


# -- pages ------------------------------------------------------------------


class _ConversionFinder:
    """Where each conversion record is, found by reading the WARC files once, if ever needed."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._where: dict[str, tuple[Path, int]] | None = None

    def text(self, record_id: str) -> str | None:
        if self._where is None:
            self._where = {}
            for path in archive_files(self.layout.warc_dir):
                for item in iter_records(path, with_payload=False):
                    if isinstance(item, ReadProblem):
                        logger.warning("WACZ pages: %s", item)
                    elif item.record_type == "conversion" and item.record_id:
                        self._where[item.record_id] = (path, item.offset)
        found = self._where.get(record_id)
        if found is None:
            return None
        return read_record(*found).payload.decode("utf-8", "replace")


def _page_text(layout: Layout, row: sqlite3.Row, conversions: _ConversionFinder) -> str | None:
    if row["text_path"] and row["owns_text"]:
        path = layout.resolve(row["text_path"])
        if path.is_file():
            return document_text(path.read_text(encoding="utf-8"))
    # The file is gone, or a later crawl of the same entry rewrote it: the
    # conversion record holds this capture's own text.
    if row["conversion_record_id"]:
        document = conversions.text(row["conversion_record_id"])
        if document is not None:
            return document_text(document)
    logger.warning("WACZ pages: no text found for %s (%s)", row["url"], row["fetched_at"])
    return None


def _write_pages(layout: Layout, out: IO[bytes], title: str) -> tuple[int, int]:
    header = {"format": "json-pages-1.0", "id": "pages", "title": title, "hasText": True}
    out.write(_json_line(header))
    pages = with_text = 0
    for page in iter_pages(layout):
        out.write(_json_line(page.line()))
        pages += 1
        with_text += page.text is not None
    return pages, with_text


def _json_line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8") + b"\n"


def _page_id(record_id: str) -> str:
    """A stable page id: the capture's record id without its ``<urn:uuid:...>`` wrapping."""
    return record_id.strip("<>").removeprefix("urn:uuid:")


def _iso_second(warc_date: str) -> str:
    return warc_date[:19] + "Z" if len(warc_date) >= 19 else warc_date


# -- the ZIP file -----------------------------------------------------------


def _archive_name(warc: Path, warc_dir: Path) -> str:
    # The CDXJ names files relative to the warc folder; replay tools prefix "archive/".
    return f"{ARCHIVE_FOLDER}/{warc.relative_to(warc_dir).as_posix()}"


def _add_file(
    wacz: zipfile.ZipFile, path: Path, name: str, *, stored: bool = False
) -> dict[str, Any]:
    info = zipfile.ZipInfo.from_file(path, name)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with path.open("rb") as source:
        return _copy(wacz, info, source)


def _add_stream(wacz: zipfile.ZipFile, source: IO[bytes], name: str) -> dict[str, Any]:
    info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.file_size = os.fstat(source.fileno()).st_size  # decides whether ZIP64 is needed
    return _copy(wacz, info, source)


def _copy(wacz: zipfile.ZipFile, info: zipfile.ZipInfo, source: IO[bytes]) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with wacz.open(info, "w") as target:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            target.write(chunk)
            size += len(chunk)
    return _resource(info.filename, f"sha256:{digest.hexdigest()}", size)


def _resource(path: str, digest: str, size: int) -> dict[str, Any]:
    # Frictionless (which `wacz validate` runs) wants lower-case names of few characters.
    name = re.sub(r"[^-a-z0-9._/]", "-", path.rsplit("/", 1)[-1].lower())
    return {"name": name, "path": path, "hash": digest, "bytes": size}


def _add_datapackage(wacz: zipfile.ZipFile, resources: list[dict[str, Any]], title: str) -> None:
    package = {
        "profile": "data-package",
        "resources": resources,
        "title": title,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wacz_version": WACZ_VERSION,
        "software": f"archiver {_version()}",
    }
    data = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
    wacz.writestr("datapackage.json", data, compress_type=zipfile.ZIP_DEFLATED)
    digest = {"path": "datapackage.json", "hash": f"sha256:{hashlib.sha256(data).hexdigest()}"}
    wacz.writestr(
        "datapackage-digest.json", json.dumps(digest, indent=2), compress_type=zipfile.ZIP_DEFLATED
    )


def _version() -> str:
    try:
        return metadata.version("archiver")
    except metadata.PackageNotFoundError:
        return "unknown"
