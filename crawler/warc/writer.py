"""Write WARC files: one gzip member per record, rotated by size, renamed when done.

A file is written as ``NAME.warc.gz.open`` and renamed to ``NAME.warc.gz`` when
it is closed, so a finished name always means a finished file. Each file starts
with its own ``warcinfo`` record, and every record names it in
``WARC-Warcinfo-ID``. Records handed over together (a request and its response)
always land in the same file.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from typing import TYPE_CHECKING, BinaryIO

from warcio.warcwriter import WARCWriter

from crawler.warc.records import WARC_VERSION, new_record_id, warcinfo_record

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from warcio.recordloader import ArcWarcRecord

logger = logging.getLogger(__name__)

OPEN_SUFFIX = ".open"


class WarcWriteError(Exception):
    """A record could not be written; the file was cut back to its last whole record."""


@dataclass(frozen=True, slots=True)
class RecordLocation:
    """Where a record lies: file name (in the WARC folder), offset and length in bytes."""

    filename: str
    offset: int
    length: int


def utcnow() -> datetime:
    return datetime.now(UTC)


def safe_hostname(name: str | None = None) -> str:
    """The crawl host's name, fit for a file name."""
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", name or socket.gethostname()) or "localhost"


class _GzipMember:
    """Collects one record as a gzip member of its own."""

    def __init__(self, level: int) -> None:
        self._zip = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        self.buffer = BytesIO()

    def write(self, data: bytes) -> None:
        self.buffer.write(self._zip.compress(data))

    def flush(self) -> None:
        self.buffer.write(self._zip.flush())


def _write_all(handle: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = handle.write(view)
        view = view[written or 0 :]


def serialize(record: ArcWarcRecord, level: int) -> bytes:
    """A record as one gzip member."""
    member = _GzipMember(level)
    WARCWriter(member, gzip=False, warc_version=WARC_VERSION).write_record(record)
    return member.buffer.getvalue()


class WarcFileWriter:
    """Appends records to the current WARC file and starts a new one past ``max_size``."""

    def __init__(
        self,
        directory: Path,
        *,
        info: Mapping[str, str],
        prefix: str = "archiver",
        max_size: int = 1_000_000_000,
        gzip_level: int = 6,
        hostname: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], str] = new_record_id,
    ) -> None:
        self.directory = directory
        self.info = dict(info)
        self.prefix = prefix
        self.max_size = max_size
        self.gzip_level = gzip_level
        self.hostname = safe_hostname(hostname)
        self._clock = clock
        self._new_id = new_id
        self._serial = 0
        self._file: BinaryIO | None = None
        self._name = ""
        self._warcinfo_id = ""
        self._size = 0
        self.closed_files: list[str] = []

    @property
    def current_file(self) -> str | None:
        """Final name of the file being written, if one is open."""
        return self._name if self._file is not None else None

    def write(self, records: Sequence[ArcWarcRecord]) -> list[RecordLocation]:
        """Write ``records`` one after the other in one file; return where each went."""
        if self._file is not None and self._size >= self.max_size:
            # Rotated before writing, not after: a file that cannot be closed fails
            # this write, not the one whose records are already safe in it.
            try:
                self.close()
            except OSError as exc:
                raise WarcWriteError(f"cannot close {self._name}{OPEN_SUFFIX}: {exc}") from exc
        if self._file is None:
            self._open()
        assert self._file is not None
        chunks = []
        for record in records:
            record.rec_headers.replace_header("WARC-Warcinfo-ID", self._warcinfo_id)
            chunks.append(serialize(record, self.gzip_level))
        locations = []
        start = self._size
        try:
            for chunk in chunks:
                _write_all(self._file, chunk)
                locations.append(RecordLocation(self._name, self._size, len(chunk)))
                self._size += len(chunk)
        except OSError as exc:
            self._size = start
            self._cut_back(start)
            raise WarcWriteError(f"cannot write to {self._name}{OPEN_SUFFIX}: {exc}") from exc
        return locations

    def close(self) -> None:
        """Finish the current file: flush, sync and rename it. Safe to call twice."""
        if self._file is None:
            return
        handle, self._file = self._file, None
        try:
            os.fsync(handle.fileno())
        finally:
            handle.close()
        final = self.directory / self._name
        os.replace(self.directory / (self._name + OPEN_SUFFIX), final)
        self.closed_files.append(self._name)
        logger.info(
            "WARC file closed: %(path)s (%(size)d bytes)", {"path": final, "size": self._size}
        )

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        now = self._clock()
        while True:
            name = f"{self.prefix}-{now:%Y%m%d%H%M%S}-{self._serial:05d}-{self.hostname}.warc.gz"
            self._serial += 1
            final = self.directory / name
            if final.exists():
                continue
            try:
                # Unbuffered: a record is on disk, or cut back, when write() returns.
                handle = open(self.directory / (name + OPEN_SUFFIX), "xb", buffering=0)  # noqa: SIM115
            except FileExistsError:
                continue
            break
        self._warcinfo_id = self._new_id()
        record = warcinfo_record(
            filename=name, fields=self.info, date=now, record_id=self._warcinfo_id
        )
        data = serialize(record, self.gzip_level)
        try:
            _write_all(handle, data)
        except OSError as exc:
            handle.close()
            raise WarcWriteError(f"cannot write to {name}{OPEN_SUFFIX}: {exc}") from exc
        self._file, self._name, self._size = handle, name, len(data)
        logger.info("WARC file opened: %(path)s", {"path": self.directory / (name + OPEN_SUFFIX)})

    def _cut_back(self, size: int) -> None:
        """Drop a partly written record so the file ends on a whole one."""
        assert self._file is not None
        try:
            os.truncate(self._file.fileno(), size)
            self._file.seek(size)
        except OSError:
            logger.error("could not cut %s back to %d bytes", self._name, size, exc_info=True)
