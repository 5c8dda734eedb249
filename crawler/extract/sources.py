"""Where ``archiver extract`` finds its pages: an archive's index, or WARC files read in order.

Two sources, one shape: each yields :class:`PageJob` (a response ready for
:func:`crawler.extract.convert.convert_page`, with the text file's name fixed),
:class:`PageFailure` (a page known but not convertible: its record is gone, a
revisit without its original) and :class:`ReadProblem` (a file, or the rest of
one, that could not be read). Nothing here raises on bad input.

- :func:`index_pages`: our archives. Every seed whose text was written, under
  the name the index gives it (the latest crawl's row when several crawls wrote
  one name), its response read at (WARC file, offset), with the arguments the
  live text pipeline used.
- :func:`warc_pages`: anyone's WARC and ARC files, in the order given. The
  records considered are the ``response`` and ``revisit`` records that carry an
  HTTP status line; the n-th of them (from 0) is named
  ``{n:03d}_{sha256(WARC-Target-URI)[:16]}.txt``, whatever its status or type
  (``convert_page`` then decides: only 2xx HTML pages get a file).
"""

from __future__ import annotations

import logging
import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.archive import url_key
from crawler.index import LATEST_TEXT_SEEDS, read_only
from crawler.text.document import file_name
from crawler.warc.reader import (
    ReadProblem,
    RevisitError,
    StoredRecord,
    capture_date,
    cdx_timestamp,
    iter_records,
    read_record,
    replay_head,
    resolve_revisit,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import date

    from crawler.layout import Layout
    from crawler.warc.exchange import Header
    from crawler.warc.reader import Locator, UriLocator

logger = logging.getLogger(__name__)

#: The names a folder is searched for (``.open`` files too: a crawl still writing them).
PAGE_TYPES = frozenset({"response", "revisit"})
#: WACZ members that hold the WARC files.
WACZ_ARCHIVE = "archive/"


@dataclass(frozen=True, slots=True)
class PageJob:
    """One response to convert, and the text file name it gets when it has text."""

    name: str
    url: str  #: the URL the content stands for (links, site name)
    original_url: str  #: the document's ``Original url``
    fetched: date | None
    status: int
    reason: bytes
    headers: list[Header]
    body: bytes  #: entity body as stored: de-chunked, still content-coded
    warc_file: str
    offset: int
    truncated: str | None = None  #: the original response's ``WARC-Truncated``: a cut body


@dataclass(frozen=True, slots=True)
class PageFailure:
    """A page that cannot be converted, and why."""

    name: str
    url: str
    reason: str
    warc_file: str
    offset: int | None


@dataclass(frozen=True, slots=True)
class RecordJob:
    """A response record to read and convert in a worker: only its place travels."""

    name: str
    url: str
    original_url: str
    warc_file: str
    offset: int


Item = PageJob | RecordJob | PageFailure | ReadProblem


def _page_of(
    record: StoredRecord, original: StoredRecord, *, name: str, url: str, original_url: str
) -> PageJob:
    """The page a response (or a revisit, with its original) stands for."""
    head = replay_head(record, original) if record is not original else record.http_head or b""
    # A record with only the head, so the status, reason and header parsing are the reader's.
    view = StoredRecord("response", [], record.file, record.offset, 0, http_head=head)
    return PageJob(
        name=name,
        url=url,
        original_url=original_url,
        fetched=capture_date(record.date),
        status=view.status or 0,
        reason=view.reason,
        headers=view.http_headers,
        body=original.entity_body,
        warc_file=record.file,
        offset=record.offset,
        # The original's: a revisit says nothing of the body it stands for.
        truncated=original.header("WARC-Truncated"),
    )


# -- our archives: the index says which pages and which names ----------------


# One row per text file name: the latest crawl's (the live folder has its text), its
# capture's record located by the index.
_INDEX_PAGES = f"""
SELECT s.url AS seed_url, s.final_url, s.text_path, s.archived_copy,
       c.url AS capture_url, c.warc_file, c.warc_offset, c.record_type
FROM ({LATEST_TEXT_SEEDS}) AS s JOIN captures AS c ON c.id = s.capture_id
WHERE s.latest = 1
ORDER BY c.warc_file, c.warc_offset
"""


def open_index(path: Path) -> sqlite3.Connection:
    """The index, read-only (extracting never changes it); sqlite3.Error if unusable."""
    db = read_only(path)
    db.execute("SELECT 1 FROM seeds JOIN captures LIMIT 0")
    return db


def index_pages(layout: Layout) -> Iterator[Item]:
    """The pages whose text the crawls of ``layout`` wrote, in WARC order, by their index names."""
    try:
        db = open_index(layout.index)
    except sqlite3.Error as exc:
        yield ReadProblem(str(layout.index), None, f"cannot read the index: {exc}")
        return
    try:
        rows = db.execute(_INDEX_PAGES)
        for row in rows:
            yield _index_page(layout, db, row)
    except sqlite3.Error as exc:
        yield ReadProblem(str(layout.index), None, f"cannot read the index: {exc}")
    finally:
        db.close()


def _index_page(layout: Layout, db: sqlite3.Connection, row: sqlite3.Row) -> Item:
    name = Path(row["text_path"]).name
    # As the live pipeline: an archived copy stands for the seed's URL, else the final URL.
    url = row["seed_url"] if row["archived_copy"] else row["final_url"] or row["capture_url"]
    path = layout.warc_dir / row["warc_file"]
    if row["record_type"] == "response":
        # Read where it is converted: the worker, not this process.
        return RecordJob(name, url, row["seed_url"], str(path), row["warc_offset"])
    try:
        record = read_record(path, row["warc_offset"])
    except (OSError, ValueError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return ReadProblem(str(path), row["warc_offset"], f"record not readable: {message}")
    try:
        original = resolve_revisit(
            record, _index_locator(layout, db), _index_uri_locator(layout, db)
        )
    except RevisitError as exc:
        return PageFailure(name, url, str(exc), str(path), row["warc_offset"])
    return _page_of(record, original, name=name, url=url, original_url=row["seed_url"])


def _read_at(path: Path, offset: int) -> StoredRecord | None:
    try:
        return read_record(path, offset)
    except (OSError, ValueError):
        logger.debug("no record at %s:%d", path, offset, exc_info=True)
        return None


def _index_locator(layout: Layout, db: sqlite3.Connection) -> Locator:
    def by_id(record_id: str) -> StoredRecord | None:
        row = db.execute(
            "SELECT warc_file, warc_offset FROM captures WHERE record_id = ?", (record_id,)
        ).fetchone()
        return _read_at(layout.warc_dir / row[0], row[1]) if row else None

    return by_id


def _index_uri_locator(layout: Layout, db: sqlite3.Connection) -> UriLocator:
    def by_uri(url: str, warc_date: str) -> StoredRecord | None:
        wanted = cdx_timestamp(warc_date)
        for row in db.execute(
            "SELECT warc_file, warc_offset, fetched_at FROM captures "
            "WHERE url = ? AND record_type = 'response'",
            (url.strip("<>"),),
        ):
            if cdx_timestamp(row[2]) == wanted:
                return _read_at(layout.warc_dir / row[0], row[1])
        return None

    return by_uri


# -- anyone's WARC files: record order gives the names -----------------------


def unpack_wacz(path: Path, into: Path) -> list[Path] | ReadProblem:
    """The WARC files of a WACZ, copied out under ``into`` (read_record needs a seekable file)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                info
                for info in archive.infolist()
                if info.filename.startswith(WACZ_ARCHIVE) and not info.is_dir()
            ]
            if not members:
                return ReadProblem(str(path), None, "no WARC file under archive/ in this WACZ")
            target = into / path.name
            files = []
            for info in sorted(members, key=lambda info: info.filename):
                files.append(Path(archive.extract(info, target)))
            return files
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
        return ReadProblem(str(path), None, f"not a readable WACZ: {exc}")


def is_wacz(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return stream.read(4) == b"PK\x03\x04"
    except OSError:
        return False


class _Originals:
    """Where the responses read so far lie, so that revisits can be followed to them."""

    def __init__(self) -> None:
        self.by_id: dict[str, tuple[str, int]] = {}
        self.by_uri: dict[tuple[str, str], tuple[str, int]] = {}

    def add(self, record: StoredRecord) -> None:
        where = (record.file, record.offset)
        if record.record_id:
            self.by_id.setdefault(record.record_id, where)
        # By SURT key, as replay tools match: a revisit of https://x may refer to http://x.
        self.by_uri.setdefault((url_key(record.url), record.timestamp), where)

    def find_id(self, record_id: str) -> StoredRecord | None:
        where = self.by_id.get(record_id)
        return _read_at(Path(where[0]), where[1]) if where else None

    def find_uri(self, url: str, warc_date: str) -> StoredRecord | None:
        where = self.by_uri.get((url_key(url.strip("<>")), cdx_timestamp(warc_date)))
        return _read_at(Path(where[0]), where[1]) if where else None


def warc_pages(files: list[Path]) -> Iterator[Item]:
    """The pages of ``files`` (in that order), named by their position among the pages.

    A revisit is resolved against the responses read before it; one whose
    original comes later is kept aside (its headers only) and resolved once
    every file has been read.
    """
    originals = _Originals()
    waiting: list[tuple[str, StoredRecord]] = []
    position = 0
    for path in files:
        for item in iter_records(path):
            if isinstance(item, ReadProblem):
                yield item
                continue
            record_type = item.record_type.lower()
            if record_type not in PAGE_TYPES or item.status is None:
                continue
            name = file_name(position, item.url)
            position += 1
            if record_type == "response":
                originals.add(item)
                yield _page_of(item, item, name=name, url=item.url, original_url=item.url)
                continue
            try:
                original = resolve_revisit(item, originals.find_id, originals.find_uri)
            except RevisitError:
                waiting.append((name, item))
                continue
            yield _page_of(item, original, name=name, url=item.url, original_url=item.url)
    for name, revisit in waiting:
        try:
            original = resolve_revisit(revisit, originals.find_id, originals.find_uri)
        except RevisitError as exc:
            yield PageFailure(name, revisit.url, str(exc), revisit.file, revisit.offset)
            continue
        yield _page_of(revisit, original, name=name, url=revisit.url, original_url=revisit.url)
