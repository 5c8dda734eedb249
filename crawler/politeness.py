"""What a site asks of a polite crawler, as numbers: ``Retry-After`` waits and delay floors.

Pure helpers under the two politeness middlewares: they parse headers and work
on a Scrapy downloader slot's two fields (``delay``, ``jitter``) but read no
settings and wire no signals.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.core.downloader import Slot

#: The statuses whose ``Retry-After`` asks us to come back later (RFC 9110, RFC 6585).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def http_date(value: str) -> datetime | None:
    """An HTTP-date in any of the three forms RFC 9110 allows, as an aware UTC datetime."""
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    # asctime() dates carry no zone; HTTP dates are always GMT.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def retry_after_seconds(
    value: str | bytes, *, now: datetime, server_date: str | bytes | None = None
) -> float | None:
    """How long ``Retry-After: value`` asks to wait, in seconds; None when it is unreadable.

    An HTTP-date is measured from the response's own ``Date`` when it has a
    readable one: both come from the server's clock, so a server whose clock is
    off by minutes still gets the wait it asked for. Otherwise from ``now``.
    A date in the past means no wait.
    """
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    if text[0].isdigit():
        try:
            seconds = float(text)
        except ValueError:
            return None
        return seconds if math.isfinite(seconds) else None
    moment = http_date(text)
    if moment is None:
        return None
    reference = now
    if server_date is not None:
        date = server_date.decode("latin-1") if isinstance(server_date, bytes) else server_date
        reference = http_date(date) or now
    return max(0.0, (moment - reference).total_seconds())


def capped(asked: float, limit: float) -> float:
    """``asked``, or ``limit`` when it asks for more."""
    return min(asked, limit)


def floor_slot_delay(slot: Slot, floor: float, jitter: float) -> None:
    """Keep ``slot`` from sending requests less than ``floor`` seconds apart.

    Scrapy spaces a slot's requests by ``delay * (1 ± jitter)``, so raising the
    delay to the floor is not enough: the jitter is narrowed to what keeps its
    low end at the floor. It widens again, up to ``jitter``, as AutoThrottle
    raises the delay above the floor.
    """
    slot.delay = max(slot.delay, floor)
    room = 1.0 - floor / slot.delay if slot.delay > 0 else 0.0
    slot.jitter = max(0.0, min(jitter, room))
