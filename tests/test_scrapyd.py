"""The project deployed to a real Scrapyd with scrapyd-deploy, and a crawl that Scrapyd runs.

Scrapyd and scrapyd-client come with the ``test`` extra (``.ci/run`` installs them); without
them these tests skip. Scrapyd is started on 127.0.0.1 with a configuration of its own under
the test's folder, and runs its jobs with this virtual environment's Python, which has the
archiver's dependencies; the code comes from the deployed egg.

scrapyd-deploy builds the egg in the project folder (``setup.py bdist_egg`` leaves ``build/``
and ``archiver.egg-info`` there), so it runs in a copy of the checkout's project files.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

from tests.conftest import index_rows, write_urls

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.server import LocalSite

BIN = Path(sys.executable).parent
REPOSITORY = Path(__file__).resolve().parents[1]
#: What scrapyd-deploy reads of the checkout to build the egg, besides crawler/.
PROJECT_FILES = ("pyproject.toml", "setup.py", "scrapy.cfg", "README.md")
#: Seconds Scrapyd may take to answer after its start, and a job to finish.
START_TIMEOUT = 30.0
JOB_TIMEOUT = 120.0
#: Free ports are picked, then bound by Scrapyd: another process may take one in between.
START_ATTEMPTS = 3
POLL = 0.2


def tool(name: str) -> Path:
    """A command of this virtual environment, or a skip when it is not installed."""
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed in {BIN}: pip install -e '.[test]' installs it")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The environment without any archive folder or Scrapy project of the caller's."""
    names = ("ARCHIVER_DIR", "SCRAPY_SETTINGS_MODULE", "SCRAPY_PROJECT")
    return {k: v for k, v in os.environ.items() if k not in names}


def call(url: str, data: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """A Scrapyd API call: GET, or POST of form fields; its JSON answer."""
    body = urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(url, data=body, timeout=10) as answer:
        result: dict[str, Any] = json.load(answer)
    return result


def copy_project(target: Path, deploy_url: str) -> Path:
    """The checkout's project files in ``target``, with a ``test`` target in scrapy.cfg."""
    target.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(REPOSITORY / name, target / name)
    shutil.copytree(
        REPOSITORY / "crawler", target / "crawler", ignore=shutil.ignore_patterns("__pycache__")
    )
    with (target / "scrapy.cfg").open("a", encoding="utf-8") as cfg:
        cfg.write(f"\n[deploy:test]\nurl = {deploy_url}\nproject = archiver\n")
    return target


class Scrapyd:
    """A Scrapyd process on 127.0.0.1 with its folders under ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.output = home / "scrapyd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> Scrapyd:
        self.home.mkdir(exist_ok=True)
        for _ in range(START_ATTEMPTS):
            port = free_port()
            (self.home / "scrapyd.conf").write_text(
                "[scrapyd]\n"
                "bind_address = 127.0.0.1\n"
                f"http_port = {port}\n"
                f"eggs_dir = {self.home / 'eggs'}\n"
                f"logs_dir = {self.home / 'logs'}\n"
                f"items_dir = {self.home / 'items'}\n"
                f"dbs_dir = {self.home / 'dbs'}\n"
                f"poll_interval = {POLL}\n",
                encoding="utf-8",
            )
            self.url = f"http://127.0.0.1:{port}/"
            with self.output.open("wb") as out:
                # Scrapyd reads scrapyd.conf from its working folder, and so do its jobs.
                self.process = subprocess.Popen(
                    [str(tool("scrapyd"))],
                    cwd=self.home,
                    env=clean_env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_until_up():
                return self
        raise AssertionError(f"Scrapyd did not start:\n{self.log()}")

    def _wait_until_up(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # its port was taken, most likely: try another
            try:
                return call(self.url + "daemonstatus.json")["status"] == "ok"
            except OSError:
                time.sleep(POLL)
        self.stop()
        return False

    def log(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, project: str, job: str) -> dict[str, Any]:
        """The job's entry in listjobs.json once it has finished."""
        deadline = time.monotonic() + JOB_TIMEOUT
        while time.monotonic() < deadline:
            jobs = call(self.url + f"listjobs.json?project={project}")
            finished = [entry for entry in jobs["finished"] if entry["id"] == job]
            if finished:
                return finished[0]
            time.sleep(POLL)
        raise AssertionError(f"job {job} still not finished:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def scrapyd(tmp_path: Path) -> Iterator[Scrapyd]:
    tool("scrapyd-deploy")
    server = Scrapyd(tmp_path / "scrapyd").start()
    yield server
    server.stop()


def test_scrapy_cfg_deploys_to_a_local_scrapyd_as_archiver() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPOSITORY / "scrapy.cfg", encoding="utf-8")
    assert dict(cfg["deploy"]) == {"url": "http://localhost:6800/", "project": "archiver"}
    assert cfg["settings"]["default"] == "crawler.settings"


def test_egg_holds_every_module_and_the_settings_entry_point(tmp_path: Path) -> None:
    deploy = tool("scrapyd-deploy")
    project = copy_project(tmp_path / "project", "http://127.0.0.1:9/")
    egg = tmp_path / "archiver.egg"
    result = subprocess.run(
        [str(deploy), "--build-egg", str(egg)],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(egg) as archive:
        names = set(archive.namelist())
        entry_points = archive.read("EGG-INFO/entry_points.txt").decode()
    modules = {
        path.relative_to(REPOSITORY).as_posix()
        for path in (REPOSITORY / "crawler").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert modules - names == set()
    packages = {module.rsplit("/", 1)[0] for module in modules}
    assert {f"{package}/__init__.py" for package in packages} <= names
    assert "[scrapy]\nsettings = crawler.settings" in entry_points


def test_scrapyd_runs_a_deployed_crawl(scrapyd: Scrapyd, site: LocalSite, tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project", scrapyd.url)
    deployed = subprocess.run(
        [str(tool("scrapyd-deploy")), "test", "--version", "1"],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout
    assert json.loads(deployed.stdout)["status"] == "ok"
    spiders = call(scrapyd.url + "listspiders.json?project=archiver")["spiders"]
    assert spiders == ["frontier", "urls"]

    urls = write_urls(tmp_path / "urls.txt", site.url("/page"), site.url("/gzip"))
    archive = tmp_path / "archives"
    settings = {
        "ARCHIVER_DIR": str(archive),
        "ARCHIVER_EXTRACT_WORKERS": "1",
        "DOWNLOAD_DELAY": "0",
        "AUTOTHROTTLE_ENABLED": "False",
        "RETRY_ENABLED": "False",
    }
    scheduled = call(
        scrapyd.url + "schedule.json",
        [("project", "archiver"), ("spider", "urls"), ("urls", str(urls))]
        + [("setting", f"{name}={value}") for name, value in settings.items()],
    )
    assert scheduled["status"] == "ok", scheduled
    job = scrapyd.wait_for("archiver", scheduled["jobid"])

    log = (scrapyd.home / "logs/archiver/urls" / f"{job['id']}.log").read_text(encoding="utf-8")
    # The deployed project's own extensions ran (its end report).
    assert "[crawler.extensions.report] INFO: Crawl 1 finished in " in log
    assert " ERROR: " not in log, log
    assert "Process finished" in scrapyd.log()  # exit code 0: every entry archived
    rows = index_rows(archive, "SELECT url, outcome, text_path FROM seeds ORDER BY position")
    assert [(row["url"], row["outcome"]) for row in rows] == [
        (site.url("/page"), "archived"),
        (site.url("/gzip"), "archived"),
    ]
    assert all((archive / row["text_path"]).is_file() for row in rows)
    warcs = sorted((archive / "warc").iterdir())
    assert [path.suffixes[-2:] for path in warcs] == [[".warc", ".gz"]]
    # Scrapyd's item feed: one line per input entry, what became of it.
    feed = scrapyd.home / "items/archiver/urls" / f"{job['id']}.jl"
    items = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines()]
    assert sorted(item["url"] for item in items) == sorted(row["url"] for row in rows)
    assert {item["outcome"] for item in items} == {"archived"}
    assert all(item["warc_file"] == warcs[0].name for item in items)
