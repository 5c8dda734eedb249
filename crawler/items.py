"""What the spiders hand to the item pipelines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.archive import Capture
    from crawler.inputs import Rejected, Seed


@dataclass(slots=True)
class Page:
    """A seed's final response, archived: what the pipelines turn into text."""

    seed: Seed
    capture: Capture
    url: str  #: final URL, after redirects
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes  #: decoded from its Content-Encoding
    redirects: list[str] = field(default_factory=list)
    text_path: str | None = None  #: the text file written, relative to the archive folder
    text_reason: str | None = None  #: why there is no text, when there is none


@dataclass(slots=True)
class SeedOutcome:
    """What became of an input entry that produced no page."""

    seed: Seed | Rejected
    outcome: str  #: "failed", "forbidden", "invalid" or "duplicate"
    reason: str
    capture: Capture | None = None  #: the error response, when there was one
    url: str | None = None  #: the last URL tried, after redirects
