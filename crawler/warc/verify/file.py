"""Read one WARC, ARC or WACZ file record by record and check what can be checked alone.

warcio parses the record headers and frames the blocks (``no_record_parse``, so
each block comes exactly as stored); the checks of each record are in
:mod:`crawler.warc.verify.record`. Before warcio sees a file, its first bytes
say what it is, so that LZ4, zstd or a text file get a clear verdict instead of
whatever a WARC parser makes of them.
"""

from __future__ import annotations

import contextlib
import re
import sys
import zipfile
import zlib
from typing import IO, TYPE_CHECKING

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from crawler.warc.verify.record import FileState, check_record
from crawler.warc.verify.report import FileReport
from crawler.warc.writer import OPEN_SUFFIX

if TYPE_CHECKING:
    from pathlib import Path

    from crawler.warc.verify.record import Links

#: Bytes read (and, for gzip, inflated) to tell what a file is.
SNIFF_SIZE = 65536

_MAGIC = {
    b"\x04\x22\x4d\x18": "LZ4-compressed",
    b"\x28\xb5\x2f\xfd": "Zstandard-compressed",
    b"\xfd7zXZ\x00": "xz-compressed",
    b"BZh": "bzip2-compressed",
}
_ARC_DATE = re.compile(rb"\d{12,14}")
# How zlib words an inflate failure, which warcio prints instead of raising.
_INFLATE_ERROR = re.compile(r"Error -?\d+ while decompressing")


class _WarcioStderr:
    """Takes what warcio writes on stderr while reading: some faults are told only there.

    A record not followed by its blank lines is also counted in ``err_count``; a
    gzip member that fails to inflate is not, and warcio then reads it as ended.
    Anything else (a log line) goes on to the real stderr.
    """

    def __init__(self, gzip_errors: list[str], passthrough: IO[str]) -> None:
        self._gzip_errors = gzip_errors
        self._passthrough = passthrough

    def write(self, text: str) -> int:
        if _INFLATE_ERROR.match(text):
            self._gzip_errors.append(" ".join(text.split()))
        elif "Record not followed by newline" not in text:
            self._passthrough.write(text)
        return len(text)

    def flush(self) -> None:
        self._passthrough.flush()


def check_path(path: Path, display: str, links: Links) -> list[FileReport]:
    """Reports for the file at ``path`` (one per WARC inside a WACZ)."""
    report = FileReport(display)
    if display.endswith(OPEN_SUFFIX):
        report.still_open = True
        report.warning("still open: being written, or left behind by a crawl that stopped")
    try:
        with path.open("rb") as stream:
            if stream.read(4) == b"PK\x03\x04":
                return _check_wacz(path, report, links)
            stream.seek(0)
            check_stream(stream, report, links, path.stat().st_size)
    except OSError as exc:
        report.problem(f"cannot read the file: {exc.strerror or exc}")
        report.complete = False
    return [report]


def _check_wacz(path: Path, container: FileReport, links: Links) -> list[FileReport]:
    container.format = "WACZ"
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        container.problem(f"not a readable zip file: {exc}", 0)
        container.complete = False
        return [container]
    with archive:
        members = [
            info
            for info in archive.infolist()
            if info.filename.startswith("archive/") and not info.is_dir()
        ]
        if not members:
            container.problem("no WARC file under archive/ in this WACZ")
            return [container]
        reports = [container] if container.warning_count else []
        for info in members:
            report = FileReport(f"{container.path}#{info.filename}")
            try:
                # Streamed from the zip: a member is never extracted to disk or memory.
                with archive.open(info) as stream:
                    check_stream(stream, report, links, info.file_size)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                report.problem(f"cannot read this zip member: {exc}")
                report.complete = False
            reports.append(report)
    return reports


def sniff(head: bytes) -> tuple[str, str]:
    """``(kind, why)``: kind is "warc", "arc" or "" (unreadable, ``why`` says why)."""
    if not head:
        return "", "empty file"
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return "", f"{name}: warcio reads only plain or gzip WARC and ARC files"
    if head.startswith(b"PK\x03\x04"):
        return "", "a zip file where a WARC file was expected"
    text = head
    if head.startswith(b"\x1f\x8b"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            # A bounded inflate: the first record's header is all we need to see.
            text = inflater.decompress(head, SNIFF_SIZE)
        except zlib.error as exc:
            return "", f"bad gzip data: {exc}"
        if not text.strip():
            return "", "the gzip data ends before a first record (file cut short?)"
    text = text.lstrip(b"\r\n")
    if text.startswith(b"WARC/"):
        return "warc", ""
    if _looks_like_arc(text.split(b"\n", 1)[0]):
        return "arc", ""
    return "", f"not a WARC or ARC file: it starts with {text[:32]!r}"


def _looks_like_arc(line: bytes) -> bool:
    """An ARC v1 header line: ``URL IP-address archive-date content-type length``."""
    if line.startswith(b"filedesc://"):
        return True  # its fields are checked record by record
    parts = line.rstrip(b"\r").rsplit(b" ", 4)
    return len(parts) == 5 and bool(_ARC_DATE.fullmatch(parts[2])) and parts[4].isdigit()


def check_stream(stream: IO[bytes], report: FileReport, links: Links, size: int) -> None:
    """Check every record of a seekable stream of ``size`` bytes, as far as it is readable."""
    kind, why = sniff(stream.read(SNIFF_SIZE))
    if not kind:
        report.problem(f"unreadable: {why}", 0)
        report.complete = False
        return
    stream.seek(0)
    report.format = "ARC" if kind == "arc" else ""
    state = FileState(report, links)
    iterator = ArchiveIterator(stream, no_record_parse=True, arc2warc=False)
    try:
        stderr = _WarcioStderr(state.gzip_errors, sys.stderr)
        with contextlib.redirect_stderr(stderr):  # type: ignore[type-var]
            for record in iterator:
                if not check_record(record, iterator, state):
                    report.complete = False
                    break
            else:
                _check_end(iterator, state, size)
    except Exception as exc:  # warcio raises many types on damaged input; go on to the next file
        offset, reason = _read_failure(exc, iterator)
        if state.gzip_errors:
            reason = f"bad gzip data ({state.gzip_errors[-1]})"
        report.problem(f"unreadable from here on: {reason}", offset)
        report.complete = False
    finally:
        iterator.close()
    state.finish()


def _check_end(iterator: ArchiveIterator, state: FileState, size: int) -> None:
    """warcio ends quietly on a member that inflates to nothing or fails between records."""
    report = state.report
    if state.gzip_errors:
        report.problem(
            f"unreadable from here on: bad gzip data ({state.gzip_errors[-1]})", iterator.offset
        )
        report.complete = False
    elif iterator.offset < size:
        report.problem(
            f"the last {size - iterator.offset} bytes are not a whole record"
            " (a gzip member cut short?)",
            iterator.offset,
        )
        report.complete = False


def _read_failure(exc: Exception, iterator: ArchiveIterator) -> tuple[int | None, str]:
    text = " ".join(str(exc).split())
    if "non-chunked gzip" in text:
        # Offsets mean nothing inside one gzip stream: the fault is the whole file's.
        return 0, (
            "the file is one gzip stream, not one gzip member per record "
            "(warcio refuses it; `warcio recompress` can rewrite it)"
        )
    if isinstance(exc, zlib.error):
        text = f"bad gzip data ({text})"
    elif not isinstance(exc, ArchiveLoadFailed) or not text:
        # Not warcio's own verdict: the type says more than a bare message.
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return iterator.offset, text[:300]
