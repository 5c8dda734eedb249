"""What the spiders hand to the item pipelines, and what the pipelines hand on.

The ``urls`` spider yields a :class:`Page` for each fetched page and a
:class:`SeedOutcome` for each entry that gave none; the pipelines turn them into
text files and index rows, and the last one hands on one flat :class:`EntryItem`
per input entry: what Scrapy's feed exports (``-O items.jsonl``, ``.csv``,
``.json``) and Scrapyd's item feeds write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.archive import Capture
    from crawler.inputs import Rejected, Seed
    from crawler.outcomes import InputOutcome
    from crawler.warc.exchange import Exchange


@dataclass(frozen=True, slots=True)
class ArchivedCopy:
    """Where a page came from when its URL was dead: a web archive's capture of it."""

    timestamp: str  #: the capture's 14-digit UTC timestamp
    replay_url: str
    failure: str  #: why the URL itself gave nothing
    failure_capture: Capture | None = None  #: the URL's own error response, if any


@dataclass(slots=True)
class Page:
    """A seed's final response, archived: what the pipelines turn into text."""

    seed: Seed
    capture: Capture
    url: str  #: final URL, after redirects
    status: int
    headers: list[tuple[bytes, bytes]]
    #: The body as the spider got it: decoded from its Content-Encoding, unless it was left
    #: coded (LEAVE_CODED_META), and then ``headers`` still name its coding.
    body: bytes
    #: The response as archived (stored header lines, content-coded body): text is made from it.
    exchange: Exchange | None = None
    redirects: list[str] = field(default_factory=list)
    text_path: str | None = None  #: the text file written, relative to the archive folder
    #: Why there is no text, or what is wrong with it (a cut body, a repaired charset).
    text_reason: str | None = None
    archived_copy: ArchivedCopy | None = None  #: set when the page is a web archive's copy
    #: How the page compares with the URL's earlier captures (a ``Change``), once known.
    change: str | None = None
    #: What the text pipeline found: title, published, site_name, author, language.
    metadata: dict[str, str | None] = field(default_factory=dict)

    @property
    def source_url(self) -> str:
        """The URL the content stands for: the seed's own for an archived copy."""
        return self.seed.url if self.archived_copy else self.url


@dataclass(slots=True)
class SeedOutcome:
    """What became of an input entry that produced no page."""

    seed: Seed | Rejected
    outcome: InputOutcome  #: failed, forbidden, invalid, duplicate, dropped...
    reason: str
    capture: Capture | None = None  #: the response archived for it, when there was one
    url: str | None = None  #: the last URL tried, after redirects
    http_status: int | None = None  #: set when the failure is an HTTP error status
    text_path: str | None = None  #: a page's text file, when its item was dropped after it


#: The page metadata an :class:`EntryItem` carries, as the index names them.
METADATA_FIELDS = ("title", "published", "site_name", "author", "language")


@dataclass(slots=True)
class EntryItem:
    """What became of one input entry, as plain values: one row of an item feed.

    Every field is a string, a number or None, and every item has every field,
    so JSON lines, JSON and CSV feeds hold every entry with the same columns.
    """

    url: str  #: the URL as the input gave it (without credentials)
    outcome: str  #: archived, failed, forbidden, invalid, duplicate, dropped...
    reason: str | None
    final_url: str | None  #: after redirects
    status: int | None  #: the final response's HTTP status
    title: str | None
    published: str | None  #: publication date, ISO 8601
    site_name: str | None
    author: str | None
    language: str | None
    text_path: str | None  #: relative to the archive folder
    change: str | None  #: new, changed or unchanged, for an archived page
    warc_file: str | None  #: the final response's record, in the archive's warc folder
    warc_offset: int | None
    fetched_at: str | None  #: when that response was fetched (WARC-Date)
    archived_copy: str | None  #: timestamp of the web archive's copy used, if any
    source: str  #: the input file or folder
    line: int  #: the line of the URL list (or 0 for a corpus document)
    position: int | None  #: the entry's position in the input (text file names count it)
    document: str | None  #: the corpus document it came from
