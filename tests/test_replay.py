"""Replay to Scrapy: spiders run against the archive, with the network out of reach."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Spider, signals
from scrapy.settings import Settings
from scrapy.utils.defer import deferred_f_from_coro_f
from scrapy.utils.test import get_crawler

from crawler.archive import url_key
from crawler.config import setting_problems
from crawler.index import CaptureRow, Index
from crawler.inputs import Seed
from crawler.items import Page, SeedOutcome
from crawler.layout import Layout
from crawler.replay import ArchiveLookup, _by_preference, parse_moment
from crawler.spiders.urls import UrlsSpider
from tests.conftest import archiver, index_rows, project_settings_dict, write_urls
from tests.server import GZIP_HTML, LocalSite, response
from tests.test_failures import closed_port
from tests.warc_reading import read_archive

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.crawler import Crawler
    from scrapy.http import Response


def article(title: str, words: str) -> bytes:
    paragraphs = "".join(
        f"<p>{words} This is paragraph {n} of an article that says enough to be kept as text, "
        "with sentences long enough for the extractor to take it for the main content.</p>"
        for n in range(6)
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><article><h1>{title}</h1>{paragraphs}</article></body></html>"
    ).encode()


def html(body: bytes) -> bytes:
    return response("200 OK", [("Content-Type", "text/html; charset=utf-8")], body)


@pytest.fixture
def own_site() -> Iterator[LocalSite]:
    """A server of this test's own: it is stopped before the replay."""
    site = LocalSite().start()
    site.add("/article", lambda h: html(article("An article", "Archived words.")))
    try:
        yield site
    finally:
        site.stop()


class Collect:
    """An item pipeline before the archiver's: keeps what the spider yields, in order."""

    def __init__(self, crawler: Crawler) -> None:
        self.items: list[Any] = crawler.collected  # type: ignore[attr-defined]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Collect:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        self.items.append(item)
        return item


async def crawl(
    out: Path, urls: Path, spidercls: type = UrlsSpider, **settings: Any
) -> tuple[Crawler, list[Any]]:
    """Run a crawl into ``out``; return the crawler and the items its spider yielded, in order."""
    values = project_settings_dict(ARCHIVER_DIR=str(out), **settings)
    values["ITEM_PIPELINES"] = {**values["ITEM_PIPELINES"], f"{__name__}.Collect": 100}
    crawler = get_crawler(spidercls, values)
    items: list[Any] = []
    crawler.collected = items  # type: ignore[attr-defined]
    await crawler.crawl_async(urls=str(urls))
    return crawler, items


def page_view(item: Page) -> tuple[Any, ...]:
    return (item.seed.url, item.url, item.status, item.headers, item.body, item.redirects)


def outcome_view(item: SeedOutcome) -> tuple[Any, ...]:
    assert isinstance(item.seed, Seed)
    return (item.seed.url, str(item.outcome), item.reason, item.url, item.http_status)


def seeds(archive_dir: Path, crawl_id: int) -> list[tuple[Any, ...]]:
    rows = index_rows(
        archive_dir,
        "SELECT position, url, outcome, reason, capture_id, final_url, text_path FROM seeds "
        "WHERE crawl_id = ? ORDER BY position",
        (crawl_id,),
    )
    return [tuple(row) for row in rows]


def texts(archive_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((archive_dir / "text").iterdir())}


def warc_files(archive_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((archive_dir / "warc").iterdir())}


@deferred_f_from_coro_f
async def test_a_replay_yields_the_live_items_with_no_network(
    own_site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/page"
    paths = ["/article", "/gzip", "/chunked", "/redirect/1", "/missing", "/cookies", "/page"]
    live_list = write_urls(tmp_path / "live.txt", *[own_site.url(p) for p in paths], dead)
    live, live_items = await crawl(archive_dir, live_list)
    assert live.stats.get_value("archiver/text/written") >= 3
    live_texts, live_warcs = texts(archive_dir), warc_files(archive_dir)
    live_captures = [tuple(row) for row in index_rows(archive_dir, "SELECT * FROM captures")]
    own_site.stop()
    seen = len(own_site.requests)

    never = own_site.url("/never-crawled")
    replay_list = write_urls(
        tmp_path / "replay.txt", *[own_site.url(p) for p in paths], dead, never
    )
    replay, replay_items = await crawl(archive_dir, replay_list, ARCHIVER_REPLAY=str(archive_dir))

    assert len(own_site.requests) == seen, "a replay must not reach the server"
    # Items come in the order downloads end; compare them by input URL.
    pages = sorted(page_view(i) for i in live_items if isinstance(i, Page))
    assert len(pages) == 6
    assert pages == sorted(page_view(i) for i in replay_items if isinstance(i, Page))
    outcomes = sorted(outcome_view(i) for i in live_items if isinstance(i, SeedOutcome))
    replayed = sorted(outcome_view(i) for i in replay_items if isinstance(i, SeedOutcome))
    assert replayed == sorted([*outcomes, (never, "not_in_archive", "not in archive", never, None)])
    # The 404 keeps its own reason phrase, the dead URL its stored failure.
    reasons = {url: reason for url, _, reason, *_ in outcomes}
    assert reasons[own_site.url("/missing")] == "HTTP 404 Not Here"
    assert reasons[dead].startswith("connection refused")
    # Every response flagged, headers as stored: two Set-Cookie stay two.
    cookies = next(i for i in replay_items if isinstance(i, Page) and i.url.endswith("/cookies"))
    assert [v for k, v in cookies.headers if k == b"Set-Cookie"] == [
        b"first=1; Path=/",
        b"second=2; Path=/; HttpOnly",
    ]

    # The same seeds rows, pointing at the same capture rows; the same text files.
    # (a URL fetched twice in the live crawl replays its later capture: compare without ids)
    assert [s[:4] + s[5:] for s in seeds(archive_dir, 2)[:-1]] == [
        s[:4] + s[5:] for s in seeds(archive_dir, 1)
    ]
    assert not index_rows(archive_dir, "SELECT id FROM captures WHERE crawl_id = 2")
    # The live crawl's rows keep what it recorded: a replay into the folder changes none.
    assert [tuple(r) for r in index_rows(archive_dir, "SELECT * FROM captures")] == live_captures
    with_outcome = "SELECT COUNT(*) AS n FROM captures WHERE text_outcome IS NOT NULL"
    kept = index_rows(archive_dir, with_outcome)[0]["n"]
    assert replay.stats.get_value("archiver/replay/rows_kept") == kept
    assert seeds(archive_dir, 2)[-1][2:4] == ("not_in_archive", "not in archive")
    assert texts(archive_dir) == live_texts
    failures = index_rows(archive_dir, "SELECT url, outcome FROM failures WHERE crawl_id = 2")
    assert (never, "not_in_archive") in [tuple(row) for row in failures]

    stats = replay.stats.get_stats()
    assert stats["archiver/replay/missing"] == 1
    assert stats["archiver/replay/served"] >= 9  # robots.txt, pages, each redirect hop
    assert stats["archiver/seeds/not_in_archive"] == 1
    assert "archiver/warc/responses" not in stats and "archiver/warc/conversions" not in stats
    assert "retry/count" not in stats

    # Nothing fetched is written again: the old files are untouched, and whatever the
    # replay crawl wrote holds no exchange, failure or conversion record.
    now = warc_files(archive_dir)
    assert {name: now[name] for name in live_warcs} == live_warcs
    new = [r for r in read_archive(archive_dir) if Path(r.file).name not in live_warcs]
    assert all(r.type in ("warcinfo", "metadata") for r in new), {r.type for r in new}
    assert all((r.url or "urn:").startswith("urn:") for r in new if r.type == "metadata")


class TinySpider(Spider):
    """A spider of someone else's: no Page items, no seeds, just the responses."""

    name = "tiny"

    def __init__(self, urls: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = urls.split()

    def parse(self, response: Response) -> Iterator[dict[str, Any]]:
        yield {
            "url": response.url,
            "status": response.status,
            "body": response.body,
            "flags": response.flags,
            "redirects": response.meta.get("redirect_urls", []),
        }


@deferred_f_from_coro_f
async def test_any_spider_replays_from_the_archive_into_another_folder(
    own_site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    urls = [own_site.url("/gzip"), own_site.url("/redirect/1")]
    await crawl(archive_dir, write_urls(tmp_path / "urls.txt", *urls))
    own_site.stop()
    out = tmp_path / "out"
    crawler = get_crawler(
        TinySpider,
        project_settings_dict(ARCHIVER_DIR=str(out), ARCHIVER_REPLAY=str(archive_dir)),
    )
    items: list[dict[str, Any]] = []
    crawler.signals.connect(
        lambda item, **kw: items.append(item), signal=signals.item_scraped, weak=False
    )
    await crawler.crawl_async(urls=" ".join(urls))
    by_url = {item["url"]: item for item in items}
    assert by_url[own_site.url("/gzip")]["body"] == GZIP_HTML  # decompressed, as live
    assert by_url[own_site.url("/page")]["redirects"] == [
        own_site.url("/redirect/1"),
        own_site.url("/redirect/2"),
    ]
    assert all("replayed" in item["flags"] for item in items)
    # The other folder's index points at the source WARC files; it has no WARC of its own.
    rows = index_rows(out, "SELECT url, warc_file FROM captures")
    assert rows and all(Path(row["warc_file"]).is_absolute() for row in rows)
    assert all(Path(row["warc_file"]).parent == (archive_dir / "warc").resolve() for row in rows)
    assert not any(r.type in ("request", "response") for r in read_archive(out))


@deferred_f_from_coro_f
async def test_at_picks_the_closest_capture(
    own_site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    version = {"text": "The first version."}
    url = own_site.add("/changing", lambda h: html(article("Changing", version["text"])))
    urls = write_urls(tmp_path / "urls.txt", url)
    await crawl(archive_dir, urls)
    version["text"] = "The second version."
    await crawl(archive_dir, urls)
    own_site.stop()
    captures = index_rows(
        archive_dir, "SELECT id, fetched_at FROM captures WHERE url = ? ORDER BY id", (url,)
    )
    first, second = (row["fetched_at"] for row in captures)
    got = {}
    for name, at in (("first", first), ("second", second)):
        out = tmp_path / name
        _, items = await crawl(out, urls, ARCHIVER_REPLAY=str(archive_dir), ARCHIVER_REPLAY_AT=at)
        (page,) = [i for i in items if isinstance(i, Page)]
        got[name] = page.body
    assert b"The first version." in got["first"]
    assert b"The second version." in got["second"]

    # The command line: --at a 14-digit timestamp, output into the replayed folder itself.
    done = archiver("crawl", str(urls), "--replay", str(archive_dir), "--at", "20000101000000")
    assert done.returncode == 0, done.stderr
    (text,) = (archive_dir / "text").iterdir()
    assert "The first version." in text.read_text(encoding="utf-8")
    (row,) = index_rows(archive_dir, "SELECT outcome, capture_id FROM seeds WHERE crawl_id = 3")
    assert row["outcome"] == "archived" and row["capture_id"] == captures[0]["id"]
    bad = archiver("crawl", str(urls), "--replay", str(archive_dir), "--at", "last tuesday")
    assert bad.returncode == 2 and "ARCHIVER_REPLAY_AT" in bad.stderr


def test_a_replay_needs_an_indexed_archive(tmp_path: Path) -> None:
    (tmp_path / "bare" / "warc").mkdir(parents=True)
    (tmp_path / "bare" / "warc" / "x.warc.gz").write_bytes(b"")

    def problems(**values: str) -> str:
        return "; ".join(setting_problems(Settings(project_settings_dict(**values))))

    assert "run `archiver reindex" in problems(ARCHIVER_REPLAY=str(tmp_path / "bare"))
    assert "not a folder" in problems(ARCHIVER_REPLAY=str(tmp_path / "none"))
    assert "needs ARCHIVER_REPLAY" in problems(ARCHIVER_REPLAY_AT="2026-01-01")
    assert problems() == ""
    # A damaged index is a usage error before the crawl, not a failure per request.
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "index.sqlite").write_bytes(b"not a database" * 100)
    assert "its index cannot be read" in problems(ARCHIVER_REPLAY=str(tmp_path / "broken"))


def test_moments() -> None:
    assert parse_moment("2026-11-27") == datetime(2026, 11, 27, tzinfo=UTC)
    assert parse_moment("20261127210417") == datetime(2026, 11, 27, 21, 4, 17, tzinfo=UTC)
    assert parse_moment("2026-11-27T21:04:17") == datetime(2026, 11, 27, 21, 4, 17, tzinfo=UTC)
    assert parse_moment("2026-11-27T23:04:17+02:00") == datetime(
        2026, 11, 27, 21, 4, 17, tzinfo=UTC
    )
    for bad in ("yesterday", "2026-13-01", "202611272104"):
        with pytest.raises(ValueError, match="not a moment"):
            parse_moment(bad)


def test_ties_go_to_the_earlier_capture() -> None:
    noon = datetime(2026, 1, 1, 12, tzinfo=UTC)
    captures = [
        (noon - timedelta(hours=1), CaptureRow("u", "k", "a", "response", "f", 0, 1, "early")),
        (noon + timedelta(hours=1), CaptureRow("u", "k", "b", "response", "f", 0, 1, "late")),
    ]

    def first(at: datetime | None) -> str:
        return next(_by_preference(captures, at))[1].record_id

    assert first(noon) == "early"
    assert first(noon + timedelta(minutes=1)) == "late"
    assert first(None) == "late"


def warc_record(fields: list[tuple[str, str]], block: bytes) -> bytes:
    """One record as a gzip member, written by hand as other tools write them."""
    head = "".join(f"{name}: {value}\r\n" for name, value in fields)
    text = f"WARC/1.1\r\n{head}Content-Length: {len(block)}\r\n\r\n".encode()
    return gzip.compress(text + block + b"\r\n\r\n")


def test_revisits_replay_their_original(tmp_path: Path) -> None:
    """A revisit (as other tools write them) answers with its own head and the original body."""
    url, body = "http://example.com/a", b"<html><body>the original</body></html>"
    dates = ["2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z"]
    ids = [f"<urn:uuid:00000000-0000-0000-0000-00000000000{n}>" for n in range(3)]
    heads = [
        f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Seen: {seen}\r\n\r\n".encode()
        for seen in ("first", "again 1", "again 2")
    ]
    common = [("WARC-Target-URI", url), ("Content-Type", "application/http; msgtype=response")]
    revisit = [
        ("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"),
        ("WARC-Refers-To-Target-URI", url),
        ("WARC-Refers-To-Date", dates[0]),
    ]
    records = [
        ("response", [], heads[0] + body),
        ("revisit", [*revisit, ("WARC-Refers-To", ids[0])], heads[1]),  # found by id
        ("revisit", revisit, heads[2]),  # found by target URI and date only
    ]
    layout = Layout(tmp_path)
    layout.warc_dir.mkdir(parents=True)
    path = layout.warc_dir / "other.warc.gz"
    index = Index(layout.index)
    with path.open("wb") as stream:
        for n, (kind, fields, block) in enumerate(records):
            start = stream.tell()
            own = [("WARC-Type", kind), ("WARC-Record-ID", ids[n]), ("WARC-Date", dates[n])]
            stream.write(warc_record([*own, *common, *fields], block))
            row = CaptureRow(url, url_key(url), dates[n], kind, path.name, start, 1, ids[n])
            index.add_capture(1, row)
    index.close()

    lookup = ArchiveLookup(tmp_path)
    try:
        for n in range(3):
            found = lookup.find(url, parse_moment(dates[n]))
            assert found is not None and found.record.record_id == ids[n]
            assert (found.head, found.body) == (heads[n], body)
        latest = lookup.find(url)
        assert latest is not None and latest.record.record_id == ids[2]
        assert lookup.find("http://example.com/b") is None
    finally:
        lookup.close()


def test_an_unreadable_capture_gives_way_to_the_next_closest(tmp_path: Path) -> None:
    """As in pywb: a revisit whose original is not in the archive yields to an older capture."""
    url, body = "http://example.com/a", b"<html><body>kept</body></html>"
    dates = ["2020-01-01T00:00:00Z", "2022-01-01T00:00:00Z"]
    ids = [f"<urn:uuid:00000000-0000-0000-0000-00000000001{n}>" for n in range(2)]
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    common = [("WARC-Target-URI", url), ("Content-Type", "application/http; msgtype=response")]
    orphan = [
        ("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"),
        ("WARC-Refers-To", "<urn:uuid:not-in-this-archive>"),
    ]
    records = [("response", [], head + body), ("revisit", orphan, head)]
    layout = Layout(tmp_path)
    layout.warc_dir.mkdir(parents=True)
    path = layout.warc_dir / "other.warc.gz"
    index = Index(layout.index)
    with path.open("wb") as stream:
        for n, (kind, fields, block) in enumerate(records):
            start = stream.tell()
            own = [("WARC-Type", kind), ("WARC-Record-ID", ids[n]), ("WARC-Date", dates[n])]
            stream.write(warc_record([*own, *common, *fields], block))
            index.add_capture(
                1, CaptureRow(url, url_key(url), dates[n], kind, path.name, start, 1, ids[n])
            )
    index.close()
    lookup = ArchiveLookup(tmp_path)
    try:
        found = lookup.find(url)  # the latest is the orphan revisit
        assert found is not None and found.record.record_id == ids[0]
        assert found.body == body
    finally:
        lookup.close()
