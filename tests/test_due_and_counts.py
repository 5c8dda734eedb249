"""``--due`` decisions and the crawl-end counts' failure groups, on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crawler.changes import reason_group
from crawler.due import not_due_reason

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_url_captured_within_the_period_is_not_due() -> None:
    reason = not_due_reason("2026-11-30T10:00:00.123456Z", timedelta(hours=6), "6h", NOW)
    assert reason == "captured 2026-11-30T10:00:00Z, due after 6h"
    assert not_due_reason("2026-11-30T05:00:00Z", timedelta(hours=6), "6h", NOW) is None


def test_a_capture_date_that_cannot_be_read_makes_the_url_due() -> None:
    # Foreign files write dates in other forms; the crawl goes on and fetches the URL.
    odd = "Mon, 30 Nov 2026 05:55:07 GMT"
    assert not_due_reason(odd, timedelta(hours=6), "6h", NOW) is None


def test_failures_are_grouped_by_what_their_reason_says_first() -> None:
    assert reason_group("DNS lookup failed: no such host") == "DNS lookup failed"
    assert reason_group("HTTP 404 Not Found") == "HTTP 404 Not Found"
    # A colon inside the first part (a URL, a scheme) does not cut it.
    group = reason_group("no scheme (expected http:// or https://)")
    assert group.startswith("no scheme (expected http:") and "https:" in group
    assert reason_group("a/b: c") == "a b"  # stats keys are slash-separated paths
