from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scrapy.utils.test import get_crawler

from crawler import settings as project_settings
from crawler.spiders.urls import UrlsSpider
from tests.server import LocalSite

if TYPE_CHECKING:
    from collections.abc import Iterator

SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a skip when that folder is not beside the checkout."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data sets live beside the checkout")
    return path


def project_settings_dict(**overrides: Any) -> dict[str, Any]:
    """The project's settings by name, made fast and quiet for tests."""
    names = {name: getattr(project_settings, name) for name in dir(project_settings)}
    values = {name: value for name, value in names.items() if name.isupper()}
    values.update(
        DOWNLOAD_DELAY=0,
        AUTOTHROTTLE_ENABLED=False,
        RETRY_ENABLED=False,
        LOG_LEVEL="INFO",
        ARCHIVER_EXTRACT_WORKERS=1,
    )
    values.update(overrides)
    return values


@pytest.fixture(scope="session")
def site() -> Iterator[LocalSite]:
    server = LocalSite().start()
    yield server
    server.stop()


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archives"


async def run_crawl(
    archive_dir: Path, urls: str | Path, spidercls: type = UrlsSpider, **settings: Any
) -> Any:
    """Run a real crawl of ``urls`` into ``archive_dir`` and return the crawler."""
    crawler = get_crawler(
        spidercls, project_settings_dict(ARCHIVER_DIR=str(archive_dir), **settings)
    )
    await crawler.crawl_async(urls=str(urls))
    return crawler


#: Settings that make command-line crawls of the local site quick.
FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "RETRY_ENABLED=0"]


def run_module(
    module: str, *args: str, cwd: Path | None = None, stdin: str | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` in a subprocess that inherits no archive folder or project."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("ARCHIVER_DIR", "SCRAPY_SETTINGS_MODULE")
    }
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        **kwargs,
    )


def archiver(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The ``archiver`` command in a subprocess."""
    return run_module("crawler.cli", *args, **kwargs)


def write_urls(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def index_rows(archive_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    db = sqlite3.connect(archive_dir / "index.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return list(db.execute(sql, params))
    finally:
        db.close()
