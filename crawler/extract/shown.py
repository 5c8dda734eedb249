"""The date a page shows its readers, when the date found in its metadata is not shown.

htmldate (through trafilatura) takes the publication date from the page's
metadata first. Pages declare several dates (published, modified, created, the
``datetime`` of ``<time>`` elements) that often disagree, and the one a reader
sees by the headline ("Mike Marshall · Friday, December 19, 2025") is not always
the one htmldate picks. :func:`shown_date` replaces the date found when:

- the date found is written nowhere in the page's text, in any of the forms
  :func:`shown_dates` reads, nor a day off by the headline (another time zone);
- another date the page declares is written next to its headline (from
  :data:`BEFORE_HEADLINE` characters before its first ``<h1>`` outside menus,
  see :class:`~crawler.extract.facts.PageFacts`, to :data:`AFTER_HEADLINE`
  after it), the first such date;
- that date is not labelled as a revision ("Updated", "Last modified", "Last
  post by", "Aktualisiert"...): a revision date is the page's, not its story's;
- and it is more than :data:`SAME_DATE_DAYS` day off: a day apart is one moment
  in two time zones, and the metadata, with its time and zone, says which.

Only declared dates are taken, so that a date in a teaser or a comment next to
the headline is never the page's. Dates before 1995 or after the capture are not
taken, as htmldate bounds its own. Limits: dates are read in numeric forms, as
``年月日``, and with month names in English, German, French, Spanish, Italian,
Portuguese and Dutch; a page whose headline is shorter than
:data:`MIN_HEADLINE_CHARS` keeps the date found.

Measured with bench/extraction.py on ../shared/pages: date matches +14 -6 on
wcxb, +5 -1 on trafilatura-eval, no change elsewhere (see the README). The two
sets disagree on revision dates: wcxb's truth is the revision date shown by the
headline as often as the hidden publication date, trafilatura-eval's is the date
shown; revision dates are left to htmldate.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from lxml.etree import iterwalk

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lxml.html import HtmlElement

    from crawler.extract.facts import PageFacts

#: How far before the headline's start and after its end a shown date is the page's.
BEFORE_HEADLINE = 200
AFTER_HEADLINE = 300
#: A headline shorter than this ("Blog", "News") is found in too many places to place a date.
MIN_HEADLINE_CHARS = 10
#: Dates this many days apart or fewer are one moment in two time zones.
SAME_DATE_DAYS = 1
#: htmldate's own lower bound: no earlier date is a web page's.
EARLIEST = date(1995, 1, 1)

_MONTHS = {
    "en": "january february march april may june july august september october november december",
    "de": "januar februar märz april mai juni juli august september oktober november dezember",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
    "diciembre",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre "
    "dicembre",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro "
    "dezembro",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
}


def _month_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for months in _MONTHS.values():
        for number, name in enumerate(months.split(), start=1):
            for form in (name, name[:3], name[:4]):
                names.setdefault(form, number)
    names["sept"] = 9
    return names


#: Month names and their abbreviations ("sep", "sept", "déc"), casefolded, to their number.
MONTH_NAMES = _month_names()
_MONTH = "|".join(sorted(map(re.escape, MONTH_NAMES), key=len, reverse=True))
_ORDINAL = r"(?:st|nd|rd|th|er|º)?"
_DATE_RES = (
    # 2025-12-19, 2025/12/19, 2025.12.19, 2025. 12. 19.
    ("ymd", re.compile(r"\b(\d{4})[-/.]\s?(\d{1,2})[-/.]\s?(\d{1,2})\b")),
    # 19.12.2025, 19/12/2025, 12/19/2025, 19-12-25: day first and month first
    ("dmy", re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})\b")),
    # 19 December 2025, 19. Dezember 2025, 19th of Dec. 2025, 19 de diciembre de 2025
    (
        "d_m_y",
        re.compile(
            rf"\b(\d{{1,2}}){_ORDINAL}\.?\s(?:of\s|de\s)?({_MONTH})\.?,?\s(?:de\s)?(\d{{4}})\b"
        ),
    ),
    # December 19, 2025, Dec. 19th 2025
    ("m_d_y", re.compile(rf"\b({_MONTH})\.?\s(\d{{1,2}}){_ORDINAL},?\s(\d{{4}})\b")),
    # 2025年12月19日
    ("cjk", re.compile(r"(\d{4})\s?年\s?(\d{1,2})\s?月\s?(\d{1,2})\s?日")),
)
_REVISION_RE = re.compile(
    r"(?:updat|modif|edited|revis|last post|reviewed|aktualisiert|geändert|mis à jour"
    r"|actualiz|aggiorn)\D{0,25}$"
)
#: How much text before a date is read for a revision label.
_LABEL_CHARS = 40
_HIDDEN_TAGS = frozenset({"script", "style", "noscript", "template"})


def shown_date(
    found: date | None, tree: HtmlElement, facts: PageFacts, *, latest: date | None = None
) -> date | None:
    """The page's date for its readers: ``found``, or a declared date shown by the headline.

    ``latest`` (the capture date) bounds the dates taken.
    """
    candidates = {
        declared
        for declared in facts.dates
        if EARLIEST <= declared <= (latest or date.max)
        and (found is None or abs((declared - found).days) > SAME_DATE_DAYS)
    }
    if not candidates or not facts.headings or len(facts.headings[0]) < MIN_HEADLINE_CHARS:
        return found
    text = visible_text(tree)
    start = text.find(" ".join(facts.headings[0].split()).casefold())
    if start < 0:
        return found
    end = start + len(facts.headings[0])
    near = list(shown_dates(text, max(0, start - BEFORE_HEADLINE), end + AFTER_HEADLINE))
    if found is not None and any(abs((day - found).days) <= SAME_DATE_DAYS for _at, day in near):
        return found  # shown by the headline, maybe in another time zone
    taken = next(
        (
            day
            for at, day in near
            if day in candidates and not _REVISION_RE.search(text, max(0, at - _LABEL_CHARS), at)
        ),
        None,
    )
    # The whole text is read only now: most pages show no declared date by the headline.
    if taken is None or (found is not None and any(day == found for _at, day in shown_dates(text))):
        return found
    return taken


def visible_text(tree: HtmlElement) -> str:
    """The text of the page's body, casefolded, on one line, scripts and styles left out."""
    body = tree.find(".//body")
    if body is None:
        return ""
    parts: list[str] = []
    walk = iterwalk(body, events=("start", "end"))
    for event, element in walk:
        if event == "start":
            if element.tag in _HIDDEN_TAGS or not isinstance(element.tag, str):
                walk.skip_subtree()
            elif element.text:
                parts.append(element.text)
        elif element.tail and element is not body:
            parts.append(element.tail)
    return " ".join(" ".join(parts).split()).casefold()


def shown_dates(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, date]]:
    """Each date written in ``text`` (casefolded), with where it starts, in the text's order;
    only those that start from ``start`` to ``end``, when given.

    A numeric date that reads both ways ("03/04/2025") gives both dates.
    """
    last = len(text) if end is None else end
    found: list[tuple[int, date]] = []
    for kind, pattern in _DATE_RES:
        for match in pattern.finditer(text, start):
            if match.start() > last:
                break
            first, second, third = match.groups()
            if kind in ("ymd", "cjk"):
                orders = [(first, second, third)]
            elif kind == "dmy":
                year = third if len(third) == 4 else f"20{third}"
                orders = [(year, second, first), (year, first, second)]
            elif kind == "d_m_y":
                orders = [(third, str(MONTH_NAMES[second]), first)]
            else:
                orders = [(third, str(MONTH_NAMES[first]), second)]
            for year, month, day in orders:
                try:
                    found.append((match.start(), date(int(year), int(month), int(day))))
                except ValueError:  # 31/02, 13th month: not this reading
                    continue
    found.sort()
    return iter(found)
