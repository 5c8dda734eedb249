"""Scrapy's feed exports of a crawl: one flat item per input entry, every column in every row."""

from __future__ import annotations

import csv
import json
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_f_from_coro_f
from warcio.archiveiterator import ArchiveIterator

from crawler.items import EntryItem, Page
from tests.conftest import (
    FAST,
    archiver,
    project_settings_dict,
    run_crawl,
    run_module,
    write_urls,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.server import LocalSite

COLUMNS = [field.name for field in fields(EntryItem)]


def entries(site: LocalSite, path: Path) -> Path:
    """A list with one entry of each kind: pages, a 404, robots-forbidden, invalid, duplicate."""
    return write_urls(
        path,
        "# a comment: not an entry",
        site.url("/page"),
        site.url("/gzip"),
        site.url("/missing"),
        site.url("/private/secret"),
        "not a url at all",
        site.url("/page"),
    )


def read_feed(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if path.suffix == ".json":
        data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        return data
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS  # every column, in order, from the first row on
        return list(reader)


def record_at(archive: Path, warc_file: str, offset: int) -> Any:
    with (archive / "warc" / warc_file).open("rb") as handle:
        handle.seek(offset)
        return next(iter(ArchiveIterator(handle)))


def check_items(items: list[dict[str, Any]], site: LocalSite, archive: Path) -> None:
    # One item per entry (the comment is none), each with every column.
    assert len(items) == 6
    assert all(list(item) == COLUMNS for item in items)
    by = {(item["url"], item["outcome"]): item for item in items}
    page = by[(site.url("/page"), "archived")]
    assert str(page["status"]) == "200"
    assert page["title"] and page["text_path"].startswith("text/")
    assert (archive / page["text_path"]).is_file()
    assert page["change"] == "new" and page["fetched_at"]
    record = record_at(archive, page["warc_file"], int(page["warc_offset"]))
    assert record.rec_type == "response"
    assert record.rec_headers.get_header("WARC-Target-URI") == site.url("/page")
    missing = by[(site.url("/missing"), "failed")]
    assert str(missing["status"]) == "404" and missing["reason"].startswith("HTTP 404")
    assert by[(site.url("/private/secret"), "forbidden")]["reason"]
    assert by[("not a url at all", "invalid")]["reason"]
    assert by[(site.url("/page"), "duplicate")]["reason"].startswith("duplicate of line")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".json"])
def test_items_of_archiver_crawl_hold_every_entry(
    site: LocalSite, tmp_path: Path, suffix: str
) -> None:
    feed = tmp_path / f"items{suffix}"
    archive = tmp_path / "archives"
    urls = entries(site, tmp_path / "urls.txt")
    run = archiver("crawl", str(urls), "-o", str(archive), "--items", str(feed), *FAST)
    assert run.returncode == 3, run.stderr  # the 404, the forbidden and the invalid entry
    check_items(read_feed(feed), site, archive)


def test_scrapy_crawl_feeds_hold_every_entry(site: LocalSite, tmp_path: Path) -> None:
    feed = tmp_path / "items.jsonl"
    archive = tmp_path / "archives"
    urls = entries(site, tmp_path / "urls.txt")
    run = run_module(
        "scrapy",
        "crawl",
        "urls",
        "-a",
        f"urls={urls}",
        "-O",
        str(feed),
        "-s",
        f"ARCHIVER_DIR={archive}",
        *FAST,
        env={"SCRAPY_SETTINGS_MODULE": "crawler.settings"},
    )
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    check_items(read_feed(feed), site, archive)


class DropPages:
    """A user's pipeline that drops every page before the archiver's pipelines see it."""

    def process_item(self, item: Any) -> Any:
        if isinstance(item, Page):
            raise DropItem("not wanted here")
        return item


@deferred_f_from_coro_f
async def test_dropped_entries_are_in_the_feed_too(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    feed = tmp_path / "items.jsonl"
    urls = write_urls(tmp_path / "urls.txt", site.url("/page"), site.url("/missing"))
    settings = {
        "FEEDS": {str(feed): {"format": "jsonlines"}},
        "ITEM_PIPELINES": {
            f"{__name__}.DropPages": 100,
            **project_settings_dict()["ITEM_PIPELINES"],
        },
    }
    await run_crawl(archive_dir, urls, **settings)
    items = {item["url"]: item for item in read_feed(feed)}
    assert items[site.url("/page")]["outcome"] == "dropped"
    assert items[site.url("/page")]["reason"] == "dropped by an item pipeline: not wanted here"
    assert items[site.url("/missing")]["outcome"] == "failed"
