"""Find what the archive holds for a URL at a moment: the lookup behind replay.

Pure code under the replay download handler (:mod:`crawler.handlers.replay`):
it opens ``DIR/index.sqlite`` read-only, finds the captures of a URL by its
canonical key (SURT), picks the one closest to a moment (the latest when no
moment is given; ties go to the earlier), reads its record from the WARC file
and follows a revisit to its original. Nothing here knows Scrapy settings.

    lookup = ArchiveLookup(Path("archives"))
    found = lookup.find("https://example.com/a", parse_moment("2026-11-27"))
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urldefrag

from scrapy.exceptions import IgnoreRequest

from crawler.archive import url_key
from crawler.cdxj import archive_files
from crawler.index import CaptureRow, read_only
from crawler.layout import Layout
from crawler.warc.reader import (
    RevisitError,
    StoredRecord,
    read_record,
    replay_head,
    resolve_revisit,
    warc_datetime,
)
from crawler.warc.records import parse_warc_fields

if TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger(__name__)

#: The flag of every response served from the archive (``response.flags``).
REPLAYED_FLAG = "replayed"
#: The reason of a URL the archive has no capture of (``seeds.reason``).
NOT_IN_ARCHIVE_REASON = "not in archive"
#: Record types that stand for a fetch of a URL: a response, a revisit, a failed fetch.
FETCH_RECORD_TYPES = ("response", "revisit", "metadata")
_TIMESTAMP = re.compile(r"\d{14}")


class NotInArchiveError(IgnoreRequest):
    """The archive has no capture of the URL. An IgnoreRequest: never retried, never archived."""


class ReplayedFailureError(IgnoreRequest):
    """The capture is a fetch that failed (a ``metadata`` record); the message is its reason."""


class ArchiveReadError(IgnoreRequest):
    """The index names a capture whose record cannot be read back."""


def parse_moment(text: str) -> datetime:
    """``--at``: an ISO 8601 date or date-time (UTC when no zone), or a 14-digit timestamp.

    A date alone is its midnight, UTC. ValueError with a readable message otherwise.
    """
    value = text.strip()
    try:
        if _TIMESTAMP.fullmatch(value):
            moment = datetime.strptime(value, "%Y%m%d%H%M%S")
        elif len(value) <= 10 and "T" not in value.upper():
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a moment: give an ISO 8601 date (2026-11-27), date-time "
            "(2026-11-27T21:04:17, UTC unless a zone is given) or a 14-digit timestamp "
            "(20261127210417)"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _index_problem(path: Path) -> str | None:
    """Why the index at ``path`` cannot be read for replay, or None."""
    try:
        db = read_only(path)
        try:
            db.execute("SELECT urlkey, fetched_at, warc_file FROM captures LIMIT 1").fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"its index cannot be read ({exc}): run `archiver reindex` on it"
    return None


def replay_problems(root: str, at: str) -> list[str]:
    """What keeps ``ARCHIVER_REPLAY``/``ARCHIVER_REPLAY_AT`` from working, one sentence each."""
    problems = []
    if root:
        layout = Layout(Path(root))
        if not layout.root.is_dir():
            problems.append(f"ARCHIVER_REPLAY {root!r} is not a folder")
        elif layout.index.is_file():
            problem = _index_problem(layout.index)
            if problem:
                problems.append(f"ARCHIVER_REPLAY {root!r}: {problem}")
        elif archive_files(layout.warc_dir):
            problems.append(
                f"ARCHIVER_REPLAY {root!r} has WARC files but no index: "
                f"run `archiver reindex {root}` first"
            )
        else:
            problems.append(f"ARCHIVER_REPLAY {root!r} is not an archive folder (no index)")
    if at:
        if not root:
            problems.append("ARCHIVER_REPLAY_AT needs ARCHIVER_REPLAY (--at needs --replay)")
        try:
            parse_moment(at)
        except ValueError as exc:
            problems.append(f"ARCHIVER_REPLAY_AT: {exc}")
    return problems


@dataclass(frozen=True, slots=True)
class Replayed:
    """A capture served from the archive: its index row and what to answer with."""

    row: CaptureRow  #: the capture as the archive's index holds it
    path: Path  #: its WARC file
    moment: datetime  #: when it was fetched
    record: StoredRecord  #: the capture's own record (response, revisit or metadata)
    head: bytes = b""  #: the HTTP head to replay (a revisit's: see replay_head)
    body: bytes = b""  #: the entity body as stored, still content-coded
    failure: str | None = None  #: for a failed fetch: why it failed

    @property
    def ip_address(self) -> str | None:
        return self.record.header("WARC-IP-Address")


class ArchiveLookup:
    """Captures of an archive folder, by URL and moment. Safe to call from several threads."""

    def __init__(self, root: Path) -> None:
        self.layout = Layout(root)
        # Read-only: a replay never changes the archive it reads (even when it writes beside it).
        self._db = read_only(self.layout.index, check_same_thread=False)
        self._lock = threading.Lock()
        # An index of an older schema (read-only: not migrated) lacks the newer columns.
        present = {info[1] for info in self._db.execute("PRAGMA table_info(captures)")}
        self._columns = ", ".join(n for n in CaptureRow.__dataclass_fields__ if n in present)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[CaptureRow]:
        with self._lock:
            query = f"SELECT {self._columns} FROM captures WHERE {sql}"
            rows = self._db.execute(query, params).fetchall()
        return [CaptureRow(**dict(row)) for row in rows]

    def captures(self, url: str) -> list[tuple[datetime, CaptureRow]]:
        """Every capture of ``url`` (by canonical key) with its moment, oldest first."""
        marks = ", ".join("?" * len(FETCH_RECORD_TYPES))
        rows = self._rows(
            f"urlkey = ? AND record_type IN ({marks}) ORDER BY id",
            (url_key(urldefrag(url)[0]), *FETCH_RECORD_TYPES),
        )
        dated = [(warc_datetime(row.fetched_at), row) for row in rows]
        # Stable: captures of the same moment keep the order they were indexed in.
        return sorted(((m, row) for m, row in dated if m is not None), key=lambda pair: pair[0])

    def find(self, url: str, at: datetime | None = None) -> Replayed | None:
        """The capture of ``url`` closest to ``at`` (the latest if None); None if none.

        A capture that cannot be read (a damaged record, a revisit whose original
        is not in the archive) gives way to the next closest, as in pywb; raises
        :class:`ArchiveReadError` when captures exist and none can be read.
        """
        problem: ArchiveReadError | None = None
        for moment, row in _by_preference(self.captures(url), at):
            try:
                replayed = self._load(moment, row)
            except ArchiveReadError as exc:
                problem = problem or exc
                continue
            if replayed is not None:
                return replayed
        if problem is not None:
            raise problem
        return None

    def _load(self, moment: datetime, row: CaptureRow) -> Replayed | None:
        path = self.layout.warc_dir / row.warc_file
        try:
            record = read_record(path, row.warc_offset)
            if row.record_type == "metadata":
                fields = {k.lower(): v for k, v in parse_warc_fields(record.payload).items()}
                failure = fields.get("fetch-error")
                if failure is None:
                    return None  # a note about the URL, not a fetch of it
                return Replayed(row, path, moment, record, failure=failure)
            original = resolve_revisit(record, self._by_id, self._by_uri)
        except (OSError, ValueError, RevisitError) as exc:
            raise ArchiveReadError(
                f"archived record unreadable: {row.warc_file} at {row.warc_offset}: {exc}"
            ) from exc
        head = replay_head(record, original) if record is not original else record.http_head
        if not head or not original.is_http:
            raise ArchiveReadError(
                f"archived record has no HTTP response: {row.warc_file} at {row.warc_offset}"
            )
        return Replayed(row, path, moment, record, head=head, body=original.entity_body)

    def _read(self, rows: list[CaptureRow]) -> StoredRecord | None:
        """The record of the first row (None without rows)."""
        if not rows:
            return None
        return read_record(self.layout.warc_dir / rows[0].warc_file, rows[0].warc_offset)

    def _by_id(self, record_id: str) -> StoredRecord | None:
        return self._read(self._rows("record_id = ?", (record_id,)))

    def _by_uri(self, target: str, when: str) -> StoredRecord | None:
        moment = warc_datetime(when)
        rows = self._rows(
            "urlkey = ? AND record_type IN ('response', 'revisit')",
            (url_key(target.strip("<>")),),
        )
        return self._read([row for row in rows if warc_datetime(row.fetched_at) == moment])


def _by_preference(
    captures: list[tuple[datetime, CaptureRow]], at: datetime | None
) -> Iterator[tuple[datetime, CaptureRow]]:
    """Captures, the one to serve first: the latest, or the closest to ``at`` (earlier on ties)."""
    if at is None:
        yield from reversed(captures)
        return
    yield from sorted(captures, key=lambda pair: (abs(pair[0] - at), pair[0]))
