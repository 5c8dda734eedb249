"""A URL's text versions: list them from the index, read them from the WARC files, diff them.

A text version is a capture whose text was new (``text_outcome`` ``written``):
its ``conversion`` record holds the text. Captures that repeated it (revisits,
or new bytes with the same text) are counted as ``seen`` under the version.
Versions are numbered from 1, the oldest; ``--diff`` also takes a version's
14-digit capture timestamp. Texts are read from the conversion records, never
from ``text/`` (which holds only the latest).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warcio.archiveiterator import ArchiveIterator

from crawler.cdxj import archive_files
from crawler.warc.reader import cdx_timestamp

if TYPE_CHECKING:
    from pathlib import Path

    from crawler.index import Index
    from crawler.layout import Layout


class VersionError(ValueError):
    """A version asked for that the URL does not have."""


@dataclass(frozen=True, slots=True)
class Version:
    number: int  #: 1 for the oldest
    url: str
    fetched_at: str
    status: int | None
    payload_digest: str | None
    text_digest: str | None
    words: int | None
    conversion_record_id: str
    warc_file: str  #: of the capture: its conversion record follows it
    warc_offset: int
    seen: int  #: captures that gave this text, this one included

    @property
    def timestamp(self) -> str:
        return cdx_timestamp(self.fetched_at)


def known_url(index: Index, url: str) -> str | None:
    """The URL the captures are under: ``url`` itself, or the final URL of that input entry."""
    for sql in (
        "SELECT url FROM captures WHERE url = ? LIMIT 1",
        "SELECT c.url FROM seeds s JOIN captures c ON c.id = s.capture_id WHERE s.url = ? "
        "ORDER BY c.fetched_at DESC LIMIT 1",
    ):
        row = next(index.query(sql, (url,)), None)
        if row is not None:
            return str(row["url"])
    return None


def versions(index: Index, url: str) -> list[Version]:
    """The text versions of ``url``, oldest first."""
    rows = index.query(
        "SELECT c.url, c.fetched_at, c.status, c.payload_digest, c.text_digest, c.text_words, "
        "c.conversion_record_id, c.warc_file, c.warc_offset, "
        "(SELECT COUNT(*) FROM captures s WHERE s.url = c.url "
        " AND s.conversion_record_id = c.conversion_record_id) AS seen "
        "FROM captures c WHERE c.url = ? AND c.text_outcome = 'written' "
        "AND c.conversion_record_id IS NOT NULL ORDER BY c.fetched_at, c.id",
        (url,),
    )
    return [
        Version(
            number=number,
            url=row["url"],
            fetched_at=row["fetched_at"],
            status=row["status"],
            payload_digest=row["payload_digest"],
            text_digest=row["text_digest"],
            words=row["text_words"],
            conversion_record_id=row["conversion_record_id"],
            warc_file=row["warc_file"],
            warc_offset=row["warc_offset"],
            seen=row["seen"],
        )
        for number, row in enumerate(rows, start=1)
    ]


def pick(found: list[Version], spec: str) -> Version:
    """The version ``spec`` names: its number as listed, or its 14-digit capture timestamp."""
    text = spec.strip()
    if len(text) == 14 and text.isdigit():
        for version in found:
            if version.timestamp == text:
                return version
        raise VersionError(f"no text version captured at {text}")
    if text.isdigit() and 1 <= int(text) <= len(found):
        return found[int(text) - 1]
    raise VersionError(
        f"{spec!r} is not a version: give a number from 1 to {len(found)} "
        "or a 14-digit capture timestamp"
    )


def read_text(layout: Layout, version: Version) -> str:
    """The text of ``version``, from its conversion record.

    The record is written after the capture's, in the same crawl: it is looked
    for from the capture's offset on, then in the files that follow.
    """
    first = layout.warc_dir / version.warc_file
    files = [first] + [p for p in archive_files(layout.warc_dir) if p.name > first.name]
    for number, path in enumerate(files):
        text = _find(path, version.conversion_record_id, version.warc_offset if not number else 0)
        if text is not None:
            return text
    raise VersionError(
        f"the conversion record {version.conversion_record_id} is not in {layout.warc_dir}"
    )


def _find(path: Path, record_id: str, offset: int) -> str | None:
    try:
        stream = path.open("rb")
    except OSError:
        return None
    with stream:
        stream.seek(offset)
        for record in ArchiveIterator(stream, no_record_parse=True):
            if record.rec_headers.get_header("WARC-Record-ID") == record_id:
                return str(record.raw_stream.read().decode("utf-8"))
    return None


def unified_diff(layout: Layout, old: Version, new: Version) -> str:
    """A unified diff of two versions' texts, labelled with their numbers and times."""
    before = read_text(layout, old).splitlines(keepends=True)
    after = read_text(layout, new).splitlines(keepends=True)
    lines = difflib.unified_diff(
        before,
        after,
        fromfile=f"version {old.number} ({old.fetched_at})",
        tofile=f"version {new.number} ({new.fetched_at})",
    )
    # The corpus format has no newline after its last line.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def render(url: str, found: list[Version]) -> str:
    """The version list as a table, one version a line, columns separated by spaces."""
    rows = [("#", "captured", "status", "payload-digest", "text-digest", "words", "seen")]
    rows += [
        (
            str(v.number),
            v.fetched_at,
            str(v.status or "-"),
            v.payload_digest or "-",
            v.text_digest or "-",
            "-" if v.words is None else str(v.words),
            str(v.seen),
        )
        for v in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"{url}: {len(found)} text version(s)"]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
