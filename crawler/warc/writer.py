"""Write WARC files: one gzip member per record, rotated by size, renamed when done.

A file is written as ``NAME.warc.gz.open`` and renamed to ``NAME.warc.gz`` when
it is closed, so a finished name always means a finished file. Each file starts
with its own ``warcinfo`` record, and every record names it in
``WARC-Warcinfo-ID``. Records handed over together (a request and its response)
always land in the same file.

Serializing a large record (digests, gzip) is heavy, so it can be done apart
from the file, in another thread: :func:`serialize_for` makes the members for
the file that :meth:`WarcFileWriter.ready` names, and
:meth:`WarcFileWriter.append` adds them, cheaply and in order, as long as that
file is still the one being written.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from typing import IO, TYPE_CHECKING, BinaryIO

from warcio.warcwriter import WARCWriter

from crawler.warc.records import WARC_VERSION, new_record_id, warcinfo_record

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from warcio.recordloader import ArcWarcRecord

logger = logging.getLogger(__name__)

OPEN_SUFFIX = ".open"
#: A gzip member made apart from the file (:func:`serialize_for`) is kept in memory up
#: to this many bytes, and spooled to an unnamed temporary file beside the WARC files
#: past it: a large response costs its body in memory, not its body twice.
SPOOL_ABOVE = 8 * 1024 * 1024
#: What a member may hold beyond its record's block: WARC headers, gzip framing.
SPOOL_MARGIN = 64 * 1024
#: Spooled members are copied into the WARC file this many bytes at a time, where the
#: kernel cannot copy them itself.
COPY_CHUNK = 1024 * 1024


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


#: The gzip header of every member: no name, no time, deflate, from a Unix system.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
#: Content codings whose bodies compress no further.
_CODED = frozenset({b"gzip", b"x-gzip", b"deflate", b"br", b"zstd", b"compress", b"x-compress"})
#: Media types whose bodies are compressed already (checked before any parameter).
_COMPRESSED_TYPES = (
    b"image/jpeg",
    b"image/png",
    b"image/gif",
    b"image/webp",
    b"image/avif",
    b"font/woff",
    b"font/woff2",
    b"application/font-woff",
    b"application/zip",
    b"application/gzip",
    b"application/x-gzip",
    b"application/pdf",
    b"video/",
    b"audio/",
)


def compressed_payload(content_encoding: bytes | None, content_type: bytes | None) -> bool:
    """Whether a body with these header values is compressed already, so better stored.

    Deflating a gzip body again takes about 13 ms per MB and saves under 0.2 % of
    it; storing it takes a copy.
    """
    coding = (content_encoding or b"").strip().lower()
    if coding and all(part.strip() in _CODED for part in coding.split(b",")):
        return True
    return (content_type or b"").strip().lower().startswith(_COMPRESSED_TYPES)


def stores_payload(record: ArcWarcRecord) -> bool:
    """Whether ``record``'s payload is stored in its member, its headers deflated all the same."""
    headers = record.http_headers
    if headers is None or record.rec_type != "response":
        return False
    return compressed_payload(
        (headers.get_header("Content-Encoding") or "").encode("latin-1"),
        (headers.get_header("Content-Type") or "").encode("latin-1"),
    )


class _GzipMember:
    """Collects one record as a gzip member of its own, into ``buffer``.

    From write number ``store_from`` on (the payload, when warcio writes the
    record: its WARC headers, then its HTTP headers, then the payload), the data
    is stored in deflate's stored blocks rather than compressed: one member, one
    deflate stream, that every gzip reader reads as usual.
    """

    def __init__(self, level: int, buffer: IO[bytes], *, store_from: int | None = None) -> None:
        self._zip = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._length = 0
        self._writes = 0
        self._store_from = store_from
        self.buffer = buffer
        self.size = 0
        self._add(_GZIP_HEADER)

    def write(self, data: bytes) -> None:
        if self._writes == self._store_from:
            # A sync flush ends the deflated part on a byte; stored blocks follow it.
            self._add(self._zip.flush(zlib.Z_SYNC_FLUSH))
            self._zip = zlib.compressobj(0, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._writes += 1
        self._crc = zlib.crc32(data, self._crc)
        self._length += len(data)
        self._add(self._zip.compress(data))

    def flush(self) -> None:
        self._add(self._zip.flush())
        self._add(struct.pack("<II", self._crc, self._length & 0xFFFFFFFF))

    def _add(self, data: bytes) -> None:
        self.buffer.write(data)
        self.size += len(data)


def _member(record: ArcWarcRecord, level: int, buffer: IO[bytes]) -> _GzipMember:
    """The member ``record`` is written into: its payload stored when that saves work."""
    # warcio writes the WARC headers, the HTTP headers if any, then the payload.
    store_from = 1 + bool(record.http_headers) if stores_payload(record) and level > 0 else None
    return _GzipMember(level, buffer, store_from=store_from)


def _write_all(handle: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = handle.write(view)
        view = view[written or 0 :]


#: What ``os.copy_file_range`` fails with where the system cannot copy that way.
_NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF}
)


def _copy_all(handle: BinaryIO, source: IO[bytes], length: int) -> None:
    """Append the ``length`` bytes of ``source`` to ``handle``, in the kernel where it can.

    A 200 MB member takes a tenth of a second this way, ten times less than
    through Python's buffers.
    """
    offset = 0
    try:
        while offset < length:
            copied = os.copy_file_range(source.fileno(), handle.fileno(), length - offset, offset)
            if copied <= 0:
                raise OSError(errno.EIO, f"copied {offset} of {length} bytes")
            offset += copied
    except (AttributeError, OSError) as exc:  # AttributeError: not on this system
        if offset or (isinstance(exc, OSError) and exc.errno not in _NO_KERNEL_COPY):
            raise
        source.seek(0)
        while chunk := source.read(COPY_CHUNK):
            _write_all(handle, chunk)


def serialize(record: ArcWarcRecord, level: int) -> bytes:
    """A record as one gzip member."""
    buffer = BytesIO()
    member = _member(record, level, buffer)
    WARCWriter(member, gzip=False, warc_version=WARC_VERSION).write_record(record)
    return buffer.getvalue()


@dataclass(slots=True)
class Serialized:
    """Records made into gzip members for the WARC file whose warcinfo is ``warcinfo_id``.

    Each member is bytes, or a spooled file read from its start; :meth:`close`
    frees what they hold (the writer closes them once appended).
    """

    warcinfo_id: str
    members: list[bytes | IO[bytes]] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def close(self) -> None:
        for member in self.members:
            if not isinstance(member, bytes):
                member.close()
        self.members.clear()


def serialize_for(
    records: Sequence[ArcWarcRecord],
    warcinfo_id: str,
    level: int,
    *,
    spool_dir: Path | None = None,
) -> Serialized:
    """``records`` as gzip members of the file named by ``warcinfo_id``.

    Pure and thread-safe: it touches no WARC file, so it can run off the reactor.
    A member larger than :data:`SPOOL_ABOVE` is spooled to an unnamed temporary
    file in ``spool_dir`` (removed when closed, and by the system after a crash).
    """
    serialized = Serialized(warcinfo_id)
    try:
        for record in records:
            record.rec_headers.replace_header("WARC-Warcinfo-ID", warcinfo_id)
            if (record.length or 0) + SPOOL_MARGIN <= SPOOL_ABOVE:
                # Small for sure (a member is at most its record and a little): bytes.
                data = serialize(record, level)
                serialized.members.append(data)
                serialized.lengths.append(len(data))
                continue
            spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
                max_size=SPOOL_ABOVE, dir=None if spool_dir is None else str(spool_dir)
            )
            serialized.members.append(spool)
            member = _member(record, level, spool)
            WARCWriter(member, gzip=False, warc_version=WARC_VERSION).write_record(record)
            serialized.lengths.append(member.size)
            spool.seek(0)
            if member.size <= SPOOL_ABOVE:
                # Small after all: kept as bytes, the spool freed at once.
                serialized.members[-1] = spool.read()
                spool.close()
    except BaseException:
        serialized.close()
        raise
    return serialized


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
        warcinfo_id = self.ready()
        serialized = serialize_for(records, warcinfo_id, self.gzip_level, spool_dir=self.directory)
        locations = self.append(serialized)
        assert locations is not None  # nothing else wrote in between
        return locations

    def ready(self) -> str:
        """Open (or rotate to) the file the next records go to; return its warcinfo id."""
        if self._file is not None and self._size >= self.max_size:
            # Rotated before writing, not after: a file that cannot be closed fails
            # this write, not the one whose records are already safe in it.
            try:
                self.close()
            except OSError as exc:
                raise WarcWriteError(f"cannot close {self._name}{OPEN_SUFFIX}: {exc}") from exc
        if self._file is None:
            self._open()
        return self._warcinfo_id

    def append(self, serialized: Serialized) -> list[RecordLocation] | None:
        """Append members made by :func:`serialize_for`; return where each went.

        None when the file they were made for is no longer the one being written
        (it was rotated meanwhile): they must be made again for :meth:`ready`'s.
        The file is not rotated here, so records made while it filled up still go
        into it. The members are closed either way.
        """
        try:
            if self._file is None or serialized.warcinfo_id != self._warcinfo_id:
                return None
            return self._append(self._file, serialized)
        finally:
            serialized.close()

    def _append(self, handle: BinaryIO, serialized: Serialized) -> list[RecordLocation]:
        locations = []
        start = self._size
        try:
            for member, length in zip(serialized.members, serialized.lengths, strict=True):
                if isinstance(member, bytes):
                    _write_all(handle, member)
                else:
                    _copy_all(handle, member, length)
                locations.append(RecordLocation(self._name, self._size, length))
                self._size += length
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
