"""Durations as people write them: the period of ``archiver schedule``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crawler.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("90m", timedelta(minutes=90)),
        (" 6h\n", timedelta(hours=6)),
        ("0s", timedelta(0)),
    ],
)
def test_good_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty duration"),
        ("30", "has no unit"),
        ("6H", "cannot read duration '6H'"),
        ("1y", "unknown unit 'y'"),
        ("1mo", "cannot read duration '1mo'"),
        ("30m1h", "largest first"),
        ("1h1h", "largest first"),
        ("1.5h", "cannot read duration '1.5h'"),
        ("-1h", "cannot read duration '-1h'"),
        ("1h 30m", "cannot read duration"),
        ("h", "cannot read duration"),
        ("99999999999999w", "too long"),
    ],
)
def test_bad_durations(text: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_duration(text)
    assert message in str(error.value)
    assert "30s, 15m, 6h, 1d, 2w" in str(error.value) or message in ("largest first", "too long")


def test_log_notation_reads_back() -> None:
    assert format_duration(2.44) == "2.4s"
    for seconds in (60, 3600, 5400, 90061, 1_209_600):
        assert parse_duration(format_duration(seconds)).total_seconds() == seconds
