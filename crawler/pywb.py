"""Serve an archive folder with pywb: find its programs, write its configuration.

pywb pins an old ``redis`` and ``fakeredis`` that clash with the crawler's own
dependencies, so it lives in a virtual environment of its own (``.ci/run``
makes ``.venv-pywb`` at the repository root) and runs as a separate process.
Its programs (``wayback``, and ``wacz`` beside it) are looked for, in order:
the folder given on the command line, ``$ARCHIVER_PYWB_BIN``, the
repository's ``.venv-pywb/bin``, then ``PATH``.

pywb reads the archive in place: the collection ``archive`` takes its WARC
files from ``DIR/warc/`` and its index from ``DIR/indexes/`` (every ``.cdxj``
file there), so nothing is copied and a new crawl is visible at once.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.cdxj import write_cdxj

if TYPE_CHECKING:
    from crawler.layout import Layout
    from crawler.warc.reader import ReadProblem

#: The collection name in replay URLs: ``/archive/<timestamp>/<url>``.
COLLECTION = "archive"
#: The folder under ``DIR/indexes/`` that holds pywb's ``config.yaml``.
WORKDIR_NAME = "pywb"
PYWB_BIN_ENV = "ARCHIVER_PYWB_BIN"
REPOSITORY = Path(__file__).resolve().parents[1]
INSTALL_COMMAND = (
    "python3 -m venv .venv-pywb && .venv-pywb/bin/pip install 'pywb>=2.10' 'wacz>=0.5'"
)


class ToolNotFoundError(LookupError):
    """A program of pywb's environment is not installed where we look."""


def candidate_dirs(explicit: str | None = None) -> list[Path]:
    """Folders that may hold pywb's programs, in the order they are tried."""
    folders = [Path(explicit)] if explicit else []
    if os.environ.get(PYWB_BIN_ENV):
        folders.append(Path(os.environ[PYWB_BIN_ENV]))
    folders.append(REPOSITORY / ".venv-pywb" / "bin")
    return folders


def find_tool(name: str, explicit: str | None = None) -> Path:
    """The path of program ``name`` (``wayback``, ``wacz``) of pywb's environment."""
    for folder in candidate_dirs(explicit):
        path = folder / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if found:
        return Path(found)
    tried = ", ".join(str(folder) for folder in candidate_dirs(explicit))
    raise ToolNotFoundError(
        f"{name} not found (looked in {tried} and PATH); install pywb in its own "
        f"virtual environment, from the repository: {INSTALL_COMMAND}"
    )


def ensure_cdxj(layout: Layout) -> tuple[Path, list[ReadProblem]]:
    """The archive's CDXJ index, written afresh from its WARC files, and what could not be read.

    Written from the files themselves, not trusted by age: a WARC file copied in
    with its old modification time (``cp -p``, ``rsync -a``), or one removed,
    would otherwise leave pages out of replay or point at nothing.
    """
    problems: list[ReadProblem] = []
    return write_cdxj(layout, problems), problems


def write_config(layout: Layout) -> Path:
    """Write pywb's ``config.yaml`` for ``layout``; return the folder that holds it."""
    workdir = layout.indexes_dir / WORKDIR_NAME
    workdir.mkdir(parents=True, exist_ok=True)
    # pywb joins each CDXJ line's ``filename`` to archive_paths, so both need
    # their trailing slash; absolute paths let pywb run from any folder. JSON
    # strings are valid YAML scalars, which quotes odd folder names safely.
    collection = {
        "archive_paths": _folder(layout.warc_dir),
        "index_paths": _folder(layout.indexes_dir),
    }
    lines = [
        "# Written by `archiver serve`: pywb serves the archive folder in place.",
        "collections:",
        f"  {COLLECTION}:",
        *(f"    {key}: {json.dumps(value)}" for key, value in collection.items()),
        # Timemaps and Memento headers, as replay clients expect.
        "enable_memento: true",
        "",
    ]
    (workdir / "config.yaml").write_text("\n".join(lines), encoding="utf-8")
    return workdir


def wayback_command(wayback: Path, workdir: Path, *, bind: str, port: int) -> list[str]:
    """The command line that serves ``workdir``'s configuration."""
    return [str(wayback), "-d", str(workdir), "-b", bind, "-p", str(port)]


def replay_root(bind: str, port: int) -> str:
    """The collection's address for a browser (an any-address bind is reached locally)."""
    host = "localhost" if bind in ("", "0.0.0.0", "::") else bind
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/{COLLECTION}/"


def _folder(path: Path) -> str:
    return str(path.resolve()) + os.sep
