"""Which URLs a recrawl fetches (``--due DURATION``): those whose last good capture is older.

Pure code: the spider asks the archive for a URL's last good capture and asks
:func:`not_due_reason` whether it may be skipped, and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.durations import parse_duration
from crawler.warc.reader import warc_datetime

if TYPE_CHECKING:
    from datetime import datetime, timedelta


def due_setting(value: object) -> timedelta | None:
    """``ARCHIVER_DUE`` as a duration; None when empty (every URL is due). ValueError if bad."""
    text = str(value or "").strip()
    return parse_duration(text) if text else None


def not_due_reason(fetched_at: str, due: timedelta, spec: str, now: datetime) -> str | None:
    """Why a URL last captured at ``fetched_at`` is not fetched again; None when it is due."""
    captured = warc_datetime(fetched_at)
    if captured is None:
        return None  # a capture date we cannot read (a foreign file's): the URL is due
    if now - captured >= due:
        return None
    return f"captured {captured.strftime('%Y-%m-%dT%H:%M:%SZ')}, due after {spec}"
