"""One crawl through a web that breaks every way it can: nothing lost, nothing hidden.

The input holds 200 normal pages, one URL per kind of fault of
:mod:`tests.faultserver`, and 40 lines that are not fetchable URLs. The crawl
runs as the user runs it (the ``archiver`` command, in a subprocess), so its
exit code, log and memory are the real ones; each test below checks one
promise of the README against what that crawl left behind.
"""

from __future__ import annotations

import base64
import gzip
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import archiver, index_rows
from tests.faultserver import FaultSite, Seen

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Settings that keep the crawl under a minute: short timeouts, one retry, no delays.
CRAWL_SETTINGS = {
    "DOWNLOAD_TIMEOUT": "3",
    "CONCURRENT_REQUESTS": "32",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "RETRY_TIMES": "1",
    "ARCHIVER_EXTRACT_WORKERS": "2",
}
#: The crawl is killed (and the test fails) past this many seconds.
CRAWL_DEADLINE = 180.0
#: The most the crawl may hold in memory, its extraction workers included.
MAX_RSS_MB = 400
#: Exit code of a crawl that reached its end with some input entries failed.
SOME_FAILED = 3
USER = "archuser"
PASSWORD = "Pa55-fault-s3cret"


@dataclass
class FaultyCrawl:
    archive_dir: Path
    input_lines: list[bytes]  #: the input file, split at ``\n``
    returncode: int
    log: str
    peak_rss_mb: float
    seen: list[Seen]
    credentials_url: str

    def summary(self) -> str:
        """Outcome counts and the log's tail, for failure messages."""
        rows = index_rows(self.archive_dir, "SELECT outcome, reason FROM seeds")
        counts = Counter(row["outcome"] for row in rows)
        reasons = Counter(
            (row["reason"] or "").split(":")[0][:60] for row in rows if row["outcome"] != "archived"
        )
        tail = "\n".join(line[:300] for line in self.log.splitlines()[-15:])
        return (
            f"exit {self.returncode}, peak RSS {self.peak_rss_mb:.0f} MB, "
            f"{len(self.seen)} requests seen; outcomes {dict(counts)}; "
            f"reasons {dict(reasons.most_common(25))}\nlog tail:\n{tail}"
        )


def bad_lines(site: FaultSite) -> list[str]:
    """39 input lines that are not plain fetchable URLs (some are, in disguise)."""
    base = site.url("")
    host = base.removeprefix("http://")
    lines = [
        "not a url at all",
        "example.com/page",
        "//127.0.0.1/scheme-relative",
        "ftp://127.0.0.1/file.txt",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "data:text/html,<p>hi</p>",
        "file:///etc/passwd",
        "http:///no-host",
        "https://",
        "http://127.0.0.1:99999/port-out-of-range",
        "http://[::1/unclosed-ipv6",
        f"{base}/page/4 and some words",
        f"{base}/bell\x07char",
        f"{base}/nul\x00char",
        f"{base}/tab\tinside",
        "http://host-that-does-not-resolve.invalid/",
        "http://b\u00fccher.invalid/seite",
        "http://xn--bcher-kva.invalid/",
        "http://a..b.invalid/",
        "http://" + "a" * 70 + ".invalid/label-too-long",
        f"http://{USER}:{PASSWORD}@{host}/page/7?login",
        f"http://{USER}@{host}/page/9?user-only",
        f"{base}/page/1?long=" + "q" * 3000,
        f"{base}/page/1?longer=" + "q" * 9000,
        f"{base}/page/2",
        f"{base}/page/2#a-fragment",
        f"HTTP://127.0.0.1:{site.port}/page/3",
        f"   {base}/page/5   ",
        f"{base}/%zz-bad-percent",
        f"{base}/seite/\u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9",
        f"https://127.0.0.1:{site.closed_port}/https-refused",
        "http://127.0.0.1:0/port-zero",
        "",
        "   ",
        "# a comment line",
        "#",
        "\ufeffhttp://127.0.0.1:1/bom-in-the-middle",
        "http://256.256.256.256/",
    ]
    assert len(lines) == 39
    return lines


def input_file(site: FaultSite, path: Path) -> tuple[Path, list[bytes], str]:
    urls = site.page_urls() + list(site.fault_urls().values())
    lines = [line.encode("utf-8") for line in urls + bad_lines(site)]
    # The 40th bad line is not UTF-8 at all.
    lines.insert(len(urls) + 5, b"http://127.0.0.1/caf\xe9-latin-1")
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    credentials = next(line for line in lines if PASSWORD.encode() in line).decode()
    return path, lines, credentials


#: Runs the command given after it and writes the peak RSS of it and its descendants (in
#: kB) to the file named first. The crawl is measured as a grandchild of the test process:
#: Linux keeps a process's peak across exec, so a child forked from this large process
#: would count the test process's own memory (the suite's, grown by what ran before).
_MEASURED = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code if code >= 0 else 128 - code)
"""


def run_archiver(args: list[str], cwd: Path) -> tuple[int, str, float]:
    """Run ``archiver ARGS``; return its exit code, its output and its peak RSS in MB.

    The peak is the largest of the crawl's own process and of the processes it waited
    for (its extraction workers).
    """
    env = {
        k: v for k, v in os.environ.items() if k not in ("ARCHIVER_DIR", "SCRAPY_SETTINGS_MODULE")
    }
    out = cwd / "crawl.log"
    peak = cwd / "peak-rss-kb"
    command = [sys.executable, "-m", "crawler.cli", *args]
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", _MEASURED, str(peak), *command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=CRAWL_DEADLINE)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    rss_mb = int(peak.read_text()) / 1024 if peak.is_file() else float("inf")
    return process.returncode, out.read_text(errors="replace"), rss_mb


@pytest.fixture(scope="module")
def faulty_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyCrawl]:
    work = tmp_path_factory.mktemp("faults")
    site = FaultSite().start()
    try:
        urls, lines, credentials = input_file(site, work / "urls.txt")
        archive_dir = work / "archives"
        settings = [
            arg for name, value in CRAWL_SETTINGS.items() for arg in ("-s", f"{name}={value}")
        ]
        code, log, rss = run_archiver(["crawl", str(urls), "-o", str(archive_dir), *settings], work)
        yield FaultyCrawl(archive_dir, lines, code, log, rss, list(site.seen), credentials)
    finally:
        site.stop()


def test_every_input_line_has_one_outcome_with_its_reason(faulty_crawl: FaultyCrawl) -> None:
    rows = index_rows(
        faulty_crawl.archive_dir,
        "SELECT seeds.*, captures.text_outcome FROM seeds"
        " LEFT JOIN captures ON captures.id = seeds.capture_id",
    )
    by_line = Counter(row["line"] for row in rows)
    problems = []
    for number, line in enumerate(faulty_crawl.input_lines, 1):
        text = line.decode("utf-8", "replace").strip().lstrip("\ufeff").strip()
        expected = 0 if not text or text.startswith("#") else 1
        if by_line[number] != expected:
            problems.append(
                f"line {number}: {by_line[number]} rows, expected {expected}: {text[:80]!r}"
            )
    for row in rows:
        clean = row["outcome"] == "archived" and row["text_outcome"] in ("written", "unchanged")
        if not clean and not row["reason"]:
            problems.append(
                f"line {row['line']}: {row['outcome']} (text {row['text_outcome']}) "
                f"without a reason: {row['url'][:80]}"
            )
    assert not problems, "\n".join(problems[:40]) + "\n" + faulty_crawl.summary()


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _warc_files(archive_dir: Path) -> list[Path]:
    return sorted(p for p in (archive_dir / "warc").iterdir() if ".warc" in p.name)


def test_every_request_the_server_saw_is_archived(faulty_crawl: FaultyCrawl) -> None:
    archived: Counter[str] = Counter()
    for path in _warc_files(faulty_crawl.archive_dir):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "request":
                    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                    archived[_without_userinfo(uri)] += 1
    seen = Counter(request.url for request in faulty_crawl.seen)
    missing = {url: (count, archived[url]) for url, count in seen.items() if archived[url] < count}
    assert not missing, (
        f"{len(missing)} of {len(seen)} URLs the server was asked for lack request records "
        f"(seen, archived): "
        + "; ".join(f"{url[:90]} {n}" for url, n in sorted(missing.items())[:40])
        + "\n"
        + faulty_crawl.summary()
    )


def test_the_log_has_no_traceback(faulty_crawl: FaultyCrawl) -> None:
    lines = faulty_crawl.log.splitlines()
    found = [i for i, line in enumerate(lines) if "Traceback" in line]
    excerpts = ["\n".join(line[:300] for line in lines[max(0, i - 2) : i + 14]) for i in found[:3]]
    assert not found, "\n\n".join(excerpts) + f"\n({len(found)} tracebacks)"


def test_memory_stays_bounded(faulty_crawl: FaultyCrawl) -> None:
    assert faulty_crawl.peak_rss_mb < MAX_RSS_MB, faulty_crawl.summary()


def test_the_warc_files_verify(faulty_crawl: FaultyCrawl) -> None:
    result = archiver("verify", str(faulty_crawl.archive_dir / "warc"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _chunks(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.name.endswith((".gz", ".gz.open")) else open
    with opener(path, "rb") as stream:
        try:
            while chunk := stream.read(1 << 20):
                yield chunk
        except (EOFError, gzip.BadGzipFile):
            return  # a file cut short: what was read was searched


def _holds(path: Path, secrets: list[bytes]) -> list[bytes]:
    keep = max(len(s) for s in secrets)
    tail = b""
    found: set[bytes] = set()
    for chunk in _chunks(path):
        window = tail + chunk
        found.update(s for s in secrets if s in window)
        tail = window[-keep:]
    return sorted(found)


def test_credentials_stay_out_of_the_archive_and_the_log(faulty_crawl: FaultyCrawl) -> None:
    secrets = [PASSWORD.encode(), base64.b64encode(f"{USER}:{PASSWORD}".encode())]
    leaks = {
        str(path.relative_to(faulty_crawl.archive_dir)): found
        for path in sorted(faulty_crawl.archive_dir.rglob("*"))
        if path.is_file() and (found := _holds(path, secrets))
    }
    in_log = [s for s in secrets if s.decode() in faulty_crawl.log]
    assert not leaks and not in_log, f"in files: {leaks}; in the log: {in_log}"


def test_the_exit_code_says_the_crawl_reached_its_end(faulty_crawl: FaultyCrawl) -> None:
    # Bad URLs and failed fetches are outcomes, recorded in the index: the crawl still
    # reached its end, so not 1 (stopped early, or a fault in the archive itself). Entries
    # that failed are what the user must know about: 3 then, 0 only when there are none.
    failed = index_rows(
        faulty_crawl.archive_dir,
        "SELECT count(*) FROM seeds WHERE outcome NOT IN ('archived', 'duplicate', 'not_due')",
    )[0][0]
    expected = SOME_FAILED if failed else 0
    assert faulty_crawl.returncode == expected, faulty_crawl.summary()
