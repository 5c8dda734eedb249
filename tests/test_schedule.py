"""``archiver schedule``: runs on a fixed grid, never two at once, a clean stop on SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from crawler.commands.schedule import Command as ScheduleCommand
from crawler.schedule import Scheduler
from tests.conftest import FAST, archiver, index_rows, write_urls
from tests.server import LocalSite, response, slow


class FakeClock:
    """Wall-clock time that moves only when the scheduler sleeps or a run takes time."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scheduled(durations: list[float], period: float) -> tuple[Scheduler, FakeClock]:
    """A scheduler whose runs take ``durations`` seconds each, stopped after the last."""
    clock = FakeClock()

    def job(number: int) -> int:
        clock.now += durations[number - 1]
        if number == len(durations):
            scheduler.stop()
        return number % 2

    scheduler = Scheduler(period, job, clock=clock, sleep=clock.sleep)
    scheduler.run()
    return scheduler, clock


def test_runs_start_on_a_grid_from_the_first() -> None:
    scheduler, _ = scheduled([10, 25, 5, 0], period=60)
    starts = [started - 1_000_000 for _, started, _, _ in scheduler.runs]
    assert starts == [0, 60, 120, 180]
    assert [code for *_, code in scheduler.runs] == [1, 0, 1, 0]


def test_an_overrun_skips_the_missed_starts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="crawler.schedule")
    scheduler, _ = scheduled([10, 150, 60, 1], period=60)
    runs = [(started - 1_000_000, ended - 1_000_000) for _, started, ended, _ in scheduler.runs]
    # 60-210 overran the starts at 120 and 180; 240-300 ends right on a start.
    assert runs == [(0, 10), (60, 210), (240, 300), (300, 301)]
    assert all(ended <= next_start for (_, ended), (next_start, _) in pairwise(runs))
    assert "Run 2 took 2m30s, longer than the period of 1m: skipping 2 start(s)" in caplog.text
    assert "Next run at 1970-01-12 13:50:40 UTC" in caplog.text  # 1_000_000 + 240
    assert caplog.text.count("skipping") == 1


def test_waits_are_cut_into_short_steps() -> None:
    _, clock = scheduled([0, 0], period=3600)
    assert clock.sleeps and max(clock.sleeps) <= 30
    assert sum(clock.sleeps) == 3600


def test_a_stop_while_waiting_ends_at_once() -> None:
    clock = FakeClock()
    scheduler = Scheduler(3600, lambda number: 0, clock=clock, sleep=lambda s: scheduler.stop())
    scheduler.run()
    assert len(scheduler.runs) == 1
    with pytest.raises(ValueError, match="more than zero"):
        Scheduler(0, lambda number: 0)


def start_schedule(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("ARCHIVER_DIR", "SCRAPY_SETTINGS_MODULE")
    }
    return subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "schedule", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def finished_crawls(archive: Path) -> list[dict[str, object]]:
    if not (archive / "index.sqlite").exists():
        return []
    rows = index_rows(archive, "SELECT * FROM crawls WHERE finished_at IS NOT NULL ORDER BY id")
    return [dict(row) for row in rows]


def test_fires_twice_without_overlap_and_stops_on_sigterm(site: LocalSite, tmp_path: Path) -> None:
    write_urls(tmp_path / "urls.txt", site.url("/page"))
    archive = tmp_path / "out"
    # A crawl takes longer than 1s: the test sees starts being skipped too.
    process = start_schedule("1s", "urls.txt", "-o", "out", *FAST, cwd=tmp_path)
    wait_for(lambda: len(finished_crawls(archive)) >= 2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    crawls = index_rows(archive, "SELECT * FROM crawls ORDER BY id")
    assert len(crawls) >= 2
    times = [
        (datetime.fromisoformat(c["started_at"]), datetime.fromisoformat(c["finished_at"]))
        for c in crawls
        if c["finished_at"]
    ]
    assert all(ended <= next_start for (_, ended), (next_start, _) in pairwise(times))
    # Every crawl got the options: the archive folder given with -o, and FAST's settings.
    assert all('"DOWNLOAD_DELAY": "0"' in c["settings"] for c in crawls)
    assert "Run 1 started" in stderr and "Run 2 started" in stderr
    assert "Run 1 ended with exit code 0" in stderr
    assert "Next run at" in stderr
    assert stderr.rstrip().endswith(f"Schedule stopped after {len(crawls)} run(s)")
    assert not (tmp_path / "archives").exists()


def test_sigterm_between_runs_stops_at_once(site: LocalSite, tmp_path: Path) -> None:
    write_urls(tmp_path / "urls.txt", site.url("/page"))
    process = start_schedule("1d", "urls.txt", *FAST, cwd=tmp_path)
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    wait_for(lambda: any("Next run at" in line for line in lines))
    stopped = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    reader.join(timeout=10)
    process.stderr.close()
    stderr = "".join(lines)
    assert time.monotonic() - stopped < 5
    assert process.returncode == 0, stderr
    assert "Passing SIGTERM" not in stderr
    assert stderr.rstrip().endswith("Schedule stopped after 1 run(s)")


def test_sigterm_stops_the_running_crawl(site: LocalSite, tmp_path: Path) -> None:
    page = response("200 OK", [("Content-Type", "text/html")], b"<p>scheduled</p>")
    site.add("/scheduled-slow", slow(0.3, page))
    urls = [site.url(f"/scheduled-slow?{i}") for i in range(40)]
    write_urls(tmp_path / "urls.txt", *urls)
    archive = tmp_path / "archives"
    process = start_schedule("1h", "urls.txt", *FAST, "-s", "CONCURRENT_REQUESTS=1", cwd=tmp_path)
    wait_for(lambda: list((archive / "warc").glob("*.open")) if archive.exists() else [])
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    (crawl,) = index_rows(archive, "SELECT * FROM crawls")
    assert crawl["finish_reason"] == "shutdown"  # an interrupted crawl: --resume goes on
    assert "Passing SIGTERM on to the running crawl" in stderr
    assert "Run 1 ended with exit code 1" in stderr
    assert "Next run at" not in stderr
    assert (archive / "crawl.lock").read_bytes() == b""  # released cleanly
    seeds = index_rows(archive, "SELECT * FROM seeds")
    assert 0 < len(seeds) < len(urls)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["1h"], "error: schedule takes EVERY INPUT [crawl options]\n"),
        (["soon", "urls.txt"], "error: cannot read duration 'soon': expected 30s, 15m, 6h"),
        (["0s", "urls.txt"], "error: the period must be more than zero, not 0s\n"),
        (["1h", "-", "-o", "x"], "error: cannot schedule a crawl of standard input"),
        (["1h", "missing.txt"], "error: cannot read missing.txt: no such file or folder\n"),
        (["1h", "-o", "x"], "error: schedule takes EVERY INPUT [crawl options]: no INPUT"),
    ],
)
def test_bad_command_lines(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        ScheduleCommand().process_options(args, argparse.Namespace())
    assert exit.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith(message)
    assert len(stderr.splitlines()) == 1


def test_a_bad_command_line_starts_nothing(tmp_path: Path) -> None:
    result = archiver("schedule", "every hour", "urls.txt", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot read duration 'every hour'")
    assert not list(tmp_path.iterdir())
