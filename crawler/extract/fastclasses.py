"""lxml.html's element classes for trafilatura's parser, looked up in C.

lxml gives each element it hands to Python the class its parser's lookup
chooses. lxml.html's lookup is a Python method, called for every element that
trafilatura, htmldate and the title checks touch: thousands a page, about a
fortieth of a page's extraction time. :func:`install` gives trafilatura's HTML
parser lxml's C lookups, set up to choose the same classes: the form classes
(``FormElement``, ``InputElement``...) by tag name, ``HtmlElement`` for every
other element, and lxml.html's comment, processing-instruction and entity classes.

Limit: lxml.html matches tag names in any case and namespace, the C lookup in
lowercase and without a namespace only, as the HTML parser makes them; an element
that code renames or creates as ``FORM`` would be an ``HtmlElement``, which
nothing in extraction tells apart (none of it uses the form classes' methods).
"""

from __future__ import annotations

from lxml import etree
from lxml import html as lxml_html


def element_classes() -> etree.ElementNamespaceClassLookup:
    """A C lookup that chooses lxml.html's classes for elements of parsed HTML."""
    default = etree.ElementDefaultClassLookup(
        element=lxml_html.HtmlElement,
        comment=lxml_html.HtmlComment,
        pi=lxml_html.HtmlProcessingInstruction,
        entity=lxml_html.HtmlEntity,
    )
    lookup = etree.ElementNamespaceClassLookup(default)
    by_name = lookup.get_namespace(None)
    # lxml.html's own table of classes by tag name (form, input, select, textarea, label).
    for name, cls in lxml_html.HtmlElementClassLookup._default_element_classes.items():
        by_name[name] = cls
    return lookup


def _parser() -> etree.HTMLParser:
    from trafilatura import utils

    parser: etree.HTMLParser = utils.HTML_PARSER
    return parser


# Whether the C lookup is in place (lxml gives no way to read a parser's lookup back).
_state = {"installed": False}
_LOOKUPS = {"c": element_classes(), "stock": lxml_html.HtmlElementClassLookup()}


def install() -> None:
    """Give trafilatura's HTML parser the C lookup."""
    _parser().set_element_class_lookup(_LOOKUPS["c"])
    _state["installed"] = True


def uninstall() -> None:
    """Give trafilatura's HTML parser lxml.html's own lookup back."""
    _parser().set_element_class_lookup(_LOOKUPS["stock"])
    _state["installed"] = False


def installed() -> bool:
    """Whether the C lookup is in place."""
    return _state["installed"]
