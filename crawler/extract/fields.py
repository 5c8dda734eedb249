"""trafilatura's metadata steps for the fields a corpus document keeps, and no others.

``trafilatura.metadata.extract_metadata`` also reads categories, tags and the
license (about a tenth of its time on news pages), which the corpus format
drops. :func:`corpus_metadata` runs its other steps, with trafilatura's own
functions, in its order, so that title, author, URL, date and site name are
the ones it gives; ``tests/test_extract_metadata.py`` checks that they are.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from htmldate import find_date
from trafilatura.metadata import (
    META_URL,
    examine_meta,
    extract_author,
    extract_domain,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)

if TYPE_CHECKING:
    from lxml.html import HtmlElement
    from trafilatura.settings import Document

logger = logging.getLogger(__name__)


def corpus_metadata(tree: HtmlElement, url: str | None, date_params: dict[str, Any]) -> Document:
    """Title, author, URL, host, date and site name of the page ``tree``, as trafilatura reads them.

    ``date_params`` are htmldate's options (``extensive_search``, ``max_date``...);
    the URL that htmldate reads dates from is added here, as trafilatura does.
    """
    metadata = examine_meta(tree)
    if metadata.author and " " not in metadata.author:
        metadata.author = None
    try:
        metadata = extract_meta_json(tree, metadata)
    except Exception as exc:  # trafilatura's JSON-LD reading fails on some pages
        logger.debug("JSON-LD metadata not read: %s", exc)
    if not metadata.title:
        metadata.title = extract_title(tree)
    if not metadata.author:
        metadata.author = extract_author(tree)
    if not metadata.url:
        metadata.url = extract_url(tree, url)
    if metadata.url:
        metadata.hostname = extract_domain(metadata.url, fast=True)
    metadata.date = find_date(tree, **{**date_params, "url": metadata.url})
    if not metadata.sitename:
        metadata.sitename = extract_sitename(tree)
    if metadata.sitename:
        name = metadata.sitename.lstrip("@")
        if name and "." not in name and not name[0].isupper():
            name = name.title()
        metadata.sitename = name
    elif metadata.url and (match := META_URL.match(metadata.url)):
        metadata.sitename = match[1]
    metadata.filedate = date_params.get("max_date")
    metadata.clean_and_trim()
    return metadata
