"""What the spiders hand to the item pipelines."""

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
    body: bytes  #: decoded from its Content-Encoding
    #: The response as archived (stored header lines, content-coded body): text is made from it.
    exchange: Exchange | None = None
    redirects: list[str] = field(default_factory=list)
    text_path: str | None = None  #: the text file written, relative to the archive folder
    #: Why there is no text, or what is wrong with it (a cut body, a repaired charset).
    text_reason: str | None = None
    archived_copy: ArchivedCopy | None = None  #: set when the page is a web archive's copy
    #: How the page compares with the URL's earlier captures (a ``Change``), once known.
    change: str | None = None

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
