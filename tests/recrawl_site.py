"""Routes of a site that is crawled again and again: validators, tokens, changing text.

- ``/etag``: an ``ETag``; answers ``304`` to a matching ``If-None-Match``;
- ``/modified``: a ``Last-Modified``; answers ``304`` to that ``If-Modified-Since``;
- ``/token``: no validators, a new token in an HTML comment on every fetch (same text);
- ``/article``: no validators, its text changes when the test bumps ``version``;
- ``/static``: no validators, the same bytes every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING

from tests.server import response

if TYPE_CHECKING:
    from tests.server import Handler, LocalSite

ETAG = '"v1-etag"'
LAST_MODIFIED = "Sun, 29 Nov 2026 10:00:00 GMT"
HTML = [("Content-Type", "text/html; charset=utf-8")]
PATHS = ("/etag", "/modified", "/token", "/article", "/static")
#: Page weight that is not text (a script, as real pages have): what a revisit saves.
PADDING = random.Random(7).randbytes(6000).hex()


def article(title: str, paragraphs: list[str], comment: str = "") -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><script>var pad = '{PADDING}';</script></head>"
        f"<body>{comment}<article><h1>{title}</h1>"
        f"{body}</article></body></html>"
    ).encode()


def paragraphs(topic: str, extra: str = "") -> list[str]:
    return [
        f"The {topic} page tells a story that is long enough for extraction to keep it "
        "as the main text of the document, with several sentences in each paragraph.",
        f"A second paragraph about the {topic} adds more words, so that the extractor "
        "sees a real article rather than a navigation fragment or a short notice.",
        f"The third paragraph closes the {topic} story. {extra}".strip(),
    ]


@dataclass
class RecrawlRoutes:
    """The routes' state: the article's version, the tokens handed out."""

    version: int = 1

    def __post_init__(self) -> None:
        self._tokens = count(1)

    def install(self, site: LocalSite) -> dict[str, str]:
        """Add the routes to ``site``; their URLs by path."""
        site.add("/etag", self.etag)
        site.add("/modified", self.modified)
        site.add("/token", self.token)
        site.add("/article", self.article)
        site.add("/static", self.static)
        return {path: site.url(path) for path in PATHS}

    def etag(self, handler: Handler) -> bytes:
        if handler.headers.get("If-None-Match") == ETAG:
            return response("304 Not Modified", [("ETag", ETAG)], b"")
        body = article("Tagged page", paragraphs("tagged"))
        return response("200 OK", [*HTML, ("ETag", ETAG)], body)

    def modified(self, handler: Handler) -> bytes:
        if handler.headers.get("If-Modified-Since") == LAST_MODIFIED:
            return response("304 Not Modified", [("Last-Modified", LAST_MODIFIED)], b"")
        body = article("Dated page", paragraphs("dated"))
        return response("200 OK", [*HTML, ("Last-Modified", LAST_MODIFIED)], body)

    def token(self, handler: Handler) -> bytes:
        comment = f"<!-- token {next(self._tokens)} -->"
        return response("200 OK", HTML, article("Token page", paragraphs("token"), comment))

    def article(self, handler: Handler) -> bytes:
        extra = f"This is revision number {self.version} of the article."
        body = article(f"Article revision {self.version}", paragraphs("article", extra))
        return response("200 OK", HTML, body)

    def static(self, handler: Handler) -> bytes:
        return response("200 OK", HTML, article("Static page", paragraphs("static")))
