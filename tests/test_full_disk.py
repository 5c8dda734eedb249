"""A crawl whose disk fills up: it says so, reports nothing it did not keep, and resumes.

Each case puts one part of the archive folder on a small tmpfs of its own (the
WARC files, the text files, or the folder that holds the index, full mid-crawl
or from the crawl's start), crawls 30 pages until that disk is full, then
checks that every row the index calls done is on disk, makes room and resumes
the crawl to its end. Mounting needs root (or a user namespace that allows it):
without it the tests are skipped.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.text.document import parse
from tests.conftest import FAST, archiver, write_urls
from tests.server import Handler, LocalSite, response

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Pages crawled in each case.
PAGES = 30
#: Size of the small disk in KiB, per case: room for the start of the crawl, not its end
#: (for "index-start", room for the index's tables but not for the crawl's first row).
#: They follow what 30 pages take: measured, to be measured again if the formats grow.
SMALL_DISK_KIB = {"warc": 48, "text": 40, "index": 96, "index-start": 80}
#: Exit code of a crawl that stopped before its end or could not keep what it did.
STOPPED = 1
#: Size the small disk grows to before the crawl is resumed.
ROOMY_DISK_KIB = 20 * 1024
#: How a full disk shows in the log: the system's error, or SQLite's.
FULL_DISK_SIGNS = ("No space left on device", "database or disk is full")
WORDS = [
    *("archive", "crawler", "record", "river", "mountain", "letter", "window", "garden"),
    *("station", "harbour", "paper", "engine", "signal", "market", "silver", "winter"),
    *("morning", "evening", "village", "island", "forest", "lantern"),
]


def page(handler: Handler) -> bytes:
    """A page with a title and about 2 KB of text that compresses poorly."""
    number = int(handler.path.rsplit("/", 1)[1].split("?")[0])
    rng = random.Random(number)
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(WORDS) for _ in range(60)) + ".</p>" for _ in range(5)
    )
    body = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Disk page {number}</title>"
        f"</head><body><article><h1>Disk page {number}</h1>{paragraphs}</article></body></html>"
    )
    return response("200 OK", [("Content-Type", "text/html; charset=utf-8")], body.encode())


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@contextmanager
def small_disk(path: Path, kib: int) -> Iterator[Path]:
    """A tmpfs of ``kib`` KiB mounted at ``path``, unmounted at the end."""
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small disk")
    mounted = _mount("-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(path))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


def grow(path: Path, kib: int) -> None:
    """Make room on the small disk at ``path``."""
    grown = _mount("-o", f"remount,size={kib}k", str(path))
    assert grown.returncode == 0, grown.stderr


def layout(tmp_path: Path, case: str) -> tuple[Path, Path]:
    """The archive folder and the small disk's mount point of ``case``."""
    small = tmp_path / "small"
    if case.startswith("index"):
        # The archive folder itself is small; its WARC and text files live elsewhere.
        return small, small
    return tmp_path / "archives", small


def link_parts(archive_dir: Path, small: Path, case: str, elsewhere: Path) -> None:
    """Point the parts of the archive folder that ``case`` keeps apart at their disks."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    if case.startswith("index"):
        for part in ("warc", "text"):
            (elsewhere / part).mkdir(parents=True)
            (archive_dir / part).symlink_to(elsewhere / part)
    else:
        (archive_dir / case).symlink_to(small)


def check_done_is_on_disk(archive_dir: Path) -> list[str]:
    """Every archived seed's record at its offset, and every written text whole: the faults."""
    index = archive_dir / "index.sqlite"
    if not index.exists():
        return []
    db = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        rows = list(
            db.execute(
                "SELECT seeds.url AS seed_url, seeds.line, seeds.text_path AS seed_text,"
                " captures.* FROM seeds JOIN captures ON captures.id = seeds.capture_id"
                " WHERE seeds.outcome = 'archived'"
            )
        )
    finally:
        db.close()
    problems = []
    for row in rows:
        where = f"line {row['line']} ({row['seed_url']})"
        warc = archive_dir / "warc" / row["warc_file"]
        if not warc.exists():
            problems.append(f"{where}: its WARC file {row['warc_file']} is not on disk")
            continue
        with warc.open("rb") as stream:
            stream.seek(row["warc_offset"])
            record = next(iter(ArchiveIterator(stream)), None)
            found = None if record is None else record.rec_headers.get_header("WARC-Record-ID")
        if found != row["record_id"]:
            problems.append(f"{where}: {found} at offset {row['warc_offset']}, not its record")
        if row["text_outcome"] == "written":
            text = archive_dir / (row["text_path"] or "")
            if not row["text_path"] or not text.is_file():
                problems.append(f"{where}: text written, but {row['text_path']} is not on disk")
                continue
            try:
                document = parse(text.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                problems.append(f"{where}: text file {row['text_path']} is not whole: {exc}")
                continue
            if document.url != row["seed_url"]:
                problems.append(f"{where}: text file {row['text_path']} is of {document.url}")
    return problems


def final_outcomes(archive_dir: Path) -> dict[int, str]:
    """The last outcome of each input line over all crawls."""
    db = sqlite3.connect(f"file:{archive_dir / 'index.sqlite'}?mode=ro", uri=True)
    try:
        return {
            line: outcome
            for line, outcome in db.execute("SELECT line, outcome FROM seeds ORDER BY crawl_id")
        }
    finally:
        db.close()


@pytest.mark.parametrize("case", ["warc", "text", "index", "index-start"])
def test_a_full_disk_stops_the_crawl_and_resume_completes_it(
    case: str, site: LocalSite, tmp_path: Path
) -> None:
    site.add("/disk/*", page)
    urls = write_urls(tmp_path / "urls.txt", *(site.url(f"/disk/{n}") for n in range(PAGES)))
    archive_dir, small = layout(tmp_path, case)
    crawl = ["crawl", str(urls), "-o", str(archive_dir), *FAST, "-s", "ARCHIVER_EXTRACT_WORKERS=1"]
    with small_disk(small, SMALL_DISK_KIB[case]):
        link_parts(archive_dir, small, case, tmp_path / "elsewhere")
        first = archiver(*crawl, cwd=tmp_path)
        log = first.stdout[-2000:] + first.stderr[-4000:]
        assert any(sign in first.stderr for sign in FULL_DISK_SIGNS), f"no full disk?\n{log}"
        assert first.returncode == STOPPED, f"the {case} disk filled up\n{log}"
        problems = check_done_is_on_disk(archive_dir)
        assert not problems, "\n".join(problems) + "\n" + log

        grow(small, ROOMY_DISK_KIB)
        resumed = archiver(*crawl, "--resume", cwd=tmp_path)
        log = resumed.stdout[-2000:] + resumed.stderr[-4000:]
        assert resumed.returncode == 0, log
        problems = check_done_is_on_disk(archive_dir)
        assert not problems, "\n".join(problems) + "\n" + log
        outcomes = final_outcomes(archive_dir)
        assert outcomes == dict.fromkeys(range(1, PAGES + 1), "archived"), log
        texts = sorted(p.name for p in (archive_dir / "text").iterdir() if p.suffix == ".txt")
        assert len(texts) == PAGES, texts
