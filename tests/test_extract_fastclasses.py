"""trafilatura's parser with lxml.html's element classes looked up in C: the same classes."""

from __future__ import annotations

import gc

from lxml import etree
from lxml import html as lxml_html
from trafilatura.utils import load_html

from crawler.extract import fastclasses, speedups

PAGE = (
    "<!DOCTYPE html><html><head><title>T</title><?php echo 1 ?></head><body>"
    "<!-- a comment --><form action='/f'><label>Name <input name='n' value='v'></label>"
    "<select name='s'><option>1</option></select><textarea name='t'>x</textarea></form>"
    "<FORM><INPUT name='upper'></FORM><p>Text &amp; more<svg><path d='M0'/></svg></p>"
    "<my-element>custom</my-element></body></html>"
)


def _classes(parser: etree.HTMLParser) -> list[tuple[str, type]]:
    root = etree.fromstring(PAGE, parser)
    return [(str(node.tag), type(node)) for node in root.iter()]


def test_the_c_lookup_chooses_lxml_htmls_classes() -> None:
    stock = _classes(lxml_html.HTMLParser())
    parser = etree.HTMLParser()
    parser.set_element_class_lookup(fastclasses.element_classes())
    assert _classes(parser) == stock
    kinds = {cls for _tag, cls in stock}
    # The comparison reaches every kind of node the lookup tells apart.
    assert {lxml_html.FormElement, lxml_html.InputElement, lxml_html.SelectElement} <= kinds
    assert {lxml_html.TextareaElement, lxml_html.LabelElement, lxml_html.HtmlElement} <= kinds
    assert lxml_html.HtmlComment in kinds


def _renamed_form() -> type:
    """The class of an element renamed FORM: the one case the two lookups tell apart."""
    tree = load_html("<html><body><div><p>x</p><p>y</p></div></body></html>")
    tree.find(".//p").tag = "FORM"
    gc.collect()  # no proxy of the element left: the next one is looked up anew
    return type(tree.find(".//FORM"))


def test_install_gives_trafilaturas_parser_the_c_lookup_and_stock_gives_lxmls_back() -> None:
    fastclasses.install()
    faster = [type(node) for node in load_html(PAGE).iter()]
    assert _renamed_form() is lxml_html.HtmlElement
    with speedups.stock(fastclasses):
        stock = [type(node) for node in load_html(PAGE).iter()]
        assert _renamed_form() is lxml_html.FormElement
    assert _renamed_form() is lxml_html.HtmlElement
    assert faster == stock
    assert lxml_html.InputElement in faster
