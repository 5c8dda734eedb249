"""Read what the user wants archived: a URL list, standard input or a corpus folder.

Everything here streams: a list is read a line at a time and a corpus folder a
document at a time, so a million-line input never sits in memory. What cannot
be used is not dropped silently: it comes out as a :class:`Rejected` entry with
the file, the line and the reason, for the log and the index.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import sys
import threading
import unicodedata
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

from crawler.outcomes import InputOutcome
from crawler.text.document import parse_date

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import date

#: Longest URL accepted, in characters; longer lines are reported and skipped.
MAX_URL_LENGTH = 8192
#: Only the end of a corpus document is read to find its ``Original url:``.
CORPUS_TAIL_BYTES = 64 * 1024
#: ... and only its start for its date.
CORPUS_HEAD_BYTES = 4096
STDIN = "-"
DUPLICATE_PREFIX = "duplicate of "
SUPPORTED_SCHEMES = ("http", "https")

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_ASCII_BAD_RE = re.compile(r"[\x00-\x20\x7f]")
_DOCUMENT_DATE_RE = re.compile(r"\A\n\n(?:# [^\n]*\n\n)?([A-Z][a-z]+ [0-9]{1,2}, [0-9]{4})\n")
_ORIGINAL_URL_RE = re.compile(r"(?:^|\n)Original url:\n\n<([^\n]*)>\s*\Z")


class InputError(Exception):
    """The input cannot be read at all (missing, unreadable, wrong kind)."""


@dataclass(frozen=True, slots=True)
class Seed:
    """A URL to fetch, with where it came from."""

    url: str
    position: int  #: rank among the input's entries, from 0
    source: str  #: the file it was read from, or "-"
    line: int  #: 1-based line of the URL in that file
    document: str | None = None  #: corpus document file name, when read from a folder
    published: date | None = None  #: the corpus document's date, when it has one


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input entry that will not be fetched, and why."""

    text: str
    position: int | None
    source: str
    line: int
    reason: str
    kind: InputOutcome = InputOutcome.INVALID  #: invalid or duplicate
    document: str | None = None


Entry = Seed | Rejected


def _has_bad_characters(url: str) -> bool:
    if url.isascii():
        return _ASCII_BAD_RE.search(url) is not None
    return any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in url)


def check_url(url: str) -> str | None:
    """Return why ``url`` cannot be fetched, or None when it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    if _has_bad_characters(url):
        return "contains spaces or control characters"
    match = _SCHEME_RE.match(url)
    if match is None:
        return "no scheme (expected http:// or https://)"
    scheme = match.group(1).lower()
    rest = url[match.end() :]
    if scheme not in SUPPORTED_SCHEMES:
        if not rest.startswith("//") and ("." in scheme or rest[:1].isdigit()):
            # "example.com/page" or "localhost:8000/": a host, not a scheme.
            return "no scheme (expected http:// or https://)"
        return f"unsupported scheme {scheme!r} (only http and https)"
    if not rest.startswith("//"):
        return "no host"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        return f"malformed URL: {exc}"
    if not host:
        return "no host"
    try:
        host.encode("idna")
    except UnicodeError:
        return f"invalid host name {host!r}"
    return None


def dedup_key(url: str) -> bytes:
    """A short digest that identifies duplicates: same URL, minus the fragment.

    Scheme and host are case-insensitive; everything else is compared as given,
    because servers may tell paths and queries apart by case or order.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo}@{hostport.lower()}"
    else:
        netloc = netloc.lower()
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query or url.split("#", 1)[0].endswith("?") else ""
    canonical = f"{parts.scheme.lower()}://{netloc}{path}{query}"
    return hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def _iter_lines(stream: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, bytes) per line; bytes is None when a line is too long."""
    lineno = 0
    while True:
        chunk = stream.readline(limit + 1)
        if not chunk:
            return
        lineno += 1
        if len(chunk) > limit and not chunk.endswith(b"\n"):
            # Skip the rest of the overlong line without holding it in memory.
            while chunk and not chunk.endswith(b"\n"):
                chunk = stream.readline(limit + 1)
            yield lineno, None
            continue
        yield lineno, chunk


class _Dedup:
    """Remembers the URLs seen so far, by an 8-byte digest, and where each was first seen."""

    def __init__(self) -> None:
        self._seen: dict[int, int] = {}

    def first(self, url: str, where: int) -> int | None:
        """Where ``url`` was seen before, or None (and remember ``where``)."""
        key = int.from_bytes(dedup_key(url))
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = where
        return seen


def read_url_list(stream: BinaryIO, source: str) -> Iterator[Entry]:
    """Entries of a URL list: one URL a line, ``#`` comments and blank lines ignored."""
    dedup = _Dedup()
    position = 0
    # Room for the URL, surrounding spaces and a UTF-8 BOM.
    for lineno, raw in _iter_lines(stream, MAX_URL_LENGTH * 4 + 64):
        if raw is None:
            yield Rejected("", position, source, lineno, f"longer than {MAX_URL_LENGTH} characters")
            position += 1
            continue
        data = raw.removeprefix(b"\xef\xbb\xbf") if lineno == 1 else raw
        try:
            text = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            text = data.decode("utf-8", "replace").strip()
            yield Rejected(text, position, source, lineno, "not UTF-8 text")
            position += 1
            continue
        if not text or text.startswith("#"):
            continue
        reason = check_url(text)
        if reason is not None:
            yield Rejected(text, position, source, lineno, reason)
        elif (first := dedup.first(text, lineno)) is not None:
            yield Rejected(
                text,
                position,
                source,
                lineno,
                f"{DUPLICATE_PREFIX}line {first}",
                InputOutcome.DUPLICATE,
            )
        else:
            yield Seed(text, position, source, lineno)
        position += 1


def original_url(text: str) -> tuple[str, int] | None:
    """The ``Original url:`` at the end of a corpus document, and its offset in ``text``."""
    match = _ORIGINAL_URL_RE.search(text)
    if match is None:
        return None
    return match.group(1).strip(), match.start(1)


def _read_document(path: Path) -> tuple[date | None, str, int]:
    """A corpus document's date, its last CORPUS_TAIL_BYTES as text, and the lines before them."""
    lines_before = 0
    tail = b""
    with path.open("rb") as handle:
        published = document_date(handle.read(CORPUS_HEAD_BYTES).decode("utf-8", "replace"))
        handle.seek(0)
        while chunk := handle.read(CORPUS_TAIL_BYTES):
            tail += chunk
            if (cut := len(tail) - CORPUS_TAIL_BYTES) > 0:
                lines_before += tail.count(b"\n", 0, cut)
                tail = tail[cut:]
    return published, tail.decode("utf-8", "replace"), lines_before


def document_date(head: str) -> date | None:
    """The date line of a corpus document's start, if it has one."""
    match = _DOCUMENT_DATE_RE.match(head)
    if match is None:
        return None
    try:
        return parse_date(match.group(1))
    except ValueError:
        return None


def read_corpus_dir(folder: Path) -> Iterator[Entry]:
    """Entries of a corpus folder: the ``Original url:`` of each ``*.txt`` document."""
    dedup = _Dedup()
    names = sorted(entry.name for entry in os.scandir(folder) if entry.name.endswith(".txt"))
    for position, name in enumerate(names):
        path = folder / name
        source = str(path)
        try:
            published, tail, lines_before = _read_document(path)
        except OSError as exc:
            problem = f"unreadable: {exc.strerror or exc}"
            yield Rejected("", position, source, 0, problem, document=name)
            continue
        found = original_url(tail)
        if found is None:
            line = lines_before + tail.count("\n") + 1
            yield Rejected(
                "", position, source, line, "no 'Original url:' at its end", document=name
            )
            continue
        url, offset = found
        line = lines_before + tail.count("\n", 0, offset) + 1
        reason = check_url(url)
        if reason is not None:
            yield Rejected(url, position, source, line, reason, document=name)
        elif (first := dedup.first(url, position)) is not None:
            duplicate = f"{DUPLICATE_PREFIX}{names[first]}"
            yield Rejected(url, position, source, line, duplicate, InputOutcome.DUPLICATE, name)
        else:
            yield Seed(url, position, source, line, name, published)


def check_input(path: str) -> None:
    """Raise InputError unless ``path`` names something this module can read."""
    if path == STDIN:
        return
    target = Path(path)
    try:
        if target.is_dir():
            os.listdir(target)
            return
        with target.open("rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        raise InputError(f"cannot read {path}: no such file or folder") from None
    except IsADirectoryError:
        raise InputError(f"cannot read {path}: is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_input(path: str) -> Iterator[Entry]:
    """Entries of ``path``: a URL list file, ``-`` for standard input, or a corpus folder."""
    check_input(path)
    if path == STDIN:
        yield from read_url_list(sys.stdin.buffer, STDIN)
        return
    target = Path(path)
    if target.is_dir():
        yield from read_corpus_dir(target)
        return
    with target.open("rb") as handle:
        yield from read_url_list(handle, path)


class BatchReader:
    """Reads entries in a thread of its own and hands them over in batches.

    The thread is a daemon: standard input left open by another program must
    not keep the crawl from stopping. ``next_batch`` never waits longer than
    its timeout, so whoever calls it can give up at any time.
    """

    def __init__(self, entries: Iterator[Entry], batch: int = 1000, ahead: int = 2) -> None:
        self._queue: queue.Queue[list[Entry] | BaseException | None] = queue.Queue(ahead)
        self._batch = batch
        self._thread = threading.Thread(
            target=self._run, args=(entries,), name="archiver-input", daemon=True
        )
        self._thread.start()

    def _run(self, entries: Iterator[Entry]) -> None:
        try:
            while batch := list(islice(entries, self._batch)):
                self._queue.put(batch)
        except BaseException as exc:  # handed over to the reader, re-raised there
            self._queue.put(exc)
            return
        self._queue.put(None)

    def next_batch(self, timeout: float) -> list[Entry] | None:
        """The next entries ([] if none came within ``timeout`` s), or None at the end."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return []
        if isinstance(item, BaseException):
            raise item
        return item
