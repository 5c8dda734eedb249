"""Author names as trafilatura finds them, without the byline's leftovers.

trafilatura reads bylines such as "By Jane Doe | Last updated March 3, 2025" and
keeps what its own clean-up leaves: "Jane Doe Last Updated March", a bare
"December", "Author Jane Doe", "Drat 1". These rules cut such leftovers: labels
before the name, and dates, update notes and counters after it. A name that
ends in a month's abbreviation ("Ann Dec") would lose it; month names that are
common names too (May, June, April, August) are cut only before a day number.
"""

from __future__ import annotations

import re

_MONTHS = (
    "january", "february", "march", "may", "june", "july", "august", "september",
    "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "april", "januar", "februar", "märz",
    "juni", "juli", "oktober", "dezember",
)  # fmt: skip
# Month names that are also first or last names ("Tom May", "June Smith"): cut
# only when a day number follows them.
_NAME_MONTHS = ("may", "june", "april", "august")
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_PLAIN_MONTH_RE = "|".join(sorted(set(_MONTHS) - set(_NAME_MONTHS), key=len, reverse=True))
# A label in front of the name: "Author Jane Doe", "Name: Jane Doe".
_LABEL_RE = re.compile(r"^(?:author|autor|name|by)\b[\s:]*", re.IGNORECASE)
# Where the name ends: an update note, "on <month>", a month with a day or at the
# end, or a number ("Jane Doe 3" is a comment count next to a forum name).
_TAIL_RE = re.compile(
    rf"(?:^|\s+)(?:(?:last\s+)?(?:updated|modified|published|posted)\b"
    rf"|on\s+(?:{_MONTH_RE})\b"
    rf"|(?:{_MONTH_RE})\b\.?\s+\d"
    rf"|(?:{_PLAIN_MONTH_RE})\b\.?\s*$"
    rf"|\d).*$",
    re.IGNORECASE | re.DOTALL,
)
# Separators left at either end once a tail is cut ("Jane Doe •").
_EDGE_RE = re.compile(r"^[\s|•·:,;/\u2013\u2014-]+|[\s|•·:,;/\u2013\u2014-]+$")


def clean_author(value: str | None) -> str | None:
    """trafilatura's ``value`` ("Jane Doe; John Roe") with each name's leftovers cut off."""
    if not value:
        return None
    names: list[str] = []
    for part in value.split(";"):
        name = _LABEL_RE.sub("", part.strip())
        name = _EDGE_RE.sub("", _TAIL_RE.sub("", name))
        if name and name.casefold() not in _MONTHS and name not in names:
            names.append(name)
    return "; ".join(names) or None
