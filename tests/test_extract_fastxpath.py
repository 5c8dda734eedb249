"""trafilatura's expressions with faster regular-expression tests select what trafilatura's do."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import sys
from typing import TYPE_CHECKING

import pytest
from lxml import html as lxml_html
from lxml.etree import XPath
from trafilatura.utils import load_html

from crawler.extract import fastxpath, speedups
from crawler.extract.page import extract_page
from tests.conftest import shared_path

if TYPE_CHECKING:
    from lxml.html import HtmlElement

#: Real pages compared per set of ../shared/pages; ARCHIVER_TEST_PAGES_PER_SET=0 compares all.
PAGES_PER_SET = int(os.environ.get("ARCHIVER_TEST_PAGES_PER_SET", "12")) or None
TAGS = ("div", "section", "article", "main", "aside", "a", "span", "p", "h1", "h2", "ul", "li")
#: Characters that Python's case-insensitive matching takes for ASCII letters.
FOLDED = {"k": "\u212a", "s": "\u017f", "i": "\u0130", "I": "\u0131"}


def _pairs() -> list[tuple[XPath, XPath]]:
    """(trafilatura's expression, the faster one) for every replacement in place."""
    fastxpath.install()
    pairs = {id(original): (original, new) for _c, _k, original, new in fastxpath._places}
    return [pair for pair in pairs.values() if isinstance(pair[0], XPath)]


def _attribute_values(rng: random.Random) -> list[str]:
    """Values built from the words of trafilatura's patterns, joined and cased every which way."""
    words: set[str] = set()
    for original, _new in _pairs():
        for pattern in re.findall(r"re:test\([^,]+,\s*'([^']*)'", original.path):
            words.update(re.findall(r"[A-Za-z]+", pattern))
    vocabulary = [*sorted(words), "x", "comment", "commentary", "ad", "hidden", ""]
    values = []
    for _ in range(4000):
        parts = rng.sample(vocabulary, rng.randint(1, 3))
        value = rng.choice(["", "-", "_", " ", "__", "--"]).join(parts)
        if rng.random() < 0.3:
            value = value.upper() if rng.random() < 0.5 else value.title()
        if rng.random() < 0.1:
            value = "".join(FOLDED.get(ch, ch) for ch in value)
        if rng.random() < 0.2:
            value = rng.choice([" ", "\n", "x "]) + value + rng.choice(["", " ", "\n"])
        values.append(value)
    return values


def _synthetic_page(seed: int) -> HtmlElement:
    rng = random.Random(seed)
    values = _attribute_values(rng)
    elements = []
    for position, value in enumerate(values):
        tag = rng.choice(TAGS)
        other = rng.choice(values)
        attributes = rng.choice(
            [
                f'class="{value}"',
                f'id="{value}"',
                f'class="{value}" id="{other}"',
                f'id="{value}" class="{other}"',
                f'style="{value}"',
                f'data-component="{value}" itemprop="{other}"',
                "",
            ]
        )
        elements.append(f"<{tag} {attributes}>text {position}</{tag}>")
    body = "".join(elements)
    return lxml_html.document_fromstring(f"<html><body><div>{body}</div></body></html>")


def test_every_attribute_test_of_trafilatura_is_rewritten() -> None:
    pairs = _pairs()
    assert len(pairs) >= 15
    for original, new in pairs:
        assert "re:test(" in original.path
        assert "re:test(@" not in new.path
        assert f"{fastxpath.PREFIX}:test(" in new.path
    import trafilatura.core
    import trafilatura.main_extractor
    import trafilatura.metadata  # noqa: F401 (the modules that hold the expressions)

    left = [
        value.path
        for name, module in sys.modules.items()
        if name.split(".")[0] == "trafilatura"
        for value in vars(module).values()
        for value in (value if isinstance(value, list | tuple) else [value])
        if isinstance(value, XPath) and "re:test(@" in value.path
    ]
    assert left == []


@pytest.mark.parametrize("seed", [1, 2])
def test_rewritten_expressions_select_the_same_elements(seed: int) -> None:
    page = _synthetic_page(seed)
    selected = 0
    for original, new in _pairs():
        expected = original(page)
        assert new(page) == expected, original.path
        selected += len(expected)
    assert selected > 1000  # the values reach the patterns: the comparison is not of empty lists


@pytest.mark.parametrize(
    ("path", "html"),
    [
        # A pattern that matches "": elements without the attribute are selected too.
        ("//p[re:test(@class, 'x*')]", '<p>a</p><p class="y">b</p>'),
        # The first of the attributes in document order is the one tested, as lxml does.
        ("//p[re:test(@id|@class, '^z')]", '<p id="a" class="z">1</p><p class="z" id="a">2</p>'),
        ("//p[re:test(@class, 'k', 'i')]", '<p class="\u212a">1</p><p class="K">2</p><p>3</p>'),
        ("//p[re:test(@class, 'b$')]", '<p class="ab\n">1</p><p class="ab c">2</p>'),
        ('//p[re:test(@class, "it\'s")]', '<p class="it\'s">1</p><p class=its>2</p>'),
        ("//p[not(re:test(@class, 'a'))]", '<p class="a">1</p><p>2</p><p class="b">3</p>'),
    ],
)
def test_rewrites_keep_lxmls_semantics(path: str, html: str) -> None:
    page = lxml_html.document_fromstring(f"<html><body>{html}</body></html>")
    original = XPath(path, namespaces={"re": fastxpath.EXSLT_REGEXP})
    new = fastxpath.faster(original)
    assert new is not original
    assert [element.text for element in new(page)] == [element.text for element in original(page)]


@pytest.mark.parametrize(
    "path",
    [
        "//p[@title='re:test(@id, \"q\")']",  # inside a string literal
        "//p[re:test(@class, '(')]",  # a pattern Python cannot compile: lxml's error stays
        "//p[re:test(string(.), 'a')]",  # not attributes
        "//p[re:test(@class, concat('a', 'b'))]",  # not a literal pattern
        "//p[@class='a']",
    ],
)
def test_other_expressions_are_left_as_they_are(path: str) -> None:
    original = XPath(path, namespaces={"re": fastxpath.EXSLT_REGEXP})
    assert fastxpath.rewrite(path) == path
    assert fastxpath.faster(original) is original


def test_expressions_that_select_strings_keep_lxmls_strings() -> None:
    page = lxml_html.document_fromstring(
        '<html><body><a class="x" href="/one">1</a><a class="y" href="/two">2</a></body></html>'
    )
    path = "//a[re:test(@class, 'x')]/@href"
    values = fastxpath.faster(XPath(path, namespaces={"re": fastxpath.EXSLT_REGEXP}))(page)
    assert values == ["/one"]
    assert values[0].getparent().text == "1"
    assert not fastxpath.selects_elements("//a[re:test(@class, 'x')]/@href")
    assert not fastxpath.selects_elements("//p/text() | //div")
    assert not fastxpath.selects_elements("count(//p[@class='a|b'])")
    assert fastxpath.selects_elements("(.//article[@id='a|b'])[1] | .//div[p[@class]]")


def test_stock_puts_trafilaturas_expressions_back_and_then_the_faster_ones() -> None:
    from trafilatura import xpaths

    fastxpath.install()
    faster = [expression.path for expression in xpaths.BODY_XPATH]
    with speedups.stock(fastxpath):
        stock = [expression.path for expression in xpaths.BODY_XPATH]
        assert all("re:test(@" not in path for path in faster)
        assert any("re:test(@" in path for path in stock)
    assert [expression.path for expression in xpaths.BODY_XPATH] == faster


def test_installs_after_the_first_put_the_same_objects_back_in_the_same_places() -> None:
    from trafilatura import xpaths

    fastxpath.install()
    before = list(xpaths.BODY_XPATH)
    fastxpath.install()
    assert all(a is b for a, b in zip(xpaths.BODY_XPATH, before, strict=True))
    with speedups.stock(fastxpath):
        # trafilatura's own where it tests attributes, the very same object elsewhere.
        same = [a is b for a, b in zip(xpaths.BODY_XPATH, before, strict=True)]
        assert same == ["re:test(@" not in stock.path for stock in xpaths.BODY_XPATH]
        assert not all(same)
    assert all(a is b for a, b in zip(xpaths.BODY_XPATH, before, strict=True))


def test_a_pattern_that_cannot_match_nothing_is_not_tested_without_the_attributes() -> None:
    guarded = fastxpath.rewrite("//p[re:test(@id|@class, 'a')]")
    assert re.fullmatch(
        r"//p\[\(\(@id\|@class\) and archiver:test\(@id\|@class, \d+\)\)\]", guarded
    )
    assert re.fullmatch(
        r"//p\[archiver:test\(@class, \d+\)\]", fastxpath.rewrite("//p[re:test(@class, 'a?')]")
    )
    # Another prefix's test() is not EXSLT's.
    assert fastxpath.rewrite("//p[myre:test(@class, 'a')]") == "//p[myre:test(@class, 'a')]"


def _real_pages() -> list[tuple[bytes, str]]:
    pages = []
    for listing in sorted(shared_path("pages").glob("*/pages.jsonl")):
        rows = [json.loads(line) for line in listing.read_text("utf-8").split("\n") if line]
        pages += [
            (gzip.decompress((listing.parent / row["html"]).read_bytes()), row.get("url") or "")
            for row in rows[:PAGES_PER_SET]
        ]
    return pages


def test_same_elements_and_documents_as_stock_on_real_pages() -> None:
    pages = _real_pages()
    assert len(pages) >= 5 * (PAGES_PER_SET or 12)
    pairs = _pairs()
    selected = 0
    for body, _url in pages[::3]:
        tree = load_html(body)
        for original, new in pairs:
            expected = original(tree)
            assert new(tree) == expected, original.path
            selected += len(expected)
    assert selected > 0
    faster = [extract_page(body, url=url, content_type=None) for body, url in pages]
    with speedups.stock():
        stock = [extract_page(body, url=url, content_type=None) for body, url in pages]
    assert faster == stock
    assert sum(bool(document.paragraphs) for document in faster) > len(pages) / 2
