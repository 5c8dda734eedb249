r"""The corpus text file: one article as a small Markdown document, rendered and parsed.

The bytes of a real corpus document define the format (GUIDE.md, section 3.1)::

    \n\n# {title}\n\n{date}\n\n**{site name}**\n\n{paragraph}...\n\nOriginal url:\n\n<{url}>

UTF-8, ``\n`` line ends, two empty lines first, no newline after the final ``>``.
Every value is one line, values are separated by exactly one empty line, no line
ends in whitespace, and a header value that is unknown (title, date, site name)
is left out together with its empty line. :func:`render` and :func:`parse` are
exact inverses: ``render(parse(text)) == text`` for every valid text, and
``parse(render(doc)) == doc`` for every document that :func:`render` accepts.

Choices the seed document leaves open:

- A document with no title leaves the ``# `` line out, like the date and the site name.
- The header lines are read in order (title, date, site name), each by its shape;
  the body starts at the first line that does not fill the next header slot.
  So when a header is unknown, a first paragraph of that header's shape (an h1
  ``# Heading`` with no title, a dateline ``March 5, 2020`` with no date, a wholly
  bold ``**Lede**`` with no site name) would be read back as the header. The
  format has no escape, and inventing one would put marks in the corpus that no
  other reader of it knows, so :func:`render` refuses such a document with
  :class:`AmbiguousDocumentError` and leaves the choice to the caller (take the
  dateline as the date, drop the paragraph, or record a failure).
- :func:`render` never rewrites a value, which would break the round trip: text
  from extraction goes through :func:`normalize_paragraphs` and
  :func:`normalize_line` first, and render refuses what the format cannot hold
  (empty values, line breaks, control characters, trailing whitespace).
- A document may have no paragraph at all; whether such a page is worth a file
  is the caller's decision, not the format's.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
ORIGINAL_URL_LABEL = "Original url:"

# The shape of a date line. It is wider than what format_date writes ("March 05,
# 2020", "February 30, 2012" have it) so that a wrong date in the date slot is
# reported rather than quietly read as the first paragraph.
_DATE_SHAPE_RE = re.compile(rf"({'|'.join(MONTHS)}) ([0-9]+), ([0-9]+)")
# No value may hold these: C0 and C1 controls (line ends included), the Unicode
# line and paragraph separators (splitlines() breaks on them, so other readers
# would count lines differently) and lone surrogates (not encodable as UTF-8).
_BAD_CHAR_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Invisible characters that carry no text: soft hyphen, Mongolian vowel
# separator, zero-width space, word joiner, invisible operators, BOM. Zero-width
# (non-)joiners stay: they shape Persian and Indic words and join emoji.
_INVISIBLE = "\u00ad\u180e\u200b\u2060\u2061\u2062\u2063\u2064\ufeff"
# Deletes the invisible characters and the controls that are not whitespace
# (whitespace controls are line breaks or spaces, handled by splitting), and
# marks lone surrogates as replacement characters so the loss stays visible.
_CLEAN_TABLE: dict[int, str | None] = {
    **{ord(ch): None for ch in _INVISIBLE},
    **{code: None for code in (*range(0x20), *range(0x7F, 0xA0)) if not chr(code).isspace()},
    **dict.fromkeys(range(0xD800, 0xE000), "\ufffd"),
}
# Line breaks and tabs inside a value that keeps its spaces (a site name).
_BREAKS_RE = re.compile("[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]+")


class DocumentFormatError(ValueError):
    """Text that is not a corpus document: what is wrong, and on which line (from 1)."""

    def __init__(self, line: int, problem: str) -> None:
        # Both go to args so that the error survives pickling (process pools).
        super().__init__(line, problem)
        self.line = line
        self.problem = problem

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


class DocumentValueError(ValueError):
    """A document that the format cannot hold as it is; the message names the value."""


class AmbiguousDocumentError(DocumentValueError):
    """The first paragraph would be read back as a header line that the document lacks."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """One corpus document. None marks a header value that is unknown."""

    title: str | None = None
    published: date | None = None  #: publication date (a date, never a datetime)
    site_name: str | None = None  #: as the page gives it, runs of spaces and all
    paragraphs: list[str] = field(default_factory=list)  #: one line each, headings as "## ..."
    url: str  #: the original URL the user gave, not the final one after redirects


def format_date(day: date) -> str:
    """``day`` as the date line writes it: "March 5, 2020", English whatever the locale."""
    # strftime("%B") follows the locale and pads the day; the format wants neither.
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def parse_date(text: str) -> date:
    """The inverse of :func:`format_date`; ValueError says what is wrong with ``text``."""
    match = _DATE_SHAPE_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a date written like 'January 30, 2012'")
    month, day, year = match.groups()
    if len(day) > 1 and day.startswith("0"):
        raise ValueError(f"{text!r}: the day is written with a leading zero")
    if year.startswith("0") or len(year) > 4:
        raise ValueError(f"{text!r}: the year must be 1 to 9999, without leading zeros")
    try:
        return date(int(year), MONTHS.index(month) + 1, int(day))
    except ValueError:
        raise ValueError(f"{text!r} is not a real calendar date") from None


def _quote(line: str) -> str:
    return repr(line if len(line) <= 60 else line[:57] + "...")


def _line_problem(line: str, *, trailing_space_ok: bool = False) -> str | None:
    """Why ``line`` cannot be a line of a document, or None."""
    match = _BAD_CHAR_RE.search(line)
    if match is not None:
        char = match.group()
        if char == "\n":
            return "contains a line break"
        if char == "\r":
            return "contains a carriage return (line ends must be a bare \\n)"
        if "\ud800" <= char <= "\udfff":
            return f"contains a lone surrogate U+{ord(char):04X} (not UTF-8 text)"
        return f"contains the control character U+{ord(char):04X}"
    if line and line[-1].isspace() and not trailing_space_ok:
        return "ends with whitespace"
    return None


def _is_title_line(line: str) -> bool:
    return line.startswith("# ")


def _is_date_line(line: str) -> bool:
    return _DATE_SHAPE_RE.fullmatch(line) is not None


def _is_site_line(line: str) -> bool:
    return len(line) > 4 and line.startswith("**") and line.endswith("**")


def _check_value(what: str, value: str, *, trailing_space_ok: bool = False) -> str:
    if not value:
        raise DocumentValueError(f"{what} is empty (use None for an unknown header value)")
    problem = _line_problem(value, trailing_space_ok=trailing_space_ok)
    if problem is not None:
        raise DocumentValueError(f"{what} {problem}: {_quote(value)}")
    return value


def _ambiguity(doc: Document) -> str | None:
    """Why the first paragraph would not read back as a paragraph, or None."""
    if not doc.paragraphs:
        return None
    # The parser fills the header slots in order, so the slots after the last
    # header present are still open when it reaches the first paragraph.
    slots = [("title", _is_title_line), ("date", _is_date_line), ("site name", _is_site_line)]
    present = [doc.title is not None, doc.published is not None, doc.site_name is not None]
    last = max((index for index, known in enumerate(present) if known), default=-1)
    first = doc.paragraphs[0]
    for name, looks_like in slots[last + 1 :]:
        if looks_like(first):
            return (
                f"the first paragraph {_quote(first)} would be read as the {name} line, "
                f"since the document has no {name}"
            )
    return None


def render(doc: Document) -> str:
    """The text of ``doc`` in the corpus format; DocumentValueError if it cannot be written."""
    lines: list[str] = []
    if doc.title is not None:
        lines.append("# " + _check_value("the title", doc.title))
    if doc.published is not None:
        # A datetime would render as its date and read back as a date, not itself.
        if isinstance(doc.published, datetime) or not isinstance(doc.published, date):
            raise DocumentValueError(f"published must be a datetime.date: {doc.published!r}")
        lines.append(format_date(doc.published))
    if doc.site_name is not None:
        # The site name sits between ** marks, so its own trailing spaces are harmless.
        site_name = _check_value("the site name", doc.site_name, trailing_space_ok=True)
        lines.append(f"**{site_name}**")
    lines.extend(
        _check_value(f"paragraph {number}", paragraph)
        for number, paragraph in enumerate(doc.paragraphs, 1)
    )
    url = _check_value("the url", doc.url)
    if any(char.isspace() for char in url):
        raise DocumentValueError(f"the url contains whitespace: {_quote(url)}")
    if (reason := _ambiguity(doc)) is not None:
        raise AmbiguousDocumentError(reason)
    lines += [ORIGINAL_URL_LABEL, f"<{url}>"]
    return "\n\n".join(["", *lines])


def _lines(text: str) -> list[tuple[int, str]]:
    """The value lines of ``text`` with their line numbers, its layout checked."""
    if not text:
        raise DocumentFormatError(1, "the document is empty")
    if "\r" in text:
        where = text.count("\n", 0, text.index("\r")) + 1
        raise DocumentFormatError(where, "carriage return: line ends must be a bare \\n")
    if text.startswith("\ufeff"):
        raise DocumentFormatError(1, "the document starts with a byte order mark")
    if text.endswith("\n"):
        where = text.rstrip("\n").count("\n") + 1
        raise DocumentFormatError(
            where, "a line break after the end: a document ends with '>' and no newline"
        )
    raw = text.split("\n")
    for number in (1, 2):
        if len(raw) < number or raw[number - 1]:
            raise DocumentFormatError(number, "a document starts with two empty lines")
    values: list[tuple[int, str]] = []
    for number, line in enumerate(raw[2:], 3):
        if (number - 3) % 2 == 1:
            if line:
                raise DocumentFormatError(
                    number,
                    f"expected an empty line, found {_quote(line)}: "
                    "each value is one line, followed by one empty line",
                )
            continue
        if not line:
            place = "at the start" if number == 3 else "in a row"
            raise DocumentFormatError(number, f"more than one empty line {place}")
        problem = _line_problem(line)
        if problem is not None:
            raise DocumentFormatError(number, f"the line {problem}: {_quote(line)}")
        values.append((number, line))
    return values


def parse(text: str) -> Document:
    """The document that ``text`` holds; DocumentFormatError says what is wrong and where."""
    values = _lines(text)
    number, last = values[-1]
    if not (len(last) > 2 and last.startswith("<") and last.endswith(">")):
        raise DocumentFormatError(
            number,
            f"the last line must be the original URL as '<url>', found {_quote(last)} "
            f"(a document ends with '{ORIGINAL_URL_LABEL}', an empty line and '<url>')",
        )
    url = last[1:-1]
    if any(char.isspace() for char in url):
        raise DocumentFormatError(number, f"the URL contains whitespace: {_quote(url)}")
    if len(values) < 2 or values[-2][1] != ORIGINAL_URL_LABEL:
        line = values[-2][0] if len(values) > 1 else number
        raise DocumentFormatError(line, f"expected {ORIGINAL_URL_LABEL!r} before the URL line")

    body = [line for _, line in values[:-2]]
    numbers = [number for number, _ in values[:-2]]
    index = 0
    title: str | None = None
    published: date | None = None
    site_name: str | None = None
    if index < len(body) and _is_title_line(body[index]):
        title = body[index][2:]
        index += 1
    if index < len(body) and _is_date_line(body[index]):
        try:
            published = parse_date(body[index])
        except ValueError as exc:
            raise DocumentFormatError(numbers[index], f"bad date line: {exc}") from None
        index += 1
    if index < len(body) and _is_site_line(body[index]):
        site_name = body[index][2:-2]
        index += 1
    return Document(
        title=title,
        published=published,
        site_name=site_name,
        paragraphs=body[index:],
        url=url,
    )


def normalize_paragraphs(text: str) -> list[str]:
    """Extracted text as format paragraphs: one per non-empty line, whitespace tidied.

    Every line break (``\\n``, ``\\r``, ``\\r\\n``, form feed, U+2028...) ends a
    paragraph; runs of whitespace of any kind (tabs, non-breaking spaces) become
    one space; ends are stripped; controls and invisible characters (zero-width
    space, soft hyphen, BOM) are dropped. Markdown marks such as ``## `` and list
    markers are kept as trafilatura writes them.
    """
    paragraphs = []
    for line in text.translate(_CLEAN_TABLE).splitlines():
        if words := line.split():
            paragraphs.append(" ".join(words))
    return paragraphs


def normalize_line(text: str, *, keep_spaces: bool = False) -> str:
    """``text`` as one line value, or "" when nothing is left (the caller's None).

    A title broken over several lines is still one title: its line breaks
    become spaces, as every whitespace run does. With ``keep_spaces`` (for a
    site name, kept as the page gives it) runs of spaces stay as they are and
    only line breaks and tabs become spaces. Either way the ends are stripped
    and controls and invisible characters dropped.
    """
    cleaned = text.translate(_CLEAN_TABLE)
    if keep_spaces:
        return _BREAKS_RE.sub(" ", cleaned).strip()
    return " ".join(cleaned.split())


def file_name(position: int, url: str) -> str:
    """The corpus file name of the URL at ``position`` (from 0) in its input."""
    if position < 0:
        raise ValueError(f"position must be 0 or more, not {position}")
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
    return f"{position:03d}_{digest[:16]}.txt"


def write_document(folder: Path, name: str, text: str, *, durable: bool = True) -> Path:
    """Write ``text`` as UTF-8 to ``folder / name`` atomically, and return that path.

    Readers see the old file or the new one, never a part: the bytes go to a
    temporary file in the same folder (so the rename stays on one file system),
    are flushed to disk, and the file is renamed over the target. ``folder``
    must exist; ``name`` must be a plain file name, never a path. With
    ``durable=False`` nothing is synced to disk: still atomic for readers, not
    across a power cut, and much cheaper when the text is kept elsewhere too.
    On any error (a full disk: OSError) nothing is left behind and the old
    file, if any, is as it was.
    """
    staged = stage_document(folder, name, text, durable=durable)
    try:
        return staged.commit()
    except BaseException:
        staged.discard()
        raise


@dataclass(frozen=True, slots=True)
class StagedDocument:
    """A document written beside its target, not yet in place: commit or discard it.

    Staging first lets a caller find out whether the text can be written at all
    (a full disk fails here, with nothing left behind) before it records that
    it was, and only then put the file in place.
    """

    temp: Path
    target: Path
    durable: bool

    def commit(self) -> Path:
        """Rename the staged file over the target (atomic) and return the target."""
        os.replace(self.temp, self.target)
        if self.durable:
            _fsync_folder(self.target.parent)
        return self.target

    def discard(self) -> None:
        """Remove the staged file; the target stays as it was."""
        self.temp.unlink(missing_ok=True)


def stage_document(folder: Path, name: str, text: str, *, durable: bool = True) -> StagedDocument:
    """Write ``text`` to a temporary file beside ``folder / name``: see :func:`write_document`.

    OSError when the bytes cannot be written, and then no temporary file remains.
    """
    if not name or name in {".", ".."} or "/" in name or "\0" in name or os.sep in name:
        raise ValueError(f"not a plain file name: {name!r}")
    data = text.encode("utf-8")
    # Not tempfile: its files are created 0600, and the umask should decide, as
    # for any other file. The dot and the suffix keep it out of "*.txt" scans.
    temp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
    # O_BINARY: no newline translation where the platform has text mode.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return StagedDocument(temp, folder / name, durable)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable: it lives in the folder's entry, not the file."""
    if os.name != "posix":
        return  # Windows cannot open a folder to flush it.
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
