"""trafilatura's XPath expressions, with their regular-expression tests made cheaper.

trafilatura finds boilerplate, comments, bylines and the main content with XPath
expressions that test attributes with EXSLT regular expressions, such as
``re:test(@class, 'comment-?list')``. lxml answers each such test from Python,
for every element the expression reaches: it turns the attribute into a string
tied to its element, decodes the pattern from the expression again and looks it
up among the patterns it has compiled. On the wcxb news pages that is a fifth of
a page's extraction time.

:func:`install` compiles those expressions again, with the same results, so that:

- a test whose pattern cannot match an empty string is not called for an element
  that lacks the attributes (lxml tests the empty string then): ``(@id) and ...``;
- the pattern is compiled once, the way lxml compiles it (``re.UNICODE``, and
  ``re.IGNORECASE`` when the flags hold an ``i``), and the test names it by number;
- an expression that selects elements only gets plain strings in its tests
  (``smart_strings=False``: no element is looked up for an attribute value).
  One that may select strings keeps lxml's strings, which know their element.

Limits: only tests whose first argument is one attribute or a union of attributes
(``@id|@class``) and whose pattern and flags are string literals are rewritten,
and only expressions that trafilatura's modules hold as module attributes, alone
or in lists and tuples; the expressions are assumed to be made with lxml's
defaults, with ``re`` bound to EXSLT's regular expressions, as trafilatura's are.
Everything else runs as trafilatura wrote it. ``tests/test_extract_fastxpath.py``
checks that both give the same elements, and the same documents, on real pages.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING, Any

from lxml import etree
from lxml.etree import XPath

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

#: The namespace EXSLT's regular-expression functions live in.
EXSLT_REGEXP = "http://exslt.org/regular-expressions"
#: The namespace of this module's test function, and its prefix in rewritten expressions.
NAMESPACE = "urn:x-archiver:xpath"
PREFIX = "archiver"
#: Packages whose expressions :func:`install` rewrites.
PACKAGES = ("trafilatura",)

_LITERAL = r"'[^']*'|\"[^\"]*\""
# A string literal (left alone, so that nothing inside one is rewritten) or a test of attributes.
_TOKEN = re.compile(
    rf"{_LITERAL}"
    rf"|(?<![\w.:-])re:test\(\s*(?P<values>@[\w.-]+(?:\s*\|\s*@[\w.-]+)*)\s*,"
    rf"\s*(?P<pattern>{_LITERAL})\s*(?:,\s*(?P<flags>{_LITERAL})\s*)?\)"
)
_PREDICATE = re.compile(r"\[[^\[\]]*\]")
_ELEMENT_STEP = re.compile(
    r"(?:(?:self|child|descendant|descendant-or-self|ancestor|ancestor-or-self|parent"
    r"|following|following-sibling|preceding|preceding-sibling)::)?(?:\*|[A-Za-z_][\w.-]*)"
)

_searches: list[Callable[[str], re.Match[str] | None]] = []
_numbers: dict[tuple[str, bool], int] = {}
# (container, key, trafilatura's value, the faster value) for each place the first install
# changed: later installs and uninstalls only swap these.
_places: list[tuple[Any, str | int, Any, Any]] = []
_state = {"installed": False}


def _test(_context: object, values: list[str], number: float) -> bool:
    """``re:test``: the first value (lxml's choice), or "" when there is none, searched."""
    return _searches[int(number)](values[0] if values else "") is not None


def _number(pattern: str, ignore_case: bool) -> int | None:
    """The number of ``pattern`` compiled as lxml compiles it; None when Python rejects it."""
    key = (pattern, ignore_case)
    if key not in _numbers:
        try:
            compiled = re.compile(pattern, re.UNICODE | (re.IGNORECASE if ignore_case else 0))
        except re.error:
            return None
        _searches.append(compiled.search)
        _numbers[key] = len(_searches) - 1
    return _numbers[key]


def rewrite(path: str) -> str:
    """``path`` with each test of attributes against a literal pattern made a numbered call."""

    def replace(match: re.Match[str]) -> str:
        if match["pattern"] is None:
            return match[0]  # a string literal of the expression
        values = match["values"]
        flags = match["flags"][1:-1] if match["flags"] else ""
        number = _number(match["pattern"][1:-1], "i" in flags)
        if number is None:
            return match[0]
        call = f"{PREFIX}:test({values}, {number})"
        if _searches[number]("") is not None:
            return call  # matches "": true for an element without the attributes too
        return f"(({values}) and {call})"

    return _TOKEN.sub(replace, path)


def selects_elements(path: str) -> bool:
    """Whether each branch of ``path`` ends in an element step (not text, attributes, numbers)."""
    bare = re.sub(_LITERAL, "''", path)
    while (stripped := _PREDICATE.sub("", bare)) != bare:
        bare = stripped
    for branch in bare.split("|"):
        inner = branch.strip()
        while inner.startswith("(") and inner.endswith(")"):  # (.//article)[1]
            inner = inner[1:-1].strip()
        if not _ELEMENT_STEP.fullmatch(inner.rsplit("/", 1)[-1]):
            return False
    return True


def faster(expression: XPath) -> XPath:
    """``expression`` compiled with its regular-expression tests rewritten, or itself.

    Itself also when the rewritten expression does not compile (a warning says so):
    extraction then runs that expression as trafilatura wrote it.
    """
    path = rewrite(expression.path)
    if path == expression.path:
        return expression
    try:
        return XPath(
            path,
            namespaces={"re": EXSLT_REGEXP, PREFIX: NAMESPACE},
            extensions={(NAMESPACE, "test"): _test},
            smart_strings=not selects_elements(path),
        )
    except etree.XPathError as exc:
        logger.warning("XPath expression left as it is (%s): %s", exc, expression.path)
        return expression


def install() -> int:
    """Put faster expressions in place of trafilatura's; the number of places changed.

    The first call walks the modules of :data:`PACKAGES` loaded by then (trafilatura
    loads all of its own on import) and compiles the faster expressions. Lists are
    changed in place, since trafilatura's modules share them; tuples and single
    expressions are replaced in every module that holds them. Later calls, after
    :func:`uninstall`, put the same objects back in the same places (microseconds).
    Not thread-safe: install before extracting, as :mod:`crawler.extract.page` does.
    """
    if not _places:
        _walk()
    if not _state["installed"]:
        for container, key, _original, new in _places:
            _put(container, key, new)
        _state["installed"] = True
    return len(_places)


def _walk() -> None:
    made: dict[int, tuple[XPath, XPath]] = {}  # the original is kept, so that ids stay unique

    def swap(value: Any) -> Any:
        if not isinstance(value, XPath):
            return value
        if id(value) not in made:
            made[id(value)] = (value, faster(value))
        return made[id(value)][1]

    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in PACKAGES:
            continue
        for attribute, value in list(vars(module).items()):
            if isinstance(value, list):
                _places.extend(
                    (value, position, item, new)
                    for position, item in enumerate(value)
                    if (new := swap(item)) is not item
                )
            elif isinstance(value, XPath) or (
                isinstance(value, tuple) and any(isinstance(item, XPath) for item in value)
            ):
                new = swap(value) if isinstance(value, XPath) else tuple(map(swap, value))
                if new != value:
                    _places.append((module, attribute, value, new))


def _put(container: Any, key: str | int, value: Any) -> None:
    if isinstance(container, list):
        assert isinstance(key, int)
        container[key] = value
    else:
        setattr(container, str(key), value)


def uninstall() -> None:
    """Put trafilatura's own expressions back."""
    if _state["installed"]:
        for container, key, original, _new in reversed(_places):
            _put(container, key, original)
        _state["installed"] = False


def installed() -> bool:
    """Whether the faster expressions are in place."""
    return _state["installed"]
