"""One crawl per archive folder: a second one is refused, a killed one's lock is taken over."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crawler.lock import FolderInUseError, Holder, LockError, acquire, lock_for_crawl
from tests.conftest import FAST, archiver, index_rows, write_urls
from tests.server import LocalSite, response, slow

ONE_AT_A_TIME = ["-s", "CONCURRENT_REQUESTS=1"]
NOTE = {"pid": 4242, "host": "elsewhere", "started": "2026-01-02T03:04:05+00:00", "command": "x"}


def test_a_held_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    path = tmp_path / "archive" / "crawl.lock"
    with acquire(path, command="archiver crawl urls.txt") as lock:
        assert lock.held and lock.stale is None
        note = json.loads(path.read_text())
        assert note["pid"] == os.getpid() and note["command"] == "archiver crawl urls.txt"
        with pytest.raises(FolderInUseError) as error:
            acquire(path)  # another open file: flock refuses it even in this process
        assert error.value.holder == lock.holder
        assert str(error.value) == (
            f"the archive folder {tmp_path / 'archive'} is in use by another crawl: "
            f"process {os.getpid()}, started {note['started']} (archiver crawl urls.txt)"
        )
    assert not lock.held
    assert path.read_bytes() == b""  # a clean release leaves an empty note
    with acquire(path) as again:
        assert again.stale is None


def test_a_note_in_a_free_file_is_a_stale_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "crawl.lock"
    path.write_text(json.dumps(NOTE))
    with acquire(path) as lock:
        assert lock.stale == Holder(**NOTE)
        lock.log_takeover()
    assert (
        f"Took over the lock {path} from process 4242 on elsewhere, started "
        "2026-01-02T03:04:05+00:00 (x), which ended without releasing it"
    ) in caplog.text
    assert caplog.records[0].levelno == logging.WARNING
    path.write_text("not json")
    with acquire(path) as lock:
        assert lock.stale is None


def test_folders_that_cannot_be_locked(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    # A file where the folder should be: the crawl reports it when it opens the archive.
    assert lock_for_crawl(tmp_path / "a-file" / "crawl.lock") is None
    with pytest.raises(LockError, match=r"cannot lock the archive folder .*a-file/sub"):
        lock_for_crawl(tmp_path / "a-file" / "sub" / "crawl.lock")


HOLD_AND_FORK = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from crawler.lock import acquire
    lock = acquire(Path(sys.argv[1]))
    child = os.fork()
    if child == 0:
        # Printed once fork() has returned here: the child's at-fork handlers have run.
        print(os.getpid(), flush=True)
        time.sleep(60)
        os._exit(0)
    time.sleep(60)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_killed_holder_frees_the_lock_even_with_forked_children(tmp_path: Path) -> None:
    path = tmp_path / "crawl.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_FORK, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert holder.stdout is not None
    child = int(holder.stdout.readline())
    try:
        with pytest.raises(FolderInUseError):
            acquire(path)
        holder.kill()
        holder.wait()
        with acquire(path) as lock:  # the forked child still runs, without the lock
            assert lock.stale is not None and lock.stale.pid == holder.pid
    finally:
        os.kill(child, signal.SIGKILL)
        holder.stdout.close()


def wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_two_crawls_into_one_folder(site: LocalSite, tmp_path: Path) -> None:
    page = response("200 OK", [("Content-Type", "text/html")], b"<p>busy</p>")
    site.add("/busy", slow(0.3, page))
    write_urls(tmp_path / "first.txt", *(site.url(f"/busy?{i}") for i in range(40)))
    write_urls(tmp_path / "second.txt", site.url("/page"))
    archive = tmp_path / "archives"
    env = {
        k: v for k, v in os.environ.items() if k not in ("ARCHIVER_DIR", "SCRAPY_SETTINGS_MODULE")
    }
    first = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "crawl", "first.txt", *FAST, *ONE_AT_A_TIME],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: list((archive / "warc").glob("*.open")) if archive.exists() else [])
        note = json.loads((archive / "crawl.lock").read_text())
        warcs = sorted((archive / "warc").iterdir())

        second = archiver("crawl", "second.txt", *FAST, cwd=tmp_path)
        assert second.returncode == 2
        assert second.stderr == (
            "error: the archive folder archives is in use by another crawl: "
            f"process {first.pid}, started {note['started']} ({note['command']})\n"
        )
        assert "crawl first.txt" in note["command"]
        assert len(index_rows(archive, "SELECT * FROM crawls")) == 1
        assert sorted((archive / "warc").iterdir()) == warcs

        # Killed: no clean end, its note stays, and the next crawl takes over.
        first.kill()
        first.wait()
        third = archiver("crawl", "second.txt", *FAST, cwd=tmp_path)
        assert third.returncode == 0, third.stderr
        assert f"Took over the lock archives/crawl.lock from process {first.pid}" in third.stderr
        crawls = index_rows(archive, "SELECT input, finish_reason FROM crawls ORDER BY id")
        assert [(Path(c["input"]).name, c["finish_reason"]) for c in crawls] == [
            ("first.txt", "unfinished"),
            ("second.txt", "finished"),
        ]
        assert (archive / "crawl.lock").read_bytes() == b""
    finally:
        first.kill()
        first.wait()


def test_rebuild_takes_the_lock_too(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "000_a.txt").write_text("\n\n# T\n\nText.\n\nOriginal url:\n\n<http://127.0.0.1:9/>")
    with acquire(tmp_path / "out" / "crawl.lock", command="archiver crawl busy.txt"):
        result = archiver("rebuild", "corpus", "-o", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: the archive folder out is in use by another crawl: ")
    assert "(archiver crawl busy.txt)" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["crawl.lock"]
