"""Scrapy's robots.txt middleware, with every waiting request getting the parser.

In Scrapy 2.19, requests that arrive while a host's robots.txt is still being
downloaded all wait on one Deferred; the first waiter's callback returns None,
so every later waiter gets None and is let through unchecked. On a crawl that
opens with many URLs of one host, most of them would ignore robots.txt. Here
each waiter waits on a branch of its own that passes the parser along.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxtMiddleware
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.robotstxt import RobotParser


class RobotsTxtMiddleware(ScrapyRobotsTxtMiddleware):
    async def robot_parser(self, request: Request) -> RobotParser | None:
        pending = self._parsers.get(urlparse_cached(request).netloc)
        if not isinstance(pending, Deferred):
            return await super().robot_parser(request)
        branch: Deferred[RobotParser | None] = Deferred()

        def relay(parser: RobotParser | None) -> RobotParser | None:
            branch.callback(parser)
            return parser

        pending.addCallback(relay)
        return await maybe_deferred_to_future(branch)
