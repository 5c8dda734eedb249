"""Find and fetch an archived copy of a dead URL through a Wayback Machine.

Two requests of the Wayback URL scheme, which the Internet Archive, pywb and
most web archives speak: the CDX API (``/cdx/search/cdx``) lists the captures of
a URL, and ``/web/<timestamp>id_/<url>`` replays one capture as it was
archived, without the archive's rewriting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import quote, urlencode

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
)
from scrapy.spidermiddlewares.httperror import HttpError

#: Captures asked of the CDX API; the closest to the wanted date is taken among them.
CDX_LIMIT = 20
#: HTTP statuses after which a URL counts as gone.
GONE_STATUSES = frozenset({404, 410})


@dataclass(frozen=True, slots=True)
class WaybackCapture:
    timestamp: str  #: 14 digits, UTC
    original: str
    status: str | None = None
    mime: str | None = None

    @property
    def moment(self) -> datetime:
        return datetime.strptime(self.timestamp.ljust(14, "0")[:14], "%Y%m%d%H%M%S").replace(
            tzinfo=UTC
        )


def is_dead(error: BaseException) -> bool:
    """Whether a failure means the page is gone: worth looking for an archived copy."""
    if isinstance(error, HttpError):
        status = error.response.status
        return status in GONE_STATUSES or status >= 500
    return isinstance(
        error, CannotResolveHostError | DownloadConnectionRefusedError | DownloadTimeoutError
    )


def timestamp(day: date | datetime) -> str:
    if isinstance(day, datetime):
        return day.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    return day.strftime("%Y%m%d") + "120000"


def cdx_url(base: str, url: str, near: date | datetime) -> str:
    """The CDX API query for the successful captures of ``url`` closest to ``near``."""
    params = {
        "url": url,
        "output": "json",
        "fl": "timestamp,original,statuscode,mimetype",
        "filter": "statuscode:200",
        "closest": timestamp(near),
        "sort": "closest",
        "limit": str(CDX_LIMIT),
    }
    return f"{base.rstrip('/')}/cdx/search/cdx?{urlencode(params)}"


def replay_url(base: str, capture: WaybackCapture) -> str:
    """The URL that replays ``capture`` as archived (``id_``: no rewriting)."""
    original = quote(capture.original, safe=":/?&=%#@!$'()*+,;~")
    return f"{base.rstrip('/')}/web/{capture.timestamp}id_/{original}"


def parse_cdx(body: bytes) -> list[WaybackCapture]:
    """Captures from a CDX API answer (JSON rows, the first naming the fields)."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return []
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the CDX answer is not JSON: {exc}") from None
    if not isinstance(rows, list) or not rows:
        return []
    header, *data = rows
    if not isinstance(header, list) or "timestamp" not in header or "original" not in header:
        raise ValueError(f"the CDX answer has no timestamp and original fields: {header!r}")
    fields = {name: index for index, name in enumerate(header)}
    captures = []
    for row in data:
        if not isinstance(row, list) or len(row) != len(header):
            continue  # an empty row precedes resumption keys
        stamp = str(row[fields["timestamp"]])
        if not stamp.isdigit() or len(stamp) < 4:
            continue
        captures.append(
            WaybackCapture(
                timestamp=stamp,
                original=str(row[fields["original"]]),
                status=str(row[fields["statuscode"]]) if "statuscode" in fields else None,
                mime=str(row[fields["mimetype"]]) if "mimetype" in fields else None,
            )
        )
    return captures


def closest(captures: list[WaybackCapture], near: date | datetime) -> WaybackCapture | None:
    """The successful capture closest in time to ``near`` (the earlier one on a tie)."""
    wanted = datetime.strptime(timestamp(near), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    usable = [c for c in captures if c.status in (None, "200", "-")]
    if not usable:
        return None
    return min(usable, key=lambda c: (abs((c.moment - wanted).total_seconds()), c.timestamp))
