"""Read what the user wants archived: a URL list, standard input or a corpus folder.

Everything here streams: a list is read a line at a time and a corpus folder a
document at a time, so a million-line input never sits in memory. What cannot
be used is not dropped silently: it comes out as a :class:`Rejected` entry with
the file, the line and the reason, for the log and the index.

Credentials in a URL (``http://user:password@host/``) never travel further than
this module: the entry's URL is the URL without them, and they are kept apart
(:attr:`Seed.userinfo`, left out of its ``repr``) until the spider moves them into
the request's ``Authorization`` header (:meth:`Seed.take_credentials`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import re
import stat
import sys
import threading
import unicodedata
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import unquote, urlsplit

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
STDIN_CLOSED = "cannot read standard input: it is closed (give a URL list, or pipe one in)"
DUPLICATE_PREFIX = "duplicate of "
SUPPORTED_SCHEMES = ("http", "https")

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_ASCII_BAD_RE = re.compile(r"[\x00-\x20\x7f]")
_DOCUMENT_DATE_RE = re.compile(r"\A\n\n(?:# [^\n]*\n\n)?([A-Z][a-z]+ [0-9]{1,2}, [0-9]{4})\n")
_ORIGINAL_URL_RE = re.compile(r"(?:^|\n)Original url:\n\n<([^\n]*)>\s*\Z")
#: The ``user:password@`` of a URL's authority (everything up to its last ``@``).
_USERINFO_RE = re.compile(r"\A([A-Za-z][A-Za-z0-9+.\-]*:)?//([^/?#]*)@")
#: Bytes that are not UTF-8, kept by the ``surrogateescape`` decoding as lone surrogates.
_ESCAPED_BYTE_RE = re.compile("[\udc80-\udcff]")
#: What a corpus folder entry that is no regular file is, for its reason.
_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
#: Said in the reason of a rejected entry whose URL had credentials, now removed.
CREDENTIALS_REMOVED = "credentials removed from the URL"
#: Said in the seed row of an entry fetched with its URL's credentials.
CREDENTIALS_SENT = "sent with the credentials of its input URL (HTTP Basic authorization)"


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
    #: The ``user:password`` the input URL had, still percent-encoded (``url`` is without
    #: it), until the spider takes it for the request's ``Authorization`` header.
    userinfo: str | None = field(default=None, repr=False)
    #: Whether the input URL had credentials (sent with the request, never recorded).
    authorized: bool = False

    def take_credentials(self) -> tuple[Seed, tuple[str, str] | None]:
        """This seed without its credentials, and the user name and password, decoded.

        What travels on with the request (its meta, the items, the log) is the
        seed without them; only the request's header holds them.
        """
        if self.userinfo is None:
            return self, None
        user, _, password = self.userinfo.partition(":")
        return replace(self, userinfo=None, authorized=True), (unquote(user), unquote(password))


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


def split_userinfo(url: str) -> tuple[str, str | None]:
    """``url`` without the ``user:password@`` of its authority, and that userinfo.

    The userinfo is None when there is none; an empty one (``http://@host/``) is
    dropped from the URL all the same.
    """
    match = _USERINFO_RE.match(url)
    if match is None:
        return url, None
    userinfo = match.group(2)
    return f"{match.group(1) or ''}//{url[match.end() :]}", userinfo or None


def _rejected_text(text: str, reason: str) -> tuple[str, str]:
    """The text and reason of a rejected entry, with no credentials the line may hold."""
    url, userinfo = split_userinfo(text)
    if userinfo is None:
        return text, reason
    return url, f"{reason} ({CREDENTIALS_REMOVED})"


def _seed(
    url: str,
    position: int,
    source: str,
    line: int,
    *,
    document: str | None = None,
    published: date | None = None,
) -> Seed:
    """A seed whose URL has no credentials: they are kept apart, for authorization."""
    bare, userinfo = split_userinfo(url)
    return Seed(bare, position, source, line, document, published, userinfo)


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
            shown, reason = _rejected_text(text, "not UTF-8 text")
            yield Rejected(shown, position, source, lineno, reason)
            position += 1
            continue
        if not text or text.startswith("#"):
            continue
        if (problem := check_url(text)) is not None:
            shown, reason = _rejected_text(text, problem)
            yield Rejected(shown, position, source, lineno, reason)
        elif (first := dedup.first(text, lineno)) is not None:
            shown, duplicate = _rejected_text(text, f"{DUPLICATE_PREFIX}line {first}")
            yield Rejected(shown, position, source, lineno, duplicate, InputOutcome.DUPLICATE)
        else:
            yield _seed(text, position, source, lineno)
        position += 1


def original_url(text: str) -> tuple[str, int] | None:
    """The ``Original url:`` at the end of a corpus document, and its offset in ``text``."""
    match = _ORIGINAL_URL_RE.search(text)
    if match is None:
        return None
    return match.group(1).strip(), match.start(1)


class NotADocumentError(Exception):
    """A corpus folder entry that is no regular file (a FIFO, a socket, a device, a folder)."""


def _not_regular(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is not read as a document; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "an unknown kind of file")
    return f"not a regular file: {kind}"


def _open_document(path: Path) -> BinaryIO:
    """Open a regular file for reading; raise NotADocumentError for anything else.

    A FIFO or a device is never opened blocking nor read: opening a FIFO waits
    for a writer, and reading a device may never end. The check is made again on
    the opened file, in case the name was replaced in between.
    """
    if (problem := _not_regular(path.stat().st_mode)) is not None:
        raise NotADocumentError(problem)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if (problem := _not_regular(os.fstat(fd).st_mode)) is not None:
            raise NotADocumentError(problem)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _not_utf8(url: str) -> str | None:
    """Why a URL decoded with ``surrogateescape`` is unusable: the bytes that are not UTF-8."""
    if _ESCAPED_BYTE_RE.search(url) is None:
        return None
    raw = url.encode("utf-8", "surrogateescape")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = " ".join(f"0x{byte:02X}" for byte in raw[exc.start : exc.end])
        return f"not UTF-8 text: {bad} at offset {exc.start} of the URL"
    return None


def _read_document(path: Path) -> tuple[date | None, str, int]:
    """A corpus document's date, its last CORPUS_TAIL_BYTES as text, and the lines before them.

    Bytes of the tail that are not UTF-8 stay in the text as lone surrogates
    (``surrogateescape``), so that a URL made of them is reported, not guessed at.
    """
    lines_before = 0
    tail = b""
    with _open_document(path) as handle:
        published = document_date(handle.read(CORPUS_HEAD_BYTES).decode("utf-8", "replace"))
        handle.seek(0)
        while chunk := handle.read(CORPUS_TAIL_BYTES):
            tail += chunk
            if (cut := len(tail) - CORPUS_TAIL_BYTES) > 0:
                lines_before += tail.count(b"\n", 0, cut)
                tail = tail[cut:]
    return published, tail.decode("utf-8", "surrogateescape"), lines_before


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
        yield _corpus_entry(folder / name, position, names, dedup)


def _corpus_entry(path: Path, position: int, names: list[str], dedup: _Dedup) -> Entry:
    """The entry of one corpus document: its ``Original url:``, or why there is none."""
    name, source = path.name, str(path)
    try:
        published, tail, lines_before = _read_document(path)
    except NotADocumentError as exc:
        return Rejected("", position, source, 0, str(exc), document=name)
    except OSError as exc:
        return Rejected(
            "", position, source, 0, f"unreadable: {exc.strerror or exc}", document=name
        )
    found = original_url(tail)
    if found is None:
        line = lines_before + tail.count("\n") + 1
        return Rejected("", position, source, line, "no 'Original url:' at its end", document=name)
    url, offset = found
    line = lines_before + tail.count("\n", 0, offset) + 1
    if (bad_bytes := _not_utf8(url)) is not None:
        url = url.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if (problem := bad_bytes or check_url(url)) is not None:
        shown, reason = _rejected_text(url, problem)
        return Rejected(shown, position, source, line, reason, document=name)
    if (first := dedup.first(url, position)) is not None:
        shown, duplicate = _rejected_text(url, f"{DUPLICATE_PREFIX}{names[first]}")
        return Rejected(shown, position, source, line, duplicate, InputOutcome.DUPLICATE, name)
    return _seed(url, position, source, line, document=name, published=published)


def _stdin() -> BinaryIO:
    """Standard input's bytes; InputError when the process has none (``<&-``)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError(STDIN_CLOSED)
    return stream  # type: ignore[no-any-return]


def _check_stdin() -> None:
    stream = _stdin()
    try:
        os.fstat(stream.fileno())
    except OSError as exc:
        # Not EBADF: no file descriptor at all (a stream set by the program running the crawl).
        if exc.errno == errno.EBADF:
            raise InputError(STDIN_CLOSED) from None


def check_input(path: str) -> None:
    """Raise InputError unless ``path`` names something this module can read."""
    if path == STDIN:
        _check_stdin()
        return
    target = Path(path)
    try:
        mode = target.stat().st_mode
        if stat.S_ISDIR(mode):
            os.listdir(target)
            return
        if stat.S_ISSOCK(mode):
            raise InputError(f"cannot read {path}: is a socket")
        if not stat.S_ISREG(mode):
            # A FIFO or a device is read as a stream, as standard input is: opening it
            # here could wait for a writer, and a byte read here would be lost to the crawl.
            if not os.access(target, os.R_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            return
        with target.open("rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        raise InputError(f"cannot read {path}: no such file or folder") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_input(path: str) -> Iterator[Entry]:
    """Entries of ``path``: a URL list file, ``-`` for standard input, or a corpus folder."""
    check_input(path)
    if path == STDIN:
        yield from read_url_list(_stdin(), STDIN)
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
