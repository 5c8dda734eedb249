"""Scoring one extraction against one page's ground truth, leniently where sets differ.

Every function takes the ground truth value first and returns None when there is
no ground truth (a null field), so that a missing annotation never counts as
"expected empty". All text is compared in Unicode NFC (pages and annotations mix
composed and decomposed letters). The rules, in one place:

- body F1: bag of words over lowercase ``\\w+`` tokens, counted as multisets
  (a word said twice must be found twice); an empty extraction scores 0.
- snippets: a snippet is found when its casefolded, whitespace-collapsed form is a
  substring of the extracted text in the same form.
- title: *exact* after collapsing whitespace only; *lenient* after casefolding and
  dropping everything but letters and digits. Each side is compared whole and
  with a site name cut off, as far as its shape tells: split at spaced separators
  ("Headline | Site"), without its last part, without its first part when that
  part is the shorter side ("Site | Headline"), and as its longest part
  ("Headline | Section | Site"). A match is any form in common: the sets disagree
  on site names, not on headlines. A colon is not a separator ("Topic: Headline"
  is a different title from "Headline").
- date: the first ten characters (``YYYY-MM-DD``) equal; a truth that is only a
  month (``2025-09``) has no day to compare and is skipped.
- author: both sides are split into names at ``;``, ``,``, ``&``, ``|``, ``/`` and
  the words "and"/"und", with a leading "by" (or "von", "par", "por", "di")
  dropped and each name squashed as for titles.
  A hit when the squashed strings are equal, or when every name we give is one
  of the names of the truth (so "the sets agree" and "ours is one of them" both
  count; an extra name that the truth lacks does not). Titles written after a
  comma ("Jane Doe, MD") thereby count as names of their own, which is harmless.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_TOKEN_RE = re.compile(r"\w+")
_NON_WORD_RE = re.compile(r"[\W_]+")
# Separators with spaces on both sides: a bare hyphen or colon is part of a headline.
_TITLE_SPLIT_RE = re.compile(r"\s+(?:\||-|\u2013|\u2014|·|•|::|»|«|/|~)\s+")
_AUTHOR_SPLIT_RE = re.compile(r"\s*(?:[;,&|/]|\band\b|\bund\b)\s*", re.IGNORECASE)
_BY_RE = re.compile(r"^\s*(?:by|von|par|por|di)\s+", re.IGNORECASE)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def tokens(text: str) -> Counter[str]:
    return Counter(_TOKEN_RE.findall(_nfc(text).lower()))


def body_f1(truth: str | None, text: str) -> dict[str, float] | None:
    """Precision, recall and F1 of the extracted words against the expected text."""
    if truth is None:
        return None
    expected, got = tokens(truth), tokens(text)
    overlap = sum((expected & got).values())
    if not expected or not got or not overlap:
        return {"p": 0.0, "r": 0.0, "f1": 0.0}
    precision = overlap / sum(got.values())
    recall = overlap / sum(expected.values())
    return {"p": precision, "r": recall, "f1": 2 * precision * recall / (precision + recall)}


def lenient(text: str) -> str:
    return " ".join(_nfc(text).casefold().split())


def snippets(expected: list[str] | None, text: str) -> tuple[int, int] | None:
    """How many of ``expected`` occur in ``text``, out of how many."""
    if not expected:
        return None
    haystack = lenient(text)
    wanted = [lenient(snippet) for snippet in expected if lenient(snippet)]
    if not wanted:
        return None
    return sum(snippet in haystack for snippet in wanted), len(wanted)


def squash(text: str) -> str:
    return _NON_WORD_RE.sub("", _nfc(text).casefold())


def _title_forms(title: str) -> set[str]:
    """The title whole and with a site name cut off, as far as its shape tells."""
    parts = [part for part in _TITLE_SPLIT_RE.split(title) if squash(part)]
    forms = {squash(title)}
    if len(parts) > 1:
        forms.add(squash("".join(parts[:-1])))  # "Headline | Site"
        forms.add(squash(max(parts, key=len)))  # "Headline | Section | Site"
        # "Site | Headline", but not "Headline | Site" read backwards, which would
        # let a bare site name match: the cut prefix is the shorter side.
        if len(squash(parts[0])) < len(squash("".join(parts[1:]))):
            forms.add(squash("".join(parts[1:])))
    return forms - {""}


def title_match(truth: str | None, title: str | None) -> dict[str, bool] | None:
    if not truth or not truth.strip():
        return None
    if not title:
        return {"exact": False, "lenient": False}
    exact = " ".join(_nfc(truth).split()) == " ".join(_nfc(title).split())
    return {"exact": exact, "lenient": exact or bool(_title_forms(truth) & _title_forms(title))}


def date_match(truth: str | None, published: str | None) -> bool | None:
    if not truth or len(truth) < 10:
        return None
    return published is not None and published[:10] == truth[:10]


def _names(text: str) -> set[str]:
    text = _BY_RE.sub("", text.strip())
    return {squash(name) for name in _AUTHOR_SPLIT_RE.split(text)} - {""}


def author_match(truth: str | None, author: str | None) -> bool | None:
    if not truth or not truth.strip():
        return None
    if not author:
        return False
    if squash(_BY_RE.sub("", truth)) == squash(_BY_RE.sub("", author)):
        return True
    ours = _names(author)
    return bool(ours) and ours <= _names(truth)
