"""Put an archive folder right after a crawl that stopped without closing it.

A crawl killed (``kill -9``, a power cut, the machine stopping) or stopped by a
full disk can leave:

- WARC files still named ``NAME.warc.gz.open``, the last one possibly ending in
  the middle of a record (a torn gzip member);
- records in the WARC files with no index row (the index commits every second);
- index rows that point at bytes that never reached the disk;
- a ``crawls`` row with no end.

:func:`recover` repairs all of it, in this order, and is safe to run again (a
second run finds nothing to do):

1. each ``.open`` file is cut after its last whole record (the last record must
   also be a whole gzip member, and the records written with it must all be
   there: a request whose response never reached the file, the crawl killed
   between the two, names that response in ``WARC-Concurrent-To`` and is cut
   off too). The bytes cut off are kept beside it in
   ``NAME.warc.gz.torn`` (``NAME.warc.gz.N.torn`` if that exists), never
   deleted: no reader takes them for a WARC file. The file is synced to disk
   and renamed ``NAME.warc.gz`` (``NAME-recovered-N.warc.gz`` when that name
   is taken; rows follow the records to it). A file holding no whole record is
   removed (its bytes, if any, go to the ``.torn`` file).
2. The scanned files are read with :class:`crawler.reindex.RecordIndexer`,
   the routine ``archiver reindex`` rebuilds with, into the index in place
   (:class:`MergingIndex`): it adds the captures, failures, revisits, crawls,
   seeds and text outcomes it lacks, moves rows to where their record is, and
   never overwrites what it holds.
3. Rows that point into a scanned file at a record that is not there (committed
   for a record the crash cut off) are removed, with the seeds that name them:
   ``--resume`` fetches those entries again. A crawl with no end gets the end
   its records give, or :data:`crawler.reindex.UNFINISHED` ending at its last
   record: any reason but "finished" makes ``--resume`` go on with its input.
4. The CDXJ index is written again from the index when anything changed.

What is scanned, so that a folder with nothing to repair costs a listing of
its WARC folder and one query: the files that were ``.open``, and for each
crawl the index holds with no end, the last file its captures name and the
files written since (modified at or after it, within :data:`MTIME_SLACK`)
whose warcinfo names that crawl. Earlier files of such a crawl were closed,
hence synced to disk, and are trusted as indexed. When the index is missing
but ``.open`` files are there, the whole index is rebuilt (``archiver reindex``).

The caller holds the folder's lock (:mod:`crawler.lock`): a crawl that writes
into the folder without it (one started from Python code) must not run at the
same time, or its open file would be closed under it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import zlib
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from crawler.cdxj import archive_files, write_cdxj_from_index
from crawler.index import Index, SeedRow, UnusableIndexError
from crawler.reindex import (
    FOREIGN_SPIDER,
    UNFINISHED,
    FoundCrawl,
    RecordIndexer,
    ReindexReport,
    described_crawl,
    reindex,
)
from crawler.warc.reader import ReadProblem, iter_records, warc_datetime
from crawler.warc.records import parse_warc_fields
from crawler.warc.writer import OPEN_SUFFIX

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from crawler.index import CaptureRow
    from crawler.layout import Layout

logger = logging.getLogger(__name__)

#: Where the bytes cut off a torn file are kept: ``NAME.warc.gz`` + this.
TORN_SUFFIX = ".torn"
#: How a recovered file is named when its final name is taken: ``NAME-recovered-N.warc.gz``.
RECOVERED_INFIX = "-recovered-"
#: Seconds of leeway when comparing file modification times with a crawl's moments
#: (file systems keep times at coarse resolutions; clocks step).
MTIME_SLACK = 2.0
#: Row ids per DELETE statement (SQLite limits the parameters of a statement).
DELETE_BATCH = 500
#: The crawl stat that counts what a crawl's recovery at its start could not repair.
PROBLEMS_STATS = "archiver/recover/problems"


@dataclass(frozen=True, slots=True)
class ClosedFile:
    """A ``.open`` file put right: cut after its last whole record, synced, renamed."""

    found: str  #: its name as found (relative to the WARC folder)
    name: str | None  #: its final name; None when it held no whole record and was removed
    records: int  #: whole records kept
    size: int  #: bytes kept
    torn: int = 0  #: bytes cut off
    torn_file: str | None = None  #: where they are kept


@dataclass(slots=True)
class Recovery:
    """What :func:`recover` found and did."""

    closed: list[ClosedFile] = field(default_factory=list)
    #: The files read for missing rows (relative to the WARC folder).
    scanned: list[str] = field(default_factory=list)
    captures_added: int = 0
    captures_moved: int = 0  #: rows that named the wrong file or place, pointed at their record
    captures_removed: int = 0  #: rows of records that are not in their file
    seeds_added: int = 0
    seeds_removed: int = 0
    text_outcomes_added: int = 0
    crawls_added: list[int] = field(default_factory=list)
    #: (crawl, finish reason) of the crawls that had no end in the index.
    crawls_ended: list[tuple[int, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: The report of a whole rebuild, when the index was missing.
    reindexed: ReindexReport | None = None
    cdxj: Path | None = None

    @property
    def changed(self) -> bool:
        """Whether anything in the folder was changed."""
        return bool(
            self.closed
            or self.captures_added
            or self.captures_moved
            or self.captures_removed
            or self.seeds_added
            or self.seeds_removed
            or self.text_outcomes_added
            or self.crawls_added
            or self.crawls_ended
            or self.reindexed
        )

    @property
    def ok(self) -> bool:
        """Whether the archive is sound: every file whole and every row on its record."""
        return not self.problems

    def render(self) -> str:
        if not self.changed and not self.problems:
            return "nothing to recover"
        lines = []
        for closed in self.closed:
            if closed.name is None:
                lines.append(f"removed {closed.found}: no whole record")
            else:
                lines.append(
                    f"closed {closed.found} as {closed.name}: "
                    f"{closed.records} records, {closed.size} bytes"
                )
            if closed.torn:
                lines.append(f"  cut off a torn record: {closed.torn} bytes in {closed.torn_file}")
        if self.scanned:
            lines.append(f"scanned: {', '.join(self.scanned)}")
        counts = [
            ("captures added", self.captures_added),
            ("captures moved to their record", self.captures_moved),
            ("captures removed (no record)", self.captures_removed),
            ("seeds added", self.seeds_added),
            ("seeds removed (their capture has no record)", self.seeds_removed),
            ("text outcomes added", self.text_outcomes_added),
        ]
        lines += [f"{label}: {number}" for label, number in counts if number]
        if self.crawls_added:
            lines.append(f"crawls added: {', '.join(map(str, self.crawls_added))}")
        for crawl, reason in self.crawls_ended:
            lines.append(f"crawl {crawl} ended: {reason}")
        if self.reindexed is not None:
            lines.append("the index was missing: rebuilt from the WARC files")
            lines += [f"  {line}" for line in self.reindexed.render().splitlines()]
        if self.cdxj is not None:
            lines.append(f"cdxj: {self.cdxj}")
        lines += [f"not recovered: {problem}" for problem in self.problems]
        return "\n".join(lines)


def recover(layout: Layout) -> Recovery:
    """Repair ``layout`` after a crawl that stopped without closing it (see the module).

    The caller holds the folder's lock. OSError comes through when a file cannot
    be cut, synced or renamed (what was done before stays done; run it again).
    """
    recovery = Recovery()
    opened = [p for p in archive_files(layout.warc_dir, with_open=True) if _is_open(p)]
    unfinished = _unfinished_crawls(layout.index, recovery)
    if not opened and not unfinished and not recovery.problems:
        return recovery
    for path in opened:
        closed = close_open_file(path, layout.warc_dir)
        recovery.closed.append(closed)
        if closed.name is None:
            logger.warning("Removed %(file)s: it held no whole record", {"file": path})
        else:
            logger.info(
                "Closed %(found)s as %(name)s (%(records)d records, %(torn)d torn bytes cut off)",
                asdict(closed),
            )
    if recovery.problems:
        return recovery
    if not layout.index.exists():
        if recovery.closed:
            recovery.reindexed = reindex(layout)
            recovery.problems += [f"unreadable: {p}" for p in recovery.reindexed.problems]
            recovery.cdxj = recovery.reindexed.cdxj
        return recovery
    try:
        index = MergingIndex(layout.index)
    except UnusableIndexError as exc:
        recovery.problems.append(_unusable(exc))
        return recovery
    try:
        _repair_index(layout, index, recovery)
        index.commit()
        if recovery.changed:
            recovery.cdxj = write_cdxj_from_index(layout, index)
    except BaseException:
        index.rollback()
        raise
    finally:
        index.close()
    return recovery


def _unusable(exc: UnusableIndexError) -> str:
    """What to say of an index that cannot be opened: in use, or to be rebuilt."""
    if "locked" in str(exc):
        return f"{exc}: another process is using the index"
    return f"{exc} (archiver reindex rebuilds it from the WARC files)"


def _is_open(path: Path) -> bool:
    return path.name.endswith(OPEN_SUFFIX)


def _unfinished_crawls(path: Path, recovery: Recovery) -> list[int]:
    """The crawls with no end in the index at ``path`` (one query; none if there is no index)."""
    if not path.is_file():
        return []
    try:
        # Read-write, never created: the last connection to close removes the WAL files
        # (a read-only one would leave them behind).
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)
        try:
            tables = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'crawls'").fetchall()
            # An index made empty (killed while it was created) has no crawls to end.
            query = "SELECT id FROM crawls WHERE finish_reason IS NULL"
            rows = db.execute(query).fetchall() if tables else []
        finally:
            db.close()
    except sqlite3.Error as exc:
        recovery.problems.append(
            f"cannot read the index {path}: {exc} "
            "(archiver reindex rebuilds it from the WARC files)"
        )
        return []
    return [int(row[0]) for row in rows]


# -- 1. closing .open files --------------------------------------------------


def close_open_file(path: Path, warc_dir: Path) -> ClosedFile:
    """Cut ``path`` after its last whole record, sync it and give it its final name."""
    found = _relative(path, warc_dir)
    end, records = whole_end(path)
    size = path.stat().st_size
    final = path.with_name(path.name.removesuffix(OPEN_SUFFIX))
    torn_file = None
    if end < size:
        torn_path = _free_torn_name(final)
        _copy_tail(path, end, torn_path)
        torn_file = _relative(torn_path, warc_dir)
        logger.warning(
            "%(file)s ends in a torn record: %(bytes)d bytes cut off, kept in %(torn)s",
            {"file": path, "bytes": size - end, "torn": torn_path},
        )
    if records == 0:
        path.unlink()
        _sync_folder(path.parent)
        return ClosedFile(found, None, 0, 0, size - end, torn_file)
    fd = os.open(path, os.O_RDWR)
    try:
        if end < size:
            os.ftruncate(fd, end)
        # The crawl never synced the file: nothing may be renamed before it is on disk.
        os.fsync(fd)
    finally:
        os.close(fd)
    target = final if not final.exists() else _free_name(final)
    os.rename(path, target)
    _sync_folder(path.parent)
    return ClosedFile(found, _relative(target, warc_dir), records, end, size - end, torn_file)


#: The last whole records of a file being closed that are checked for their concurrent
#: records: the archiver appends each group (a request and its response, a failure and its
#: request) at once, so only the last group can be incomplete.
TAIL_RECORDS = 64


@dataclass(frozen=True, slots=True)
class _Kept:
    """A whole record of a file being closed: where it lies, what it names as concurrent."""

    offset: int
    end: int
    record_id: str | None
    concurrent_to: list[str]


def whole_end(path: Path) -> tuple[int, int]:
    """Where the last whole record of ``path`` ends, and how many whole records precede it.

    A record is whole when the reader reads it to its declared length and, in a
    ``.gz`` file, its gzip member ends with its trailer (checked for the last one:
    records are only ever appended, so only the last can be torn). Records written
    together (a request and its response) are kept together: while the last record
    names in ``WARC-Concurrent-To`` a record that the file's last
    :data:`TAIL_RECORDS` records do not hold (never written, or cut off), it is cut
    off too.
    """
    tail: deque[_Kept] = deque(maxlen=TAIL_RECORDS)
    records = 0
    for item in iter_records(path):
        if isinstance(item, ReadProblem):
            break
        tail.append(
            _Kept(item.offset, item.offset + item.length, item.record_id, item.concurrent_to)
        )
        records += 1
    end = tail[-1].end if tail else 0
    gzipped = path.name.removesuffix(OPEN_SUFFIX).endswith(".gz")
    if gzipped and tail and not _whole_member(path, tail[-1].offset, end):
        end, records = tail.pop().offset, records - 1
    held = {record.record_id for record in tail}
    while tail and not held.issuperset(tail[-1].concurrent_to):
        cut = tail.pop()
        held.discard(cut.record_id)
        end, records = cut.offset, records - 1
    return end, records


def _whole_member(path: Path, start: int, end: int) -> bool:
    """Whether the bytes from ``start`` to ``end`` are one gzip member with its trailer."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    with path.open("rb") as stream:
        stream.seek(start)
        left = end - start
        try:
            while left > 0:
                chunk = stream.read(min(left, 1 << 20))
                if not chunk:
                    return False
                left -= len(chunk)
                inflater.decompress(chunk, 0)
        except zlib.error:
            return False
    return inflater.eof and not inflater.unused_data


def _copy_tail(path: Path, start: int, target: Path) -> None:
    with path.open("rb") as source, target.open("xb") as out:
        source.seek(start)
        while chunk := source.read(1 << 20):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def _free_torn_name(final: Path) -> Path:
    candidate = final.with_name(final.name + TORN_SUFFIX)
    number = 0
    while candidate.exists():
        number += 1
        candidate = final.with_name(f"{final.name}.{number}{TORN_SUFFIX}")
    return candidate


def _free_name(final: Path) -> Path:
    """``NAME-recovered-N.warc.gz``: a name no file has (the suffixes readers look for kept)."""
    stem, suffix = final.name, ""
    for ending in (".warc.gz", ".arc.gz", ".warc", ".arc"):
        if final.name.lower().endswith(ending):
            stem, suffix = final.name[: -len(ending)], final.name[-len(ending) :]
            break
    number = 1
    while (candidate := final.with_name(f"{stem}{RECOVERED_INFIX}{number}{suffix}")).exists():
        number += 1
    return candidate


def _sync_folder(folder: Path) -> None:
    """Make a rename or removal in ``folder`` durable (where the system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- 2 and 3. the index ----------------------------------------------------------


def _repair_index(layout: Layout, index: MergingIndex, recovery: Recovery) -> None:
    warc_dir = layout.warc_dir
    closed = [warc_dir / c.name for c in recovery.closed if c.name is not None]
    files = list(closed)
    for crawl in index.unfinished():
        files += [p for p in _files_of(crawl, index, warc_dir) if p not in files]
    files.sort()
    report = ReindexReport()
    indexer = RecordIndexer(index, warc_dir, report)
    indexer.read(files)
    # A crawl whose files could not be read whole keeps no end: every recovery reads them
    # again and reports them, until they are repaired or reindexed.
    index.end_unread = not report.problems
    indexer.finish(index.number_crawls)
    recovery.scanned = [_relative(p, warc_dir) for p in files]
    recovery.problems += [f"unreadable: {problem}" for problem in report.problems]
    # Rows may still name a file by its .open name (a reindex made while it was open).
    names = set(indexer.whole_files) | {c.found for c in recovery.closed if c.name is not None}
    recovery.captures_removed, recovery.seeds_removed = index.drop_unseen(names)
    if index.end_unread:
        index.end_unfinished()
    recovery.captures_added = index.captures_added
    recovery.captures_moved = index.captures_moved
    recovery.seeds_added = index.seeds_added
    recovery.text_outcomes_added = len(index.outcomes_set)
    recovery.crawls_added = index.crawls_added
    recovery.crawls_ended = index.crawls_ended


def _files_of(crawl: sqlite3.Row, index: MergingIndex, warc_dir: Path) -> list[Path]:
    """The last file the index names for ``crawl`` and the files of the crawl written since."""
    found: list[Path] = []
    last_name = index.last_file(crawl["id"])
    last = warc_dir / last_name if last_name else None
    if last is not None and last.is_file():
        found.append(last)
        since = last.stat().st_mtime
    else:
        started = warc_datetime(crawl["started_at"] or "")
        since = started.timestamp() if started else 0.0
    for path in archive_files(warc_dir):
        if path == last or path.stat().st_mtime < since - MTIME_SLACK:
            continue
        described = _described(path)
        if described is not None and described[:2] == (crawl["id"], crawl["spider"]):
            found.append(path)
    return found


def _described(path: Path) -> tuple[int, str, str | None] | None:
    """The crawl the warcinfo record at the start of ``path`` describes (reads that record only)."""
    records = iter_records(path)
    try:
        first = next(records, None)
    finally:
        records.close()  # type: ignore[attr-defined]  # a generator: its file is closed
    if first is None or isinstance(first, ReadProblem) or first.record_type != "warcinfo":
        return None
    return described_crawl(parse_warc_fields(first.payload))


class MergingIndex(Index):
    """The index in place, taking from re-read records only the rows it lacks.

    What :class:`RecordIndexer` adds goes through here: a capture it holds is
    kept (and pointed at where its record is now), a seed it holds (the same
    values, counted) is not added twice, a text outcome never overwrites one it
    holds, a crawl it holds only gets an end when it had none. Nothing is
    committed until :meth:`commit`.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.crawl_rows: dict[int, sqlite3.Row] = {
            row["id"]: row for row in self._db.execute("SELECT * FROM crawls")
        }
        #: Record ids of the captures the scanned files hold.
        self.seen: set[str] = set()
        self.captures_added = 0
        self.captures_moved = 0
        self.seeds_added = 0
        self.outcomes_set: set[int] = set()
        self.crawls_added: list[int] = []
        self.crawls_ended: list[tuple[int, str]] = []
        #: Whether crawls without an end record may be ended as unfinished: not when a
        #: scanned file could not be read whole (its end record may be past the damage).
        self.end_unread = True
        self._matched_seeds: set[int] = set()

    def rollback(self) -> None:
        self._db.rollback()

    def unfinished(self) -> list[sqlite3.Row]:
        return [row for row in self.crawl_rows.values() if row["finish_reason"] is None]

    def last_file(self, crawl_id: int) -> str | None:
        """The WARC file of the crawl's last capture row (this archive's files only)."""
        row = self._db.execute(
            "SELECT warc_file FROM captures WHERE crawl_id = ? AND warc_file NOT LIKE '/%' "
            "ORDER BY id DESC LIMIT 1",
            (crawl_id,),
        ).fetchone()
        return None if row is None else str(row[0])

    # -- numbering -------------------------------------------------------------

    def number_crawls(self, crawls: list[FoundCrawl]) -> dict[int, int]:
        """Each crawl found gets the number of the same crawl in the index, else a free one."""
        numbers: dict[int, int] = {}
        taken = set(self.crawl_rows)
        for crawl in crawls:
            number = self._same_crawl(crawl)
            if number is None:
                wanted = crawl.number
                if wanted is None and crawl.described is not None:
                    wanted = crawl.described[0]
                number = wanted if wanted is not None and wanted not in taken else None
            if number is None:
                number = max(taken, default=0) + 1
            numbers[crawl.key] = number
            taken.add(number)
        return numbers

    def _same_crawl(self, crawl: FoundCrawl) -> int | None:
        if crawl.foreign_file is not None:
            return next(
                (
                    number
                    for number, row in self.crawl_rows.items()
                    if row["spider"] == FOREIGN_SPIDER and row["input"] == crawl.foreign_file
                ),
                None,
            )
        number = crawl.number
        if number is None and crawl.described is not None:
            number = crawl.described[0]
        row = self.crawl_rows.get(number) if number is not None else None
        if row is None or (row["spider"], row["input"]) != (crawl.spider, crawl.input):
            return None
        started = (crawl.start or {}).get("started_at")
        return number if started is None or started == row["started_at"] else None

    # -- what RecordIndexer adds -----------------------------------------------

    def add_crawl(
        self,
        crawl_id: int,
        *,
        started_at: str,
        spider: str,
        input: str | None,
        settings: str,
        finished_at: str | None = None,
        stats: str | None = None,
        finish_reason: str | None = None,
    ) -> None:
        row = self.crawl_rows.get(crawl_id)
        if finish_reason == UNFINISHED and not self.end_unread:
            finished_at = stats = finish_reason = None
        if row is None:
            super().add_crawl(
                crawl_id,
                started_at=started_at,
                spider=spider,
                input=input,
                settings=settings,
                finished_at=finished_at,
                stats=stats,
                finish_reason=finish_reason,
            )
            self.crawls_added.append(crawl_id)
        elif row["finish_reason"] is None and finish_reason is not None:
            self._end(crawl_id, finished_at, finish_reason, stats)

    def _end(self, crawl_id: int, finished_at: str | None, reason: str, stats: str | None) -> None:
        self._db.execute(
            "UPDATE crawls SET finished_at = ?, finish_reason = ?, stats = ? WHERE id = ?",
            (finished_at, reason, stats, crawl_id),
        )
        self.crawls_ended.append((crawl_id, reason))

    def add_capture(self, crawl_id: int, row: CaptureRow) -> int:
        self.seen.add(row.record_id)
        held = self._db.execute(
            "SELECT id, warc_file, warc_offset, warc_length FROM captures WHERE record_id = ?",
            (row.record_id,),
        ).fetchone()
        if held is None:
            self.captures_added += 1
            return super().add_capture(crawl_id, row)
        place = (row.warc_file, row.warc_offset, row.warc_length)
        if (held[1], held[2], held[3]) != place:
            self._db.execute(
                "UPDATE captures SET warc_file = ?, warc_offset = ?, warc_length = ? WHERE id = ?",
                (*place, held[0]),
            )
            self.captures_moved += 1
        return int(held[0])

    def add_seed(self, crawl_id: int, row: SeedRow) -> int:
        values = asdict(row)
        condition = " AND ".join(f"{name} IS ?" for name in values)
        for (rowid,) in self._db.execute(
            f"SELECT rowid FROM seeds WHERE crawl_id = ? AND {condition} ORDER BY rowid",
            (crawl_id, *values.values()),
        ):
            if rowid not in self._matched_seeds:
                # The index holds this outcome already (each held row stands for one record).
                self._matched_seeds.add(rowid)
                return 0
        self.seeds_added += 1
        rowid = super().add_seed(crawl_id, row)
        self._matched_seeds.add(rowid)
        return rowid

    def set_text_outcome(self, capture_id: int, **fields: Any) -> int:
        if capture_id not in self.outcomes_set:
            held = self._db.execute(
                "SELECT text_outcome FROM captures WHERE id = ?", (capture_id,)
            ).fetchone()
            if held is None or held[0] is not None:
                return 0
        self.outcomes_set.add(capture_id)
        return super().set_text_outcome(capture_id, **fields)

    # -- after the scanned files are read ----------------------------------------

    def drop_unseen(self, files: Iterable[str]) -> tuple[int, int]:
        """Remove rows naming ``files`` (read whole) whose record is not in them.

        Seeds that name such a capture go with it: their entry is done again by
        ``--resume``. Returns (captures, seeds) removed.
        """
        names = sorted(set(files))
        if not names:
            return 0, 0
        marks = ", ".join("?" * len(names))
        rows = self._db.execute(
            f"SELECT id, record_id FROM captures WHERE warc_file IN ({marks})", names
        ).fetchall()
        stale = [row[0] for row in rows if row[1] not in self.seen]
        captures = seeds = 0
        for start in range(0, len(stale), DELETE_BATCH):
            batch = stale[start : start + DELETE_BATCH]
            marks = ", ".join("?" * len(batch))
            seeds += self._db.execute(
                f"DELETE FROM seeds WHERE capture_id IN ({marks})", batch
            ).rowcount
            captures += self._db.execute(
                f"DELETE FROM captures WHERE id IN ({marks})", batch
            ).rowcount
        if captures:
            logger.warning(
                "Removed %(n)d index rows of records that are not in their WARC file",
                {"n": captures},
            )
        return captures, seeds

    def end_unfinished(self) -> None:
        """Crawls still without an end: unfinished, at their last capture (or their start)."""
        ended = {crawl_id for crawl_id, _ in self.crawls_ended}
        for row in self.unfinished():
            if row["id"] in ended:
                continue
            (last,) = self._db.execute(
                "SELECT max(fetched_at) FROM captures WHERE crawl_id = ?", (row["id"],)
            ).fetchone()
            moment = warc_datetime(last) if last else None
            finished_at = moment.isoformat() if moment else row["started_at"]
            self._end(row["id"], finished_at, UNFINISHED, None)


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()
