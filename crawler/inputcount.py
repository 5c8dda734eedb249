"""How many entries an input holds, counted cheaply beside the crawl for its progress.

The count is an estimate made without reading the input the way the crawl
does: a URL list is read in binary chunks and its lines that are neither blank
nor ``#`` comments are counted (a line of only non-ASCII spaces counts, where
the crawl skips it); a corpus folder's ``*.txt`` names are counted from a
directory scan, without opening a document. Standard input, a named pipe or a
device is never read here (that would take bytes from the crawl): its count is
unknown. Nothing of the input is held in memory beyond one chunk.

:class:`EntryCounter` runs the count in a daemon thread of its own and gives up
past :data:`COUNT_TIME_LIMIT` seconds, or when told to stop; the count is then
unknown.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.inputs import STDIN

if TYPE_CHECKING:
    from typing import BinaryIO

logger = logging.getLogger(__name__)

#: The count is given up (the total stays unknown) once it has taken this many seconds.
COUNT_TIME_LIMIT = 60.0
#: A URL list is read this many bytes at a time.
CHUNK_SIZE = 1024 * 1024
_BOM = b"\xef\xbb\xbf"
#: A line whose first character that is not an ASCII space is neither ``#`` nor its end.
_ENTRY_LINE = re.compile(rb"^[ \t\r\f\v]*[^\s#]", re.MULTILINE)


class CountStopped(Exception):
    """The count was stopped, or took longer than its time limit."""


def _is_entry(line: bytes) -> bool:
    return _ENTRY_LINE.match(line) is not None


def count_list_lines(
    stream: BinaryIO, *, deadline: float = float("inf"), stop: threading.Event | None = None
) -> int:
    """The lines of a URL list that are neither blank nor ``#`` comments.

    A line longer than :data:`CHUNK_SIZE` is judged by its first chunk. Raises
    CountStopped when ``stop`` is set or ``deadline`` (a ``time.monotonic()``
    value) has passed, checked once a chunk.
    """
    count = 0
    tail = b""  #: the start of the line the last chunk ended in
    skipping = False  #: in the rest of a long line that was counted already
    first = True
    while chunk := stream.read(CHUNK_SIZE):
        if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
            raise CountStopped
        if first:
            chunk = chunk.removeprefix(_BOM)
            first = False
        if skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            chunk = chunk[newline + 1 :]
            skipping = False
        data = tail + chunk
        end = data.rfind(b"\n") + 1
        count += len(_ENTRY_LINE.findall(data, 0, end))
        tail = data[end:]
        if len(tail) > CHUNK_SIZE:
            count += _is_entry(tail)
            tail = b""
            skipping = True
    if tail and not skipping:
        count += _is_entry(tail)
    return count


def count_corpus_documents(folder: Path) -> int:
    """The ``*.txt`` names of a corpus folder, as the crawl lists them."""
    with os.scandir(folder) as entries:
        return sum(1 for entry in entries if entry.name.endswith(".txt"))


def count_entries(
    path: str, *, deadline: float = float("inf"), stop: threading.Event | None = None
) -> int | None:
    """How many entries the input ``path`` holds; None when it cannot be known cheaply.

    Raises OSError when the input cannot be read, CountStopped as
    :func:`count_list_lines` does.
    """
    if path == STDIN:
        return None
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        return count_corpus_documents(Path(path))
    if not stat.S_ISREG(mode):
        return None  # a FIFO or a device: the crawl's own stream, not to be read twice
    with open(path, "rb") as handle:
        return count_list_lines(handle, deadline=deadline, stop=stop)


class EntryCounter:
    """Counts an input's entries in a daemon thread; :attr:`count` once it is done."""

    def __init__(self, path: str, *, time_limit: float = COUNT_TIME_LIMIT) -> None:
        self.path = path
        self.time_limit = time_limit
        #: The number of entries, once counted; None before, or when it cannot be known.
        self.count: int | None = None
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="archiver-count", daemon=True)

    def start(self) -> EntryCounter:
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        """Whether the count is over: counted, unknown, given up or failed."""
        return self._done.is_set()

    def stop(self) -> None:
        """Give up the count (the crawl is over); the thread ends at its next chunk."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the count to be over; whether it is."""
        return self._done.wait(timeout)

    def _run(self) -> None:
        deadline = time.monotonic() + self.time_limit
        try:
            self.count = count_entries(self.path, deadline=deadline, stop=self._stop)
        except CountStopped:
            if not self._stop.is_set():
                logger.info(
                    "Progress has no total: counting the entries of %(input)s took over "
                    "%(limit)g s (COUNT_TIME_LIMIT)",
                    {"input": self.path, "limit": self.time_limit},
                )
        except OSError as exc:
            logger.debug("Could not count the entries of %s: %s", self.path, exc)
        finally:
            self._done.set()
