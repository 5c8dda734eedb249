"""Rebuild ``DIR/index.sqlite`` (and ``DIR/indexes/index.cdxj``) from the WARC files alone.

Every table comes back from records: captures from ``response``, ``revisit``
and failed-fetch ``metadata`` records; crawls, seeds and text outcomes from the
archiver's JSON ``metadata`` records (``urn:archiver:...``, see
:mod:`crawler.warc.records`); the crawl of each file from its warcinfo's
``archiver-crawl`` field. Foreign files (wget, Heritrix, ...) get a crawl row
each. Archives written before those records existed still give their captures,
and their text outcomes from ``conversion`` records; the report says what
could not be recovered.

Files are read once, in name order (our names sort by time); the new index is
written to a temporary file beside the old one and then put in its place.

One routine, :class:`RecordIndexer`, turns records into rows for both uses: the
whole rebuild here (into a fresh index) and the recovery after a crash
(:mod:`crawler.recover`: into the index in place, which takes only the rows it
lacks). A crawl of ours whose records hold no end (it was killed, or the
machine stopped) is indexed as :data:`UNFINISHED`, ending at its last record,
so that ``--resume`` sees it as interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from crawler.archive import as_json, url_key
from crawler.cdxj import INDEXED_TYPES, LineMaker, archive_files, write_sorted
from crawler.index import CaptureRow, Index, SeedRow, read_only
from crawler.outcomes import TextOutcome
from crawler.text.document import parse
from crawler.warc.exchange import header_value, media_type
from crawler.warc.reader import ReadProblem, StoredRecord, iter_records, warc_datetime
from crawler.warc.records import (
    CAPTURE_URI_PREFIX,
    CRAWL_FIELD,
    CRAWL_URI_PREFIX,
    JSON_TYPE,
    SEED_URI_PREFIX,
    TEXT_OUTCOME_URI_PREFIX,
    parse_warc_fields,
    sha1_digest,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from crawler.layout import Layout

logger = logging.getLogger(__name__)

#: Records remembered while waiting for the other half of a request/response pair.
PAIRING_WINDOW = 64
#: How our warcinfo described the crawl before it carried ``archiver-crawl``.
_OLD_DESCRIPTION = re.compile(r"^crawl (\d+) by spider '([^']*)'(?: of (.*))?$", re.S)
FOREIGN_SPIDER = "import"
FOREIGN_FINISH = "imported"
#: The finish reason of a crawl whose records hold no end (killed, or the machine stopped).
#: Any reason but "finished" makes ``--resume`` go on with the crawl's input.
UNFINISHED = "unfinished"


@dataclass(slots=True)
class ReindexReport:
    """What a reindex read, found and could not recover."""

    files: int = 0
    records: int = 0
    captures: int = 0
    seeds: int = 0
    crawls: int = 0
    text_outcomes: int = 0
    foreign_files: list[str] = field(default_factory=list)
    problems: list[ReadProblem] = field(default_factory=list)
    unrecovered: list[str] = field(default_factory=list)
    index: Path | None = None
    cdxj: Path | None = None
    #: Why the rebuilt index was not put in place (it holds less than the old one).
    kept_old: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every file was read whole and the rebuilt index is in place."""
        return not self.problems and self.kept_old is None

    def render(self) -> str:
        lines = [
            f"files: {self.files} ({len(self.foreign_files)} foreign)",
            f"records: {self.records}",
            f"crawls: {self.crawls}",
            f"captures: {self.captures}",
            f"seeds: {self.seeds}",
            f"text outcomes: {self.text_outcomes}",
        ]
        if self.index is not None:
            lines.append(f"index: {self.index}")
        if self.cdxj is not None:
            lines.append(f"cdxj: {self.cdxj}")
        for note in self.unrecovered:
            lines.append(f"not recovered: {note}")
        for problem in self.problems:
            lines.append(f"unreadable: {problem}")
        if self.kept_old is not None:
            lines.append(f"kept the index in place: {self.kept_old}")
        return "\n".join(lines)


@dataclass(slots=True)
class FoundCrawl:
    """A crawl as its records tell it; ``key`` is its provisional (negative) number."""

    key: int
    uuid: str | None = None
    number: int | None = None
    start: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    foreign_file: str | None = None
    info: dict[str, str] = field(default_factory=dict)
    first_date: str | None = None
    last_date: str | None = None
    records: int = 0
    captures: int = 0
    #: (number, spider, input) as the warcinfo's description gives them, when it does.
    described: tuple[int, str, str | None] | None = None

    @property
    def spider(self) -> str:
        return str((self.start or {}).get("spider") or (self.described or (0, ""))[1])

    @property
    def input(self) -> str | None:
        start = self.start or {}
        if "input" in start:
            return start.get("input")
        return self.described[2] if self.described else None


def reindex(layout: Layout, *, force: bool = False) -> ReindexReport:
    """Rebuild the index and the CDXJ of ``layout`` from its WARC and ARC files.

    A rebuilt index with fewer crawls, captures or seeds than the index in place
    (files removed or damaged, an archive written before seeds had records of
    their own) does not replace it unless ``force``: it is left beside it
    (:attr:`Layout.reindexed`) and the report says what it lacks. The caller
    holds the folder's lock.
    """
    report = ReindexReport()
    layout.root.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".index.", suffix=".sqlite.tmp", dir=layout.root)
    os.close(fd)
    temporary = Path(name)
    temporary.unlink()  # SQLite creates it; an empty file is not a database
    try:
        index = Index(temporary)
        builder = RecordIndexer(index, layout.warc_dir, report)
        files = archive_files(layout.warc_dir, with_open=True)
        lines = builder.read(files)
        builder.finish()
        index.close()  # commits
        shrinks = None if force else _shrinks(layout.index, temporary)
        if shrinks is not None:
            report.kept_old = (
                f"the rebuilt index has fewer {shrinks}; it is in {layout.reindexed} "
                "(--force puts it in place)"
            )
            _replace(temporary, layout.reindexed)
            report.index = layout.reindexed
            return report
        _replace(temporary, layout.index)
    finally:
        for leftover in (temporary, *_sidecars(temporary)):
            leftover.unlink(missing_ok=True)
    report.index = layout.index
    report.cdxj = write_sorted(lines, layout.cdxj)
    return report


def _counts(path: Path) -> dict[str, int] | None:
    """Rows per table of the index at ``path``; None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        db = read_only(path)
        try:
            return {
                table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("crawls", "captures", "seeds")
            }
        finally:
            db.close()
    except sqlite3.Error:
        return None


def _shrinks(old: Path, new: Path) -> str | None:
    """What the new index has fewer of than the old one (``captures (12 < 30)``), or None."""
    before, after = _counts(old), _counts(new)
    if before is None or after is None:
        return None
    fewer = [
        f"{table} ({after[table]} < {before[table]})"
        for table in before
        if after[table] < before[table]
    ]
    return ", ".join(fewer) or None


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _replace(new: Path, target: Path) -> None:
    # A WAL left by the old index would be replayed into the new one.
    for sidecar in _sidecars(target):
        sidecar.unlink(missing_ok=True)
    os.replace(new, target)


#: Gives each crawl found (by its provisional ``key``) its number in the index.
Numbering: TypeAlias = Callable[[list[FoundCrawl]], dict[int, int]]


class RecordIndexer:
    """Reads files record by record into an index: the rows their records give.

    Into a fresh index for a whole rebuild; into the index in place for a
    recovery, where ``index`` is one that keeps what it has and takes only what
    it lacks (:class:`crawler.recover.MergingIndex`). The caller commits.
    """

    def __init__(self, index: Index, base: Path, report: ReindexReport) -> None:
        self.index = index
        self.base = base
        self.report = report
        self.crawls: list[FoundCrawl] = []
        self.by_uuid: dict[str, FoundCrawl] = {}
        self.seeds: list[tuple[FoundCrawl, dict[str, Any]]] = []
        self.text_outcomes: list[tuple[str, dict[str, Any]]] = []
        #: response record id -> (conversion record id, text), for archives without outcomes
        self.conversions: dict[str, tuple[str, str]] = {}
        self.requests: OrderedDict[str, list[str]] = OrderedDict()
        self.lonely: OrderedDict[str, None] = OrderedDict()  #: responses without a request yet
        self.old_crawls: dict[tuple[int, str], FoundCrawl] = {}
        self.duplicates = 0
        #: Files read to their end, as the index names them.
        self.whole_files: list[str] = []

    # -- reading -----------------------------------------------------------

    def read(self, files: Iterable[Path]) -> list[str]:
        """Index every file; return the CDXJ lines of their responses and revisits."""
        lines: list[str] = []
        maker = LineMaker()
        for path in files:
            self.report.files += 1
            filename = _relative(path, self.base)
            try:
                filename.encode("utf-8")
            except UnicodeEncodeError:
                # The index keeps names as UTF-8 text: such a file cannot be pointed at.
                self.report.problems.append(
                    ReadProblem(
                        str(path).encode("utf-8", "backslashreplace").decode(),
                        None,
                        "file name is not UTF-8: rename the file",
                    )
                )
                continue
            crawl: FoundCrawl | None = None
            for item in iter_records(path):
                if isinstance(item, ReadProblem):
                    self.report.problems.append(item)
                    break
                self.report.records += 1
                if crawl is None:
                    crawl = self._crawl_of(item, filename)
                crawl.records += 1
                crawl.first_date = crawl.first_date or item.date
                crawl.last_date = item.date or crawl.last_date
                self._record(item, crawl, filename)
                if item.record_type in INDEXED_TYPES and item.url:
                    lines.extend(maker.lines(item, filename))
            else:
                self.whole_files.append(filename)
        return lines + maker.finish()

    def _crawl_of(self, first: StoredRecord, filename: str) -> FoundCrawl:
        info = parse_warc_fields(first.payload) if first.record_type == "warcinfo" else {}
        crawl_uuid = info.get(CRAWL_FIELD)
        old = _OLD_DESCRIPTION.match(info.get("description", ""))
        if crawl_uuid:
            if crawl_uuid not in self.by_uuid:
                self.by_uuid[crawl_uuid] = self._new_crawl(
                    uuid=crawl_uuid, info=info, described=described_crawl(info)
                )
            return self.by_uuid[crawl_uuid]
        if info.get("software", "").startswith("archiver/") and old:
            number, spider = int(old.group(1)), old.group(2)
            key = (number, spider)
            if key not in self.old_crawls:
                self.old_crawls[key] = self._new_crawl(number=number, info=info)
                self.old_crawls[key].start = {"spider": spider, "input": old.group(3)}
            return self.old_crawls[key]
        self.report.foreign_files.append(filename)
        return self._new_crawl(foreign_file=filename, info=info)

    def _new_crawl(self, **values: Any) -> FoundCrawl:
        crawl = FoundCrawl(key=-(len(self.crawls) + 1), **values)
        self.crawls.append(crawl)
        return crawl

    def _record(self, record: StoredRecord, crawl: FoundCrawl, filename: str) -> None:
        kind = record.record_type
        if kind in INDEXED_TYPES and record.url:
            self._capture(_capture_row(record, filename), crawl)
        elif kind == "request" and record.record_id:
            self._request(record.record_id, record.concurrent_to)
        elif kind == "metadata":
            self._metadata(record, crawl, filename)
        elif kind == "conversion":
            refers_to = record.header("WARC-Refers-To")
            if refers_to and record.record_id:
                text = record.payload.decode("utf-8", "replace")
                self.conversions[refers_to] = (record.record_id, text)

    def _capture(self, row: CaptureRow, crawl: FoundCrawl) -> None:
        if row.request_record_id is None:
            for request_id, targets in self.requests.items():
                if row.record_id in targets:
                    row = _with_request(row, request_id)
                    break
            else:
                self.lonely[row.record_id] = None
                _trim(self.lonely)
        self._add_capture(row, crawl)

    def _add_capture(self, row: CaptureRow, crawl: FoundCrawl) -> None:
        try:
            self.index.add_capture(crawl.key, row)
        except sqlite3.IntegrityError:
            # The same record twice (a copied file): the first one stays indexed.
            self.duplicates += 1
            return
        crawl.captures += 1
        self.report.captures += 1

    def _request(self, record_id: str, targets: list[str]) -> None:
        for target in targets:
            if target in self.lonely:
                del self.lonely[target]
                self.index.set_request_record(target, record_id)
                return
        self.requests[record_id] = targets
        _trim(self.requests)

    def _metadata(self, record: StoredRecord, crawl: FoundCrawl, filename: str) -> None:
        content_type = (record.header("Content-Type") or "").split(";")[0].strip().lower()
        url = record.url
        if content_type == JSON_TYPE and url.startswith("urn:archiver:"):
            data = _json(record)
            if data is None:
                return
            if url.startswith(CRAWL_URI_PREFIX):
                if data.get("event") == "start":
                    crawl.start, crawl.number = data, data.get("number")
                elif data.get("event") == "end":
                    crawl.end = data
            elif url.startswith(SEED_URI_PREFIX):
                self.seeds.append((crawl, data))
            elif url.startswith(TEXT_OUTCOME_URI_PREFIX) and data.get("capture"):
                self.text_outcomes.append((data["capture"], data))
            elif url.startswith(CAPTURE_URI_PREFIX):
                values = {k: v for k, v in data.items() if k in CaptureRow.__dataclass_fields__}
                self._add_capture(CaptureRow(**values), crawl)
            return
        fields = parse_warc_fields(record.payload)
        if "fetch-error" in fields and record.record_id and url:
            row = CaptureRow(
                url=url,
                urlkey=url_key(url),
                fetched_at=record.date,
                record_type="metadata",
                warc_file=filename,
                warc_offset=record.offset,
                warc_length=record.length,
                record_id=record.record_id,
                reason=fields["fetch-error"],
            )
            # Its request record, when the request reached the server, follows it.
            self._capture(row, crawl)

    # -- after the last file -----------------------------------------------

    def finish(self, numbering: Numbering | None = None) -> None:
        """Add the crawls, seeds and text outcomes once every file is read (not committed).

        ``numbering`` gives each crawl its number (by default: ours keep theirs,
        the others follow the highest).
        """
        numbers = (numbering or _number_crawls)(self.crawls)
        for crawl in self.crawls:
            self._add_crawl(crawl, numbers[crawl.key])
            self.index.renumber_crawl(crawl.key, numbers[crawl.key])
        self.report.crawls = len(self.crawls)
        for crawl, data in self.seeds:
            self._add_seed(numbers[crawl.key], data)
        outcomes = set()
        for capture_record, data in self.text_outcomes:
            fields = {k: v for k, v in data.items() if k not in ("crawl", "capture")}
            if "text_digest" not in fields and capture_record in self.conversions:
                # Written before text digests were kept: the conversion record gives them.
                fields.update(_text_fields(self.conversions[capture_record][1]))
            capture_id = self.index.capture_id_of(capture_record)
            if (
                capture_id is not None
                and fields
                and self.index.set_text_outcome(capture_id, **fields)
            ):
                outcomes.add(capture_record)
        self._old_conversions(outcomes)
        self.report.text_outcomes = len(outcomes)
        self._notes()

    def _add_crawl(self, crawl: FoundCrawl, number: int) -> None:
        start, end = crawl.start or {}, crawl.end or {}
        if crawl.foreign_file is not None:
            self.index.add_crawl(
                number,
                started_at=crawl.first_date or "",
                finished_at=crawl.last_date,
                spider=FOREIGN_SPIDER,
                input=crawl.foreign_file,
                settings=as_json({"warcinfo": crawl.info}),
                stats=as_json({"records": crawl.records, "captures": crawl.captures}),
                finish_reason=FOREIGN_FINISH,
            )
            return
        finished_at, reason = end.get("finished_at"), end.get("finish_reason")
        if crawl.uuid is not None and crawl.end is None:
            # Killed, or the machine stopped: it ended with its last record.
            last = warc_datetime(crawl.last_date or "")
            finished_at, reason = (last.isoformat() if last else None), UNFINISHED
        self.index.add_crawl(
            number,
            started_at=start.get("started_at") or crawl.first_date or "",
            finished_at=finished_at,
            spider=crawl.spider,
            input=crawl.input,
            settings=as_json(start.get("settings") or {}),
            stats=as_json(end["stats"]) if "stats" in end else None,
            finish_reason=reason,
        )

    def _add_seed(self, crawl_id: int, data: dict[str, Any]) -> None:
        values = {k: v for k, v in data.items() if k in SeedRow.__dataclass_fields__}
        capture = data.get("capture")
        values["capture_id"] = self.index.capture_id_of(capture) if capture else None
        self.index.add_seed(crawl_id, SeedRow(**values))
        self.report.seeds += 1

    def _old_conversions(self, done: set[str]) -> None:
        """Text outcomes of archives older than text outcome records, from conversions."""
        recovered = 0
        for response_id, (conversion_id, text) in self.conversions.items():
            if response_id in done:
                continue
            capture_id = self.index.capture_id_of(response_id)
            if capture_id is None:
                continue
            fields: dict[str, Any] = {
                "text_outcome": str(TextOutcome.WRITTEN),
                "conversion_record_id": conversion_id,
                **_text_fields(text),
            }
            try:
                doc = parse(text)
            except ValueError:
                pass
            else:
                fields.update(
                    title=doc.title,
                    published=doc.published.isoformat() if doc.published else None,
                    site_name=doc.site_name,
                    text_chars=sum(len(p) for p in doc.paragraphs),
                )
            if self.index.set_text_outcome(capture_id, **fields):
                done.add(response_id)
                recovered += 1
        if recovered:
            self.report.unrecovered.append(
                f"{recovered} text outcomes came from conversion records alone "
                "(no text path, author, language); pages without text have no outcome"
            )

    def _notes(self) -> None:
        if self.duplicates:
            self.report.unrecovered.append(
                f"{self.duplicates} records repeat a record id indexed before: left out"
            )
        old = [c for c in self.crawls if c.uuid is None and c.foreign_file is None]
        if old:
            self.report.unrecovered.append(
                f"{len(old)} crawls written before crawl records: no seeds, settings, stats "
                "or end; start time is that of their first record"
            )
        unfinished = [c for c in self.crawls if c.uuid is not None and c.end is None]
        if unfinished:
            self.report.unrecovered.append(
                f"{len(unfinished)} crawls have no end record (interrupted, or a file is "
                f"missing): indexed as {UNFINISHED!r}, ending at their last record"
            )
        no_start = [c for c in self.crawls if c.uuid is not None and c.start is None]
        if no_start:
            self.report.unrecovered.append(
                f"{len(no_start)} crawls have no start record (their first file is missing): "
                "renumbered after the others"
            )


def described_crawl(info: dict[str, str]) -> tuple[int, str, str | None] | None:
    """(number, spider, input) of the crawl our warcinfo fields describe, if they do."""
    found = _OLD_DESCRIPTION.match(info.get("description", ""))
    if not found or not info.get("software", "").startswith("archiver/"):
        return None
    return int(found.group(1)), found.group(2), found.group(3)


def _number_crawls(crawls: list[FoundCrawl]) -> dict[int, int]:
    """Our crawls keep their numbers; the others follow the highest one."""
    numbers: dict[int, int] = {}
    taken: set[int] = set()
    for crawl in crawls:
        if crawl.number is not None and crawl.number not in taken:
            numbers[crawl.key] = crawl.number
            taken.add(crawl.number)
    following = max(taken, default=0)
    for crawl in crawls:
        if crawl.key not in numbers:
            following += 1
            numbers[crawl.key] = following
    return numbers


def _capture_row(record: StoredRecord, filename: str) -> CaptureRow:
    """The ``captures`` row of a response or revisit record, as the crawl wrote it."""
    location = header_value(record.http_headers, b"location") if record.is_http else None
    truncated = record.header("WARC-Truncated")
    concurrent = record.concurrent_to
    revisit = record.record_type == "revisit"
    if revisit:
        reason: str | None = f"revisit: {record.profile}"
    else:
        reason = f"truncated: {truncated}" if truncated else None
    etag = record.http_header(b"etag") if record.is_http else None
    modified = record.http_header(b"last-modified") if record.is_http else None
    return CaptureRow(
        url=record.url,
        urlkey=url_key(record.url),
        fetched_at=record.date,
        record_type=record.record_type,
        warc_file=filename,
        warc_offset=record.offset,
        warc_length=record.length,
        record_id=record.record_id or f"<{filename}:{record.offset}>",
        status=record.status,
        mime=media_type(record.http_headers) if record.is_http else None,
        payload_digest=record.header("WARC-Payload-Digest"),
        payload_length=len(record.entity_body) if record.is_http else len(record.payload),
        request_record_id=concurrent[0] if concurrent else None,
        location=location.decode("latin-1") if location else None,
        reason=reason,
        etag=etag.decode("latin-1") if etag else None,
        last_modified=modified.decode("latin-1") if modified else None,
        refers_to=record.header("WARC-Refers-To") if revisit else None,
    )


def _text_fields(text: str) -> dict[str, Any]:
    """The digest and word count the text pipeline keeps of a text version."""
    return {"text_digest": sha1_digest(text.encode("utf-8")), "text_words": len(text.split())}


def _with_request(row: CaptureRow, request_id: str) -> CaptureRow:
    return replace(row, request_record_id=request_id)


def _trim(window: OrderedDict[str, Any]) -> None:
    while len(window) > PAIRING_WINDOW:
        window.popitem(last=False)


def _json(record: StoredRecord) -> dict[str, Any] | None:
    try:
        data = json.loads(record.payload)
    except ValueError:
        logger.warning("unreadable JSON in metadata record %s", record.record_id)
        return None
    return data if isinstance(data, dict) else None


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()
