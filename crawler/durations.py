"""Durations written the way people say them: ``30s``, ``15m``, ``6h``, ``1d``, ``2w``, ``1h30m``.

Used for the period of ``archiver schedule`` and for how old a capture may be
before it is due again. Units are lowercase (``m`` is minutes, never months),
each unit appears once, largest first, and a bare number is refused: ``30``
could mean seconds or minutes, and a schedule off by a factor of 60 is worse
than an error.
"""

from __future__ import annotations

import re
from datetime import timedelta

UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([a-z])")
EXAMPLES = "30s, 15m, 6h, 1d, 2w or a combination such as 1h30m"


def parse_duration(text: str) -> timedelta:
    """``1h30m`` -> ``timedelta(hours=1, minutes=30)``; a ValueError that says why otherwise."""
    spec = text.strip()
    if not spec:
        raise ValueError(f"empty duration: expected {EXAMPLES}")
    if spec.isdigit():
        raise ValueError(f"duration {text!r} has no unit: expected {EXAMPLES}")
    seconds = 0
    position = 0
    seen: list[str] = []
    for match in _PART.finditer(spec):
        if match.start() != position:
            break
        number, unit = match.groups()
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r} in duration {text!r}: expected {EXAMPLES}")
        if seen and list(UNITS).index(unit) <= list(UNITS).index(seen[-1]):
            raise ValueError(
                f"duration {text!r}: give each unit once, largest first (w, d, h, m, s)"
            )
        seen.append(unit)
        seconds += int(number) * UNITS[unit]
        position = match.end()
    if position != len(spec):
        raise ValueError(f"cannot read duration {text!r}: expected {EXAMPLES}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None


def format_duration(seconds: float) -> str:
    """A duration for log lines: ``2.4s`` under a minute, else as parse_duration reads it."""
    if seconds < 59.95:
        return f"{max(seconds, 0.0):.1f}".removesuffix(".0") + "s"
    whole = round(seconds)
    parts = []
    for unit, size in UNITS.items():
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
