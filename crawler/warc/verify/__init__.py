"""Check WARC files strictly, ours or anyone's: the engine of ``archiver verify``.

For every record: it parses, its block digest and payload digest (entity body,
de-chunked, still content-coded) match, its mandatory headers are there, its id
is unique in the run and its ``WARC-Concurrent-To`` targets exist (in any file
of the run). For every file: one WARC version, a ``warcinfo`` record first.
ARC files are read and counted; the WARC files inside a WACZ are checked like
any other. A file that stops being readable is reported with the offset and
the reason, and the run goes on with the next file.

Everything streams: blocks are hashed as they are read, so a 10 GB file costs
no more memory than a small one (the run keeps one entry per record id).

    run = verify_paths([Path("archives/warc")])
    print(render_report(run))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.warc.verify.file import OPEN_SUFFIX, check_path
from crawler.warc.verify.record import Links
from crawler.warc.verify.report import (
    MAX_PROBLEMS_KEPT,
    MAX_PROBLEMS_SHOWN,
    FileReport,
    Problem,
    RunReport,
    render_file,
    render_report,
    render_summary,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

__all__ = [
    "ARCHIVE_SUFFIXES",
    "MAX_PROBLEMS_KEPT",
    "MAX_PROBLEMS_SHOWN",
    "FileReport",
    "Problem",
    "RunReport",
    "find_archives",
    "is_archive_name",
    "render_file",
    "render_report",
    "render_summary",
    "verify_paths",
]

#: The file names a folder is searched for (also with ``.open`` after them).
ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".wacz")


def is_archive_name(name: str) -> bool:
    name = name.lower().removesuffix(OPEN_SUFFIX)
    return name.endswith(ARCHIVE_SUFFIXES)


def find_archives(path: Path) -> list[Path]:
    """``path`` itself if it is a file (whatever its name), else the archives under it."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if is_archive_name(p.name) and p.is_file())


def verify_paths(paths: Iterable[Path]) -> RunReport:
    """Check every file given or found under the folders given, as one run.

    Raises FileNotFoundError for a path that does not exist, before reading anything.
    """
    files: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        for found in find_archives(path):
            # The same file twice would make every record id a duplicate.
            key = found.resolve()
            if key not in seen:
                seen.add(key)
                files.append(found)
    links = Links()
    run = RunReport()
    for path in files:
        run.files += check_path(path, str(path), links)
    links.resolve()
    return run
