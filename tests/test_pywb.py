"""``archiver serve``: pywb replays every archived page as the HTML, with and without a timestamp.

pywb lives in its own virtual environment (``.ci/run`` makes ``.venv-pywb``);
without it these tests skip.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.cdxj import write_cdxj
from crawler.layout import Layout
from crawler.pywb import ToolNotFoundError, find_tool
from tests.conftest import FAST, archiver, index_rows, write_urls
from tests.server import CHUNKED_HTML, GZIP_HTML, PAGE, LocalSite, response

REPO = Path(__file__).resolve().parents[1]
#: The page whose body changes from one crawl to the next.
CHANGING = "/changing"


def changing_html(version: int) -> bytes:
    return (
        f"<!DOCTYPE html><html><head><title>Version {version}</title></head><body>"
        f"<p>This is version {version} of a page that changes between crawls.</p>"
        "</body></html>"
    ).encode()


def crawl_replay_site(root: Path, work: Path) -> dict[str, bytes]:
    """Two crawls of a local site into ``root``, the site stopped; the HTML of each page URL.

    The first crawl takes plain, gzip and chunked pages, a redirect chain and a
    404; the second takes the changing page again, so it has two captures.
    """
    site = LocalSite().start()
    versions = iter(range(1, 10))
    site.add(
        CHANGING,
        lambda h: response(
            "200 OK", [("Content-Type", "text/html")], changing_html(next(versions))
        ),
    )
    try:
        first = write_urls(
            work / "first.txt",
            # First in both inputs: the second crawl rewrites the same text file.
            site.url(CHANGING),
            site.url("/page"),
            site.url("/gzip"),
            site.url("/chunked"),
            site.url("/redirect/1"),
            site.url("/missing"),
        )
        result = archiver("crawl", str(first), "-o", str(root), *FAST)
        assert result.returncode == 3, result.stderr  # /missing failed; the rest is archived
        # Replay URLs count time in seconds: the second capture needs its own.
        time.sleep(1.1)
        second = write_urls(work / "second.txt", site.url(CHANGING))
        result = archiver("crawl", str(second), "-o", str(root), *FAST)
        assert result.returncode == 0, result.stderr
    finally:
        site.stop()
    return {
        site.url("/page"): PAGE,
        site.url("/gzip"): GZIP_HTML,
        site.url("/chunked"): CHUNKED_HTML,
        site.url(CHANGING): changing_html(2),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    """GET from pywb without following redirects; the body with content coding undone."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    if answer.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return answer.status, answer.headers, body


def wait_until_serving(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"archiver serve ended with {process.returncode}")
        try:
            status, _, _ = get(port, "/")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail("pywb did not start within 60 s")


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, bytes], int]]:
    """A crawled archive served by ``archiver serve`` on a free port: (folder, pages, port)."""
    try:
        find_tool("wayback")
    except ToolNotFoundError as exc:
        pytest.skip(f"pywb is not installed: {exc}")
    work = tmp_path_factory.mktemp("pywb")
    root = work / "archives"
    pages = crawl_replay_site(root, work)
    write_cdxj(Layout(root))
    port = free_port()
    with (work / "serve.log").open("w") as log:
        # A session of its own: the test can stop pywb and its children together.
        process = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "serve", str(root), "--port", str(port)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
    try:
        wait_until_serving(process, port)
        yield root, pages, port
        # SIGTERM (what a service manager sends) stops pywb and the command cleanly.
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert process.stdout is not None
        assert f"http://127.0.0.1:{port}/archive/" in process.stdout.read()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def html_captures(root: Path, url: str) -> list[str]:
    """The 14-digit times of the HTML responses and revisits of ``url``, oldest first."""
    rows = index_rows(
        root,
        "SELECT fetched_at FROM captures WHERE url = ? "
        "AND record_type IN ('response', 'revisit') ORDER BY fetched_at",
        (url,),
    )
    return [re.sub(r"\D", "", row["fetched_at"])[:14] for row in rows]


def test_every_page_replays_as_its_html_without_a_timestamp(
    served: tuple[Path, dict[str, bytes], int],
) -> None:
    _, pages, port = served
    for url, html in pages.items():
        status, headers, body = get(port, f"/archive/id_/{url}")
        assert status == 200, url
        assert headers.get_content_type() == "text/html", url
        # The newest capture, and the page itself, never its extracted text.
        assert body == html, url


def test_every_capture_replays_at_its_timestamp(
    served: tuple[Path, dict[str, bytes], int],
) -> None:
    root, pages, port = served
    changing = next(url for url in pages if url.endswith(CHANGING))
    seen: dict[str, bytes] = {}
    for url, html in pages.items():
        for timestamp in html_captures(root, url):
            status, _, body = get(port, f"/archive/{timestamp}id_/{url}")
            assert status == 200, (url, timestamp)
            seen[timestamp] = body
            if url != changing:
                assert body == html, (url, timestamp)
    first, second = html_captures(root, changing)
    assert first != second
    assert (seen[first], seen[second]) == (changing_html(1), changing_html(2))


def test_redirects_replay_as_redirects(served: tuple[Path, dict[str, bytes], int]) -> None:
    _, pages, port = served
    page = next(url for url in pages if url.endswith("/page"))
    status, headers, _ = get(port, f"/archive/id_/{page.replace('/page', '/redirect/1')}")
    assert status == 301
    assert (headers.get("Location") or "").endswith("/redirect/2")


def test_timemaps_list_each_capture_once(served: tuple[Path, dict[str, bytes], int]) -> None:
    root, pages, port = served
    for url in pages:
        status, _, body = get(port, f"/archive/timemap/link/{url}")
        assert status == 200, url
        mementos = [line for line in body.decode().splitlines() if 'rel="memento"' in line]
        timestamps = sorted(re.findall(r"/archive/(\d{14})mp_/", "\n".join(mementos)))
        # One line per archived response: no conversion or metadata record among them.
        assert timestamps == html_captures(root, url), url
        assert all(f"mp_/{url}>" in line for line in mementos), url


def test_serve_needs_an_archive_folder(tmp_path: Path) -> None:
    result = archiver("serve", str(tmp_path / "nowhere"), "--port", str(free_port()))
    assert result.returncode == 2
    assert "not an archive folder" in result.stderr


def test_pywb_is_found_by_environment_or_named_with_its_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("crawler.pywb.REPOSITORY", tmp_path / "checkout")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("ARCHIVER_PYWB_BIN", raising=False)
    with pytest.raises(ToolNotFoundError, match=r"pip install 'pywb>=2\.10'"):
        find_tool("wayback")
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "wayback").write_text("#!/bin/sh\n")
    (tools / "wayback").chmod(0o755)
    monkeypatch.setenv("ARCHIVER_PYWB_BIN", str(tools))
    assert find_tool("wayback") == tools / "wayback"
    # The repository's own environment comes after the variable and before PATH.
    (tmp_path / "checkout" / ".venv-pywb" / "bin").mkdir(parents=True)
    monkeypatch.delenv("ARCHIVER_PYWB_BIN")
    with pytest.raises(ToolNotFoundError):
        find_tool("wayback")
    assert find_tool("wayback", str(tools)) == tools / "wayback"


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    try:
        find_tool("wayback")
    except ToolNotFoundError as exc:
        pytest.skip(f"pywb is not installed: {exc}")
    (tmp_path / "archives" / "warc").mkdir(parents=True)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = archiver("serve", str(tmp_path / "archives"), "--port", str(port))
    assert result.returncode == 1
    assert "Address already in use" in result.stderr
    assert "Serving" not in result.stdout
