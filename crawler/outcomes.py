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
    NOT_DUE = "not_due"  #: captured more recently than ``--due`` asks for: not fetched
    #: Fetched and archived, but its text file could not be written (a full disk):
    #: listed in ``failures`` and done again by ``--resume``.
    INCOMPLETE = "incomplete"
    #: Handed to the crawl, but a component dropped it (a middleware, the scheduler, an item
    #: pipeline) before it reached an outcome; the reason says which, when known.
    DROPPED = "dropped"


class TextOutcome(StrEnum):
    """What a page's text gave (``captures.text_outcome``)."""

    WRITTEN = "written"  #: a new text version: conversion record and text file written
    #: The same text as the URL's last version (same payload, a 304, or the same text
    #: from new bytes): nothing written, the row refers to the version it repeats.
    UNCHANGED = "unchanged"
    HTTP_ERROR = "http_error"
    NOT_HTML = "not_html"
    EMPTY = "empty"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    FAILED = "failed"


class Change(StrEnum):
    """How a fetched page compares with the URL's captures before it (the crawl-end counts)."""

    NEW = "new"  #: no earlier good capture of the URL
    CHANGED = "changed"  #: a new text version (or, without text, new bytes)
    UNCHANGED = "unchanged"  #: a revisit, or new bytes with the same text


class ExtractionOutcome(StrEnum):
    """What one run of the extraction function gave."""

    TEXT = "text"
    EMPTY = "empty"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
