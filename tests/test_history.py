"""``archiver history`` and pywb on a recrawled archive: three command-line crawls of one site.

The site's article changes its text before the third crawl; its other pages
answer 304, repeat their bytes, or change bytes but not text.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from typing import TYPE_CHECKING

import pytest

from crawler.pywb import ToolNotFoundError, find_tool
from tests.conftest import FAST, archiver, index_rows, write_urls
from tests.recrawl_site import RecrawlRoutes, article, paragraphs
from tests.server import LocalSite
from tests.test_pywb import REPO, free_port, get, wait_until_serving

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def recrawled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """An archive folder after three crawls of the recrawl site: (folder, URLs by path)."""
    work = tmp_path_factory.mktemp("history")
    root = work / "archives"
    site = LocalSite().start()
    routes = RecrawlRoutes()
    urls = routes.install(site)
    listing = write_urls(work / "urls.txt", *urls.values())
    try:
        for run in range(3):
            if run == 2:
                routes.version = 2
            result = archiver("crawl", str(listing), "-o", str(root), *FAST)
            assert result.returncode == 0, result.stderr
            # Replay URLs count time in seconds: each crawl needs its own.
            time.sleep(1.05)
    finally:
        site.stop()
    return root, urls


def test_history_lists_the_text_versions(recrawled: tuple[Path, dict[str, str]]) -> None:
    root, urls = recrawled
    result = archiver("history", urls["/article"], "-o", str(root))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{urls['/article']}: 2 text version(s)"
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == ["1", "2"]
    captured = index_rows(
        root,
        "SELECT fetched_at, payload_digest, text_digest, text_words FROM captures "
        "WHERE url = ? AND text_outcome = 'written' ORDER BY fetched_at",
        (urls["/article"],),
    )
    for row, capture in zip(rows, captured, strict=True):
        expected = [
            capture["fetched_at"], "200", capture["payload_digest"], capture["text_digest"],
            str(capture["text_words"]),
        ]  # fmt: skip
        assert row[1:6] == expected
    # Version 1 was seen by crawls 1 and 2 (a revisit), version 2 by crawl 3.
    assert [row[6] for row in rows] == ["2", "1"]
    # A page whose bytes change but not its text has one version, seen three times.
    token = archiver("history", urls["/token"], "-o", str(root))
    assert token.stdout.splitlines()[2].split()[0::6] == ["1", "3"]


def test_history_diffs_two_versions(recrawled: tuple[Path, dict[str, str]]) -> None:
    root, urls = recrawled
    result = archiver("history", urls["/article"], "--diff", "1", "2", "-o", str(root))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("--- version 1 (")
    assert "-# Article revision 1\n+# Article revision 2\n" in out
    assert "+The third paragraph closes the article story. This is revision number 2" in out
    # By capture timestamps, from the folder in ARCHIVER_DIR.
    stamps = [
        "".join(ch for ch in row["fetched_at"] if ch.isdigit())[:14]
        for row in index_rows(
            root,
            "SELECT fetched_at FROM captures WHERE url = ? AND text_outcome = 'written' "
            "ORDER BY fetched_at",
            (urls["/article"],),
        )
    ]
    by_time = archiver(
        "history", urls["/article"], "--diff", *stamps, env={"ARCHIVER_DIR": str(root)}
    )
    assert by_time.returncode == 0, by_time.stderr
    assert by_time.stdout.splitlines()[2:] == out.splitlines()[2:]


def test_history_errors(recrawled: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, urls = recrawled
    unknown = archiver("history", "http://example.invalid/", "-o", str(root))
    assert unknown.returncode == 1
    assert "is not in the archive" in unknown.stderr
    for a, b in (("1", "3"), ("0", "1"), ("20000101000000", "1"), ("x", "1")):
        bad = archiver("history", urls["/article"], "--diff", a, b, "-o", str(root))
        assert bad.returncode == 2, (a, b)
        assert "not a version" in bad.stderr or "no text version captured" in bad.stderr
    empty = archiver("history", urls["/article"], "-o", str(tmp_path / "none"))
    assert empty.returncode == 1


def test_reindex_and_verify_take_the_folder_as_every_command(
    recrawled: tuple[Path, dict[str, str]],
) -> None:
    root, _ = recrawled
    verify = archiver("verify", "-o", str(root))
    assert verify.returncode == 0, verify.stdout
    assert "records: all OK" in verify.stdout
    before = (root / "indexes" / "index.cdxj").read_bytes()
    result = archiver("reindex", "-o", str(root))
    assert result.returncode == 0, result.stderr
    assert (root / "indexes" / "index.cdxj").read_bytes() == before


@pytest.fixture(scope="module")
def served(recrawled: tuple[Path, dict[str, str]]) -> Iterator[int]:
    try:
        find_tool("wayback")
    except ToolNotFoundError as exc:
        pytest.skip(f"pywb is not installed: {exc}")
    root, _ = recrawled
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "serve", "-o", str(root), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until_serving(process, port)
        yield port
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize(
    ("path", "title", "topic"),
    [
        ("/etag", "Tagged page", "tagged"),
        ("/modified", "Dated page", "dated"),
        ("/static", "Static page", "static"),
    ],
)
def test_pywb_replays_every_crawls_moment_as_the_page(
    recrawled: tuple[Path, dict[str, str]], served: int, path: str, title: str, topic: str
) -> None:
    root, urls = recrawled
    url = urls[path]
    html = article(title, paragraphs(topic))
    captures = index_rows(
        root,
        "SELECT fetched_at, record_type FROM captures WHERE url = ? ORDER BY fetched_at",
        (url,),
    )
    # One response, then a revisit from each recrawl.
    assert [row["record_type"] for row in captures] == ["response", "revisit", "revisit"]
    moments = ["".join(ch for ch in row["fetched_at"] if ch.isdigit())[:14] for row in captures]
    assert len(set(moments)) == 3
    for moment in [*moments, ""]:
        status, headers, body = get(served, f"/archive/{moment}id_/{url}")
        assert status == 200, (path, moment)
        assert headers.get_content_type() == "text/html", (path, moment)
        assert body == html, (path, moment)
    # The timemap lists each crawl's moment.
    _, _, timemap = get(served, f"/archive/timemap/link/{url}")
    for moment in moments:
        assert f"/archive/{moment}mp_/{url}>" in timemap.decode(), (path, moment)


def test_wacz_pages_of_unchanged_captures_carry_their_text(
    recrawled: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, urls = recrawled
    target = tmp_path / "recrawl.wacz"
    result = archiver("export", "wacz", str(root), "-o", str(target))
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(target) as wacz:
        lines = wacz.read("pages/pages.jsonl").decode().splitlines()[1:]
    pages = [json.loads(line) for line in lines]
    # Each crawl's view of each page, with the text it had then.
    assert len(pages) == 3 * len(urls)
    assert all(page.get("text") for page in pages), pages
    article_texts = [p["text"] for p in pages if p["url"] == urls["/article"]]
    assert ["revision number 1" in t for t in article_texts] == [True, True, False]
    assert {p["title"] for p in pages if p["url"] == urls["/static"]} == {"Static page"}
