"""The end report of a crawl: what it did, what failed and why, where it went, its exit code.

:func:`build_report` makes it from the crawl's stats and what the index says
(:class:`IndexFacts`); :func:`render_report` gives the few lines the log shows;
:func:`write_report` writes it as JSON into the archive folder, as
``reports/crawl-<crawl id>.json`` and a copy ``reports/latest.json`` (see
:mod:`crawler.layout`), each replaced atomically, for whoever monitors
scheduled crawls. A crawl with no number (its archive could not be opened)
only gets ``latest.json``.

Failures are grouped by what their reason says before its detail
(:func:`crawler.changes.reason_group`), most common first: at most
:data:`GROUPS_SHOWN` groups, each with at most :data:`EXAMPLES_PER_GROUP`
example URLs, the same in the log and in the JSON.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crawler import changes
from crawler.durations import format_duration
from crawler.exitcodes import (
    CRAWL_EXIT_CODES,
    FINISHED,
    SEED_STATS_PREFIX,
    crawl_exit_code,
    explain,
    faults,
)
from crawler.layout import Layout
from crawler.outcomes import InputOutcome
from crawler.spiders.urls import RESUME_SKIPPED_STAT

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

#: Version of the JSON report's layout; raised when a field changes meaning or goes.
REPORT_FORMAT = 1
#: Failure groups shown, most common first (the others are counted together).
GROUPS_SHOWN = 10
#: Example URLs shown per failure group.
EXAMPLES_PER_GROUP = 3
#: An example URL longer than this is cut in the log (the JSON has it whole).
EXAMPLE_LENGTH = 200
#: Stats keys of the failure groups (the seed pipeline counts them).
FAILED_GROUP_PREFIX = f"{changes.STATS_PREFIX}{changes.FAILED}/"
CHANGE_NAMES = ("new", "changed", "unchanged", changes.FAILED, changes.NOT_DUE)


@dataclass(slots=True)
class IndexFacts:
    """What the report takes from the index, read after the crawl closed it."""

    started_at: str | None = None
    finished_at: str | None = None
    input: str | None = None
    #: The WARC files holding the crawl's captures: name, size in bytes (None: not found).
    warc_files: list[tuple[str, int | None]] = field(default_factory=list)
    #: Example URLs of each failure group.
    examples: dict[str, list[str]] = field(default_factory=dict)
    #: Why the index could not be read, when it could not.
    problem: str | None = None


def failure_groups(stats: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(group, count) of the failed entries, most common first."""
    groups = [
        (key.removeprefix(FAILED_GROUP_PREFIX), count)
        for key, count in stats.items()
        if key.startswith(FAILED_GROUP_PREFIX) and isinstance(count, int) and count > 0
    ]
    return sorted(groups, key=lambda group: (-group[1], group[0]))


def _count(stats: Mapping[str, Any], key: str) -> int:
    value = stats.get(key)
    return value if isinstance(value, int) else 0


def _rate(count: float, seconds: float) -> float:
    return round(count / seconds, 2) if seconds > 0 else 0.0


def build_report(
    *,
    crawl_id: int | None,
    spider: str,
    reason: str,
    stats: Mapping[str, Any],
    facts: IndexFacts,
    layout: Layout,
    total: int | None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict: the crawl's ``stats`` at its end and the index's facts."""
    outcomes = {str(o): _count(stats, SEED_STATS_PREFIX + o) for o in InputOutcome}
    done = sum(outcomes.values())
    groups = failure_groups(stats)
    shown = groups[:GROUPS_SHOWN]
    elapsed = float(stats.get("elapsed_time_seconds") or 0.0)
    pages = _count(stats, "response_received_count")
    warc_bytes = sum(size for _, size in facts.warc_files if size is not None)
    code = crawl_exit_code([reason], stats)
    meaning = dict(CRAWL_EXIT_CODES)[code]
    why = explain(code, [reason], stats)
    where = Layout(layout.root.absolute())
    return {
        "format": REPORT_FORMAT,
        "crawl": crawl_id,
        "spider": spider,
        "input": facts.input,
        "started_at": facts.started_at,
        "finished_at": facts.finished_at,
        "finish_reason": reason,
        "elapsed_seconds": round(elapsed, 3),
        "entries": {
            "done": done,
            "total": total,
            "resume_skipped": _count(stats, RESUME_SKIPPED_STAT),
        },
        "outcomes": outcomes,
        "changes": {name: _count(stats, changes.STATS_PREFIX + name) for name in CHANGE_NAMES},
        "failures": {
            "count": sum(count for _, count in groups),
            "groups": [
                {"reason": group, "count": count, "examples": facts.examples.get(group, [])}
                for group, count in shown
            ],
            "groups_not_shown": len(groups) - len(shown),
            "failed_not_shown": sum(count for _, count in groups[GROUPS_SHOWN:]),
        },
        "throughput": {
            "pages": pages,
            "bytes_archived": warc_bytes,
            "bytes_downloaded": _count(stats, "downloader/response_bytes"),
            "entries_per_second": _rate(done, elapsed),
            "pages_per_second": _rate(pages, elapsed),
        },
        "paths": {
            "archive": str(where.root),
            "warc_dir": str(where.warc_dir),
            "warc_files": [name for name, _ in facts.warc_files],
            "text_dir": str(where.text_dir),
            "text_files_written": _count(stats, "archiver/text/written"),
            "index": str(where.index),
            "cdxj": str(where.cdxj),
        },
        "faults": faults(stats),
        "index_problem": facts.problem,
        "exit_code": code,
        "exit_reason": why.split(": ", 1)[1] if why else meaning,
    }


def _examples(examples: list[str]) -> str:
    cut = [
        url if len(url) <= EXAMPLE_LENGTH else url[: EXAMPLE_LENGTH - 3] + "..." for url in examples
    ]
    return ", ".join(cut)


def render_report(report: Mapping[str, Any], written: Path | None) -> str:
    """The report's lines for the log; ``written`` is where its JSON went (None: nowhere)."""
    entries, speed, paths = report["entries"], report["throughput"], report["paths"]
    crawl = f"Crawl {report['crawl']}" if report["crawl"] is not None else "The crawl"
    done = f"{entries['done']:,} entries"
    if report["finish_reason"] == FINISHED:
        head = f"{crawl} finished in {format_duration(report['elapsed_seconds'])}: {done}"
    else:
        if entries["total"] is not None:
            done = f"{entries['done']:,} of {entries['total']:,} entries"
        head = (
            f"{crawl} stopped ({report['finish_reason']}) after "
            f"{format_duration(report['elapsed_seconds'])}: {done}"
        )
    lines = [
        f"{head} ({speed['entries_per_second']:,.1f} entries/s; {speed['pages']:,} pages, "
        f"{speed['pages_per_second']:,.1f} pages/s; {speed['bytes_archived']:,} bytes archived)"
    ]
    outcomes = [f"{n:,} {name.replace('_', ' ')}" for name, n in report["outcomes"].items() if n]
    lines.append("  Outcomes: " + (", ".join(outcomes) or "none"))
    lines.append(
        "  Crawl-end counts: "
        + ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in report["changes"].items())
    )
    failures = report["failures"]
    if failures["count"]:
        lines.append(
            f"  Failed by reason ({failures['count']:,}; at most {GROUPS_SHOWN} reasons, "
            f"{EXAMPLES_PER_GROUP} URLs each):"
        )
        for group in failures["groups"]:
            examples = f": {_examples(group['examples'])}" if group["examples"] else ""
            lines.append(f"    {group['reason']} ({group['count']:,}){examples}")
        if failures["groups_not_shown"]:
            lines.append(
                f"    {failures['failed_not_shown']:,} more in "
                f"{failures['groups_not_shown']:,} other reasons (see the failures view)"
            )
    files = paths["warc_files"]
    lines.append(
        f"  WARC files: {paths['warc_dir']} ({len(files)} with this crawl's captures"
        + (f": {', '.join(files[:3])}{', ...' if len(files) > 3 else ''})" if files else ")")
    )
    lines.append(f"  Text files: {paths['text_dir']} ({paths['text_files_written']:,} written)")
    lines.append(f"  Index: {paths['index']} (replay index: {paths['cdxj']})")
    if report["index_problem"]:
        lines.append(f"  The index could not be read for this report: {report['index_problem']}")
    lines.append(f"  This report: {written}" if written else "  This report: not written")
    lines.append(f"  Exits with code {report['exit_code']}: {report['exit_reason']}")
    return "\n".join(lines)


def write_report(layout: Layout, report: Mapping[str, Any]) -> Path:
    """Write ``report`` as its crawl's JSON report and as ``latest.json``; the first one.

    Each file is written beside its final name and renamed over it: a reader sees
    the old report or the new one, never half of one. OSError if it cannot be written.
    """
    data = (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    layout.reports_dir.mkdir(parents=True, exist_ok=True)
    crawl_id = report.get("crawl")
    targets = [layout.crawl_report(crawl_id)] if isinstance(crawl_id, int) else []
    targets.append(layout.latest_report)
    for target in targets:
        _replace_atomically(target, data)
    return targets[0]


def _replace_atomically(target: Path, data: bytes) -> None:
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # Made as any file of the archive is (0o666 less the umask), unlike mkstemp's 0o600.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
