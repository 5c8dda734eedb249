"""The checks of one record: its headers, its place in the file, its links, its block.

Links between records (``WARC-Concurrent-To``, ``WARC-Refers-To``) and record id
uniqueness span every file of a run, since a request and its response can land
in two files when the writer rotates; :class:`Links` holds them until the run
is over.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from crawler.warc.verify.block import (
    BadGzip,
    Fields,
    Here,
    check_block,
    check_length,
    first,
    read_block,
)
from crawler.warc.verify.http import Hashes

if TYPE_CHECKING:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.recordloader import ArcWarcRecord

    from crawler.warc.verify.report import FileReport

MANDATORY_HEADERS = ("WARC-Record-ID", "WARC-Type", "WARC-Date", "Content-Length")
STANDARD_VERSIONS = frozenset({"WARC/1.0", "WARC/1.1"})
# W3C-ISO8601 to the second, UTC; WARC/1.1 allows a fraction of a second. A
# lowercase t and z are tolerated, as RFC 3339 does (JWAT's samples have them).
_WARC_DATE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?[Zz]")


def record_key(record_id: str) -> str:
    """A record id as links compare it: writers disagree on the angle brackets."""
    return record_id.strip().removeprefix("<").removesuffix(">")


class Links:
    """Record ids seen in a run, and references still waiting for their target."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[FileReport, int | None]] = {}
        self._waiting: list[tuple[str, str, Here]] = []

    def add(self, record_id: str, here: Here) -> tuple[FileReport, int | None] | None:
        """Remember a record id; return where it was seen before, if it was."""
        key = record_key(record_id)
        earlier = self._seen.get(key)
        if earlier is None:
            self._seen[key] = (here.report, here.offset)
        return earlier

    def refer(self, header: str, target: str, here: Here) -> None:
        # Most targets come later in the file (a request names its response), so
        # only the ones not seen yet wait for the end of the run.
        if record_key(target) not in self._seen:
            self._waiting.append((header, target.strip(), here))

    def resolve(self) -> None:
        """Report the references whose target no file of the run holds."""
        for header, target, here in self._waiting:
            if record_key(target) in self._seen:
                continue
            message = f"{header} target {target} is in none of the files checked"
            if header == "WARC-Concurrent-To":
                here.problem(message)
            else:
                here.warning(f"{message} (it may be in another crawl's files)")
        self._waiting.clear()


class FileState:
    """What the checks of one file remember from record to record."""

    def __init__(self, report: FileReport, links: Links) -> None:
        self.report = report
        self.links = links
        self.versions: list[str] = []
        self.warc_records = 0
        #: inflate errors that warcio met (and only printed) while reading
        self.gzip_errors: list[str] = []

    def finish(self) -> None:
        if self.versions:
            self.report.format = "+".join(self.versions)


def check_record(record: ArcWarcRecord, iterator: ArchiveIterator, state: FileState) -> bool:
    """Check one record as warcio hands it over, then let warcio move past it.

    False when the file cannot be read past this record.
    """
    faults_before = iterator.err_count
    state.report.records += 1
    here = Here(state.report, iterator.offset)
    try:
        if record.format == "arc":
            whole = _check_arc_record(record, here, state)
        else:
            fields = _fields(record)
            here = Here(state.report, iterator.offset, first(fields, "WARC-Record-ID"))
            _check_place(record, fields, state, here)
            _check_headers(fields, here)
            _check_links(fields, state.links, here)
            whole = check_block(record, fields, here, state.gzip_errors)
        iterator.read_to_end(record)
        if state.gzip_errors:
            raise BadGzip(state.gzip_errors[-1])
    except BadGzip as exc:
        here.problem(f"bad gzip data, reading stops here: {exc}")
        return False
    if whole and _member_cut_short(iterator):
        here.problem(
            "the file ends inside this record's gzip member (its CRC and size are missing)"
        )
    if iterator.err_count > faults_before:
        end = "newline that ends an ARC record" if record.format == "arc" else "two CRLFs"
        here.problem(
            f"the record is not followed by the {end} (wrong length, or bytes between records)"
        )
    return True


def _member_cut_short(iterator: ArchiveIterator) -> bool:
    """Whether the gzip member of the record just read stops before its trailer.

    warcio has no API for this: once a record and its blank lines are read to
    the end of their member (no next line in it), a whole member has been
    inflated to its end; an inflater still short of it means a cut file.
    """
    decompressor = getattr(getattr(iterator, "reader", None), "decompressor", None)
    if decompressor is None or getattr(iterator, "next_line", None) is not None:
        return False
    return not getattr(decompressor, "eof", True)


def _check_arc_record(record: ArcWarcRecord, here: Here, state: FileState) -> bool:
    length = (record.rec_headers.get_header("length") or "").strip()
    if not length.isdigit():
        # warcio takes it as 0, and what follows is read as the next record.
        here.problem(f"ARC record length {length!r} is not a number of bytes")
    hashes = read_block(record, Hashes(()), None, state.gzip_errors)
    return check_length(record, hashes, here)


def _fields(record: ArcWarcRecord) -> Fields:
    fields: Fields = {}
    for name, value in record.rec_headers.headers:
        fields.setdefault(name.strip().lower(), []).append(value.strip())
    return fields


def _check_place(record: ArcWarcRecord, fields: Fields, state: FileState, here: Here) -> None:
    """One WARC version per file, and a warcinfo record first."""
    version = str(record.rec_headers.protocol)
    if not state.versions and version not in STANDARD_VERSIONS:
        here.report.warning(
            f"{version} is a draft before WARC/1.0; checked as WARC/1.0", here.offset
        )
    elif state.versions and version not in state.versions:
        here.problem(f"{version} record in a {state.versions[0]} file (one WARC version per file)")
    if version not in state.versions:
        state.versions.append(version)
    record_type = (first(fields, "WARC-Type") or "").lower()
    if state.warc_records == 0 and record_type != "warcinfo":
        here.problem(f"first record is {record_type or 'typeless'!r}, not warcinfo")
    state.warc_records += 1


def _check_headers(fields: Fields, here: Here) -> None:
    for name in MANDATORY_HEADERS:
        if not first(fields, name):
            here.problem(f"mandatory header {name} is missing")
    length = first(fields, "Content-Length")
    if length and not length.isdigit():
        here.problem(f"Content-Length {length!r} is not a number of bytes")
    date = first(fields, "WARC-Date")
    if date and not _WARC_DATE.fullmatch(date):
        here.problem(f"WARC-Date {date!r} is not YYYY-MM-DDThh:mm:ssZ")


def _check_links(fields: Fields, links: Links, here: Here) -> None:
    if here.record_id:
        earlier = links.add(here.record_id, here)
        if earlier is not None:
            report, offset = earlier
            where = "earlier in this file" if report is here.report else f"in {report.path}"
            here.problem(f"duplicate WARC-Record-ID: also {where} at offset {offset}")
    for header in ("WARC-Concurrent-To", "WARC-Refers-To"):
        for target in fields.get(header.lower(), []):
            links.refer(header, target, here)
