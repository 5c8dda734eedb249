"""What became of an input entry, of a page's text and of an extraction: the values the index holds.

They are ``StrEnum`` members, so they are stored, compared and printed as their plain values.
"""

from __future__ import annotations

from enum import StrEnum


class InputOutcome(StrEnum):
    """What became of an input entry (``seeds.outcome``)."""

    ARCHIVED = "archived"  #: fetched and archived (its final response may be an HTTP error)
    FAILED = "failed"  #: no usable response: DNS, refused, timeout, HTTP error...
    FORBIDDEN = "forbidden"  #: robots.txt forbids it
    INVALID = "invalid"  #: not a URL the crawler can fetch
    DUPLICATE = "duplicate"  #: the same URL as an earlier entry, fetched once
    NOT_IN_ARCHIVE = "not_in_archive"  #: a replay crawl found no capture of it


class TextOutcome(StrEnum):
    """What a page's text gave (``captures.text_outcome``)."""

    WRITTEN = "written"
    HTTP_ERROR = "http_error"
    NOT_HTML = "not_html"
    EMPTY = "empty"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    FAILED = "failed"


class ExtractionOutcome(StrEnum):
    """What one run of the extraction function gave."""

    TEXT = "text"
    EMPTY = "empty"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
