"""Redirects from a public address into private space are refused; private ones still work.

Every server a test can run is on loopback, so the public side cannot be a real
server: the middleware is driven with real Scrapy requests and responses whose
``ip_address`` is set, through Scrapy's own redirect middleware.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING

import pytest
from scrapy import Request, signals
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware, RedirectMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import HtmlResponse, Response
from scrapy.utils.defer import deferred_f_from_coro_f
from scrapy.utils.test import get_crawler

from crawler.downloadermiddlewares.redirectguard import (
    STATS,
    RedirectGuardMiddleware,
    is_public,
    refusal,
)
from crawler.failures import describe
from crawler.spiders.urls import UrlsSpider
from tests.conftest import index_rows, project_settings_dict, run_crawl, write_urls

if TYPE_CHECKING:
    from pathlib import Path

    from scrapy.crawler import Crawler

    from tests.server import LocalSite

PUBLIC = IPv4Address("93.184.216.34")


@pytest.fixture
def crawler(tmp_path: Path) -> Crawler:
    crawler = get_crawler(UrlsSpider, project_settings_dict(ARCHIVER_DIR=str(tmp_path)))
    crawler.spider = crawler._create_spider(urls=str(tmp_path / "none.txt"))
    return crawler


@pytest.fixture
def guard(crawler: Crawler) -> RedirectGuardMiddleware:
    return RedirectGuardMiddleware.from_crawler(crawler)


def redirected(
    crawler: Crawler, url: str, location: str, source: IPv4Address | IPv6Address | None
) -> Request:
    """The request Scrapy's redirect middleware makes of a 302 from ``url`` at ``source``."""
    request = Request(url)
    response = Response(
        url, status=302, headers={"Location": location}, request=request, ip_address=source
    )
    # As downloaded: the signal every download sends, then the redirect middleware.
    crawler.signals.send_catch_log(
        signals.response_downloaded, response=response, request=request, spider=crawler.spider
    )
    follow = RedirectMiddleware.from_crawler(crawler).process_response(request, response)
    assert isinstance(follow, Request) and follow.url == location
    return follow


@deferred_f_from_coro_f
async def test_a_public_page_redirecting_to_a_private_address_is_refused(
    crawler: Crawler, guard: RedirectGuardMiddleware
) -> None:
    follow = redirected(crawler, "http://news.example/a", "http://10.0.0.1/admin", PUBLIC)
    with pytest.raises(IgnoreRequest) as refused:
        await guard.process_request(follow)
    assert describe(refused.value) == (
        "redirect from a public address to a private one (10.0.0.1) refused; "
        "set ARCHIVER_REDIRECT_TO_PRIVATE to follow"
    )
    assert crawler.stats.get_value(STATS) == 1


@deferred_f_from_coro_f
async def test_the_targets_resolved_address_counts_not_its_name(
    crawler: Crawler, guard: RedirectGuardMiddleware
) -> None:
    # "localhost" is a name: only its resolved address (loopback) shows where it leads.
    follow = redirected(crawler, "http://news.example/a", "http://localhost:8080/", PUBLIC)
    with pytest.raises(IgnoreRequest, match="to a private one"):
        await guard.process_request(follow)


@deferred_f_from_coro_f
async def test_a_meta_refresh_into_private_space_is_refused(
    crawler: Crawler, guard: RedirectGuardMiddleware
) -> None:
    url = "http://news.example/a"
    request = Request(url)
    body = (
        b'<html><head><meta http-equiv="refresh" content="0;url=http://192.168.1.1/"></head></html>'
    )
    response = HtmlResponse(url, body=body, request=request, ip_address=PUBLIC)
    crawler.signals.send_catch_log(
        signals.response_downloaded, response=response, request=request, spider=crawler.spider
    )
    follow = MetaRefreshMiddleware.from_crawler(crawler).process_response(request, response)
    assert isinstance(follow, Request)
    with pytest.raises(IgnoreRequest, match=r"\(192\.168\.1\.1\)"):
        await guard.process_request(follow)


@pytest.mark.parametrize(
    ("source", "location"),
    [
        (PUBLIC, "http://93.184.216.35/elsewhere"),  # public to public
        (IPv4Address("127.0.0.1"), "http://10.0.0.1/"),  # within private space
        (IPv6Address("::1"), "http://[::1]:8080/"),
        (None, "http://10.0.0.1/"),  # the source address is unknown
    ],
    ids=["public-public", "private-private", "ipv6-loopback", "unknown-source"],
)
@deferred_f_from_coro_f
async def test_other_redirects_are_followed(
    crawler: Crawler,
    guard: RedirectGuardMiddleware,
    source: IPv4Address | IPv6Address | None,
    location: str,
) -> None:
    follow = redirected(crawler, "http://news.example/a", location, source)
    assert await guard.process_request(follow) is None


@deferred_f_from_coro_f
async def test_an_input_url_on_a_private_address_is_fetched(
    guard: RedirectGuardMiddleware,
) -> None:
    assert await guard.process_request(Request("http://10.0.0.1/")) is None


def test_the_setting_turns_the_guard_off(tmp_path: Path) -> None:
    settings = project_settings_dict(ARCHIVER_DIR=str(tmp_path), ARCHIVER_REDIRECT_TO_PRIVATE=True)
    with pytest.raises(NotConfigured, match="ARCHIVER_REDIRECT_TO_PRIVATE"):
        RedirectGuardMiddleware(get_crawler(UrlsSpider, settings))


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1", True),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),  # cloud metadata, link-local
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),  # multicast
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),  # IPv4-mapped
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ip_address(address)) is public


def test_refusal_names_the_address_and_the_setting() -> None:
    assert refusal(IPv4Address("10.0.0.1")) == (
        "redirect from a public address to a private one (10.0.0.1) refused; "
        "set ARCHIVER_REDIRECT_TO_PRIVATE to follow"
    )


@deferred_f_from_coro_f
async def test_redirects_between_private_addresses_are_crawled(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    seed = site.url("/redirect/1")
    crawler = await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", seed))
    (row,) = index_rows(archive_dir, "SELECT outcome, final_url FROM seeds")
    assert (row["outcome"], row["final_url"]) == ("archived", site.url("/page"))
    assert crawler.stats.get_value(STATS) is None
