"""``archiver merge``: one archive of the archive folders of many workers.

Two worker-like crawls split one URL list of the local site between them (each
a real crawl into a folder of its own, with its own WARC prefix, run at the
same time as workers are), one URL crawled by both; a single crawl of the whole
list is the reference. The merged folder must verify clean, hold every fetch
once, keep one seed row per input position, give the single crawl's corpus,
take a recrawl and a replay, and stay the same when merged again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f

from crawler.merge import (
    CrawlSpan,
    MergeError,
    SeedClaim,
    check_folders,
    crawl_key,
    latest_claim,
    merge,
    merge_numbering,
    runs_of,
)
from crawler.reindex import FoundCrawl
from crawler.spiders.urls import UrlsSpider
from crawler.warc.verify import verify_paths
from tests.conftest import archiver, index_rows, run_crawl, write_urls
from tests.server import LocalSite
from tests.test_reindex import dump

PATHS = ["/page", "/gzip", "/chunked", "/cookies", "/old", "/missing"]
#: Positions of the list each worker crawls: position 2 (/chunked) by both.
SHARES = ({0, 1, 2, 6}, {2, 3, 4, 5, 7})


class ShareSpider(UrlsSpider):
    """A worker's share of the list: the other positions are skipped as if done."""

    share: ClassVar[set[int]] = set()

    def _done_before(self) -> set[int] | None:
        return set(range(len(PATHS) + 2)) - self.share


def share_of(positions: set[int]) -> type[ShareSpider]:
    return type("Worker", (ShareSpider,), {"share": positions})


def url_list(tmp_path: Path, site: LocalSite) -> Path:
    # Positions 0-5 the pages, 6 an invalid line, 7 a duplicate of position 0.
    return write_urls(
        tmp_path / "urls.txt", *[site.url(p) for p in PATHS], "not a url", site.url("/page")
    )


def texts(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "text").glob("*.txt"))}


def response_counts(folder: Path) -> dict[str, int]:
    rows = index_rows(
        folder,
        "SELECT url, COUNT(*) AS n FROM captures WHERE record_type = 'response' GROUP BY url",
    )
    return {row["url"]: row["n"] for row in rows}


async def crawl_workers(tmp_path: Path, listing: Path) -> list[Path]:
    """The workers' folders, crawled at the same time, as workers of one list run."""
    folders = [tmp_path / f"w{n}" for n in range(1, len(SHARES) + 1)]
    await asyncio.gather(
        *(
            run_crawl(
                folder,
                listing,
                share_of(share),
                ARCHIVER_RESUME=True,
                ARCHIVER_WARC_PREFIX=f"archiver-{folder.name}",
            )
            for folder, share in zip(folders, SHARES, strict=True)
        )
    )
    return folders


@deferred_f_from_coro_f
async def test_a_merge_of_workers_is_the_archive_of_one_crawl(
    tmp_path: Path, site: LocalSite
) -> None:
    listing = url_list(tmp_path, site)
    single = tmp_path / "single"
    await run_crawl(single, listing)
    workers = await crawl_workers(tmp_path, listing)
    # Text files of a worker are not needed: the merge makes them from the WARC files.
    shutil.rmtree(workers[1] / "text")
    merged = tmp_path / "merged"

    result = archiver("merge", *map(str, workers), "-o", str(merged))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 superseded" in result.stdout
    verified = archiver("verify", "-o", str(merged))
    assert verified.returncode == 0, verified.stdout

    # Every WARC file of every worker, hard-linked under its own name.
    for worker in workers:
        for path in (worker / "warc").glob("*.warc.gz"):
            assert os.path.samefile(path, merged / "warc" / path.name)
    # Every fetch once: the URL both workers fetched twice, the others once.
    counts = [response_counts(w) for w in workers]
    expected = {url: sum(c.get(url, 0) for c in counts) for url in {*counts[0], *counts[1]}}
    assert response_counts(merged) == expected
    assert expected[site.url("/chunked")] == 2
    # One seed row per input position: for /chunked, the later capture's.
    seeds = index_rows(
        merged,
        "SELECT s.position, s.outcome, c.fetched_at FROM seeds s "
        "LEFT JOIN captures c ON c.id = s.capture_id ORDER BY s.position",
    )
    assert [row["position"] for row in seeds] == list(range(8))
    assert [row["outcome"] for row in seeds][5:] == ["failed", "invalid", "duplicate"]
    chunked = index_rows(
        merged,
        "SELECT MAX(fetched_at) AS at FROM captures WHERE url = ? AND record_type = 'response'",
        (site.url("/chunked"),),
    )
    assert seeds[2]["fetched_at"] == chunked[0]["at"]
    # Each worker's crawl is a crawl of the merged index.
    crawls = index_rows(merged, "SELECT id, finish_reason FROM crawls ORDER BY id")
    assert [(row["id"], row["finish_reason"]) for row in crawls] == [
        (1, "finished"),
        (2, "finished"),
    ]
    # The corpus of the single crawl: same names, same bytes.
    assert texts(merged) == texts(single)
    assert len(texts(single)) == 5

    # Merging again adds nothing and changes nothing.
    before, cdxj = dump(merged), (merged / "indexes" / "index.cdxj").read_bytes()
    again = merge(workers, merged)
    assert again.ok
    assert (again.linked, again.copied, again.texts_written) == (0, 0, 0)
    assert dump(merged) == before
    assert (merged / "indexes" / "index.cdxj").read_bytes() == cdxj

    # A replay of the merged folder gives the pages, and so the corpus.
    replayed = tmp_path / "replayed"
    await run_crawl(replayed, listing, ARCHIVER_REPLAY=str(merged))
    assert texts(replayed) == texts(single)

    # A recrawl into the merged folder revisits what the workers fetched.
    recrawl = await run_crawl(merged, listing)
    assert recrawl.stats.get_value("finish_reason") == "finished"
    revisits = index_rows(
        merged, "SELECT url FROM captures WHERE crawl_id = 3 AND record_type = 'revisit'"
    )
    assert {row["url"] for row in revisits} >= {site.url(p) for p in PATHS[:5]}
    assert verify_paths([merged / "warc"]).ok
    assert texts(merged) == texts(single)

    # Merged again: the recrawl keeps its crawl number and its seed rows.
    recrawled = dump(merged)
    assert merge(workers, merged).ok
    assert dump(merged) == recrawled


@deferred_f_from_coro_f
async def test_what_cannot_be_merged_is_listed_and_the_rest_merged(
    tmp_path: Path, site: LocalSite
) -> None:
    listing = write_urls(tmp_path / "urls.txt", site.url("/page"))
    worker = tmp_path / "w1"
    await run_crawl(worker, listing, ARCHIVER_WARC_PREFIX="archiver-w1")
    (name,) = [p.name for p in (worker / "warc").glob("*.warc.gz")]
    data = (worker / "warc" / name).read_bytes()
    odd = tmp_path / "odd" / "warc"
    odd.mkdir(parents=True)
    (odd / name).write_bytes(data[:-10] + b"0123456789")  # same name, other bytes
    half = len(data) // 2
    (odd / "archiver-odd-1.warc.gz").write_bytes(data[:half] + b"\xff" * 64 + data[half + 64 :])
    (odd / "archiver-odd-2.warc.gz.open").write_bytes(data)  # still being written
    merged = tmp_path / "merged"

    result = archiver("merge", str(worker), str(tmp_path / "odd"), "-o", str(merged))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert f"not merged (another file of that name is in place): {odd / name}" in out
    assert "unreadable: " in out and "archiver-odd-1.warc.gz at offset " in out
    assert "still open" in out and "archiver-odd-2.warc.gz.open" in out
    assert not (merged / "warc" / "archiver-odd-2.warc.gz.open").exists()
    assert (merged / "warc" / name).read_bytes() == data
    assert texts(merged) == texts(worker)


@deferred_f_from_coro_f
async def test_an_open_file_left_out_fails_the_merge(tmp_path: Path, site: LocalSite) -> None:
    listing = write_urls(tmp_path / "urls.txt", site.url("/page"))
    worker = tmp_path / "w1"
    await run_crawl(worker, listing, ARCHIVER_WARC_PREFIX="archiver-w1")
    (closed,) = (worker / "warc").glob("*.warc.gz")
    killed = worker / "warc" / "archiver-w1-killed.warc.gz.open"  # a worker killed mid-file
    killed.write_bytes(closed.read_bytes())
    merged = tmp_path / "merged"

    result = archiver("merge", str(worker), "-o", str(merged))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{killed} (archiver recover {worker})" in result.stdout
    assert (merged / "warc" / closed.name).exists()  # the rest is merged
    killed.unlink()
    again = archiver("merge", str(worker), "-o", str(merged))
    assert again.returncode == 0, again.stdout + again.stderr


def test_usage_errors_write_nothing(tmp_path: Path) -> None:
    crawl_folder = tmp_path / "crawl"
    (crawl_folder / "warc").mkdir(parents=True)
    (crawl_folder / "index.sqlite").write_bytes(b"")
    source = tmp_path / "w1"
    (source / "warc").mkdir(parents=True)
    for args, message in [
        ((str(source),), "give the merged archive folder: -o DIR"),
        ((str(source), "-o", str(crawl_folder)), "is the archive folder of a crawl"),
    ]:
        result = archiver("merge", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    out = tmp_path / "m"
    for sources, output, message in [
        ([tmp_path / "nope"], out, "no such archive folder"),
        ([tmp_path], out, "not an archive folder"),
        ([], out, "give the archive folders to merge"),
        ([source], source, "is the output folder"),
    ]:
        with pytest.raises(MergeError, match=message):
            check_folders(sources, output)
    assert not out.exists()
    assert sorted(p.name for p in crawl_folder.iterdir()) == ["index.sqlite", "warc"]


def test_an_input_position_keeps_its_latest_capture() -> None:
    early = SeedClaim(rowid=1, crawl_id=2, position=5, fetched_at="2026-11-30T10:00:00Z")
    late = SeedClaim(rowid=9, crawl_id=1, position=5, fetched_at="2026-11-30T10:00:01Z")
    never = SeedClaim(rowid=12, crawl_id=3, position=5, fetched_at=None)
    assert latest_claim([early, late, never]) is late
    assert latest_claim([never, early]) is early
    twin = SeedClaim(rowid=10, crawl_id=1, position=5, fetched_at=late.fetched_at)
    assert latest_claim([twin, late]) is twin  # same moment: the later row


def span(
    number: int, start: str, end: str | None, *, finished: bool = True, **kw: Any
) -> CrawlSpan:
    return CrawlSpan(
        number=number,
        spider=kw.get("spider", "urls"),
        input=kw.get("input", "/l.txt"),
        started_at=f"2026-11-30T{start}+00:00",
        finished_at=f"2026-11-30T{end}+00:00" if end else None,
        finished=finished,
    )


def test_crawls_of_one_input_at_the_same_time_are_one_run() -> None:
    crawls = [
        span(1, "10:00:00", "10:05:00"),  # worker 1
        span(2, "10:01:00", "10:09:00"),  # worker 2, at the same time
        span(3, "10:02:00", "10:03:00", finished=False),  # worker 3, killed
        span(4, "11:00:00", "11:05:00"),  # worker 3 again, later: takes over its leases
        span(5, "12:00:00", "12:05:00"),  # a recrawl of the list: a run of its own
        span(6, "10:00:00", "10:05:00", input="/other.txt"),  # another list
        span(7, "10:00:00", "10:05:00", spider="other"),  # another spider
    ]
    assert runs_of(crawls) == [[1, 2, 3, 4]]
    assert runs_of([span(1, "10:00:00", "10:05:00"), span(2, "10:06:00", None)]) == []


def test_crawl_numbers_stay_the_same_from_merge_to_merge() -> None:
    def found(key: int, uuid: str, number: int, started: str) -> FoundCrawl:
        start = {"started_at": f"2026-11-30T{started}:00+00:00"}
        return FoundCrawl(key=key, uuid=uuid, number=number, start=start)

    first = [found(-1, "a", 1, "10:02"), found(-2, "b", 1, "10:01")]
    numbers = merge_numbering({}, set())(first)
    assert numbers == {-2: 1, -1: 2}  # in the order they started
    known = {crawl_key(c): numbers[c.key] for c in first}
    # Later: a worker's crawl that started before the others, and the merged folder's own crawl.
    later = [
        found(-1, "own", 3, "12:00"),
        found(-2, "early", 1, "09:00"),
        found(-3, "a", 1, "10:02"),
        found(-4, "b", 1, "10:01"),
    ]
    renumbered = merge_numbering(known, {-1})(later)
    assert renumbered == {-3: 2, -4: 1, -1: 3, -2: 4}
