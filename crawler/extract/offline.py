"""Convert pages read from WARC files into text files, streaming, with no network and no reactor.

The main process reads records (:mod:`crawler.extract.sources`) and writes the
text files; the extraction pool's workers run
:func:`crawler.extract.convert.convert_page`, the function the live crawl runs.
At most ``IN_FLIGHT_PER_WORKER`` pages per worker are waiting in the pool at
any time, so memory holds a fixed number of pages whatever the archive's size.
Files are written as conversions finish (any order); their names were fixed
when the records were read.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from crawler.extract.convert import UnreadableRecordError
from crawler.extract.sources import PageFailure, PageJob, RecordJob
from crawler.outcomes import TextOutcome
from crawler.text.document import write_document
from crawler.warc.reader import ReadProblem

if TYPE_CHECKING:
    from collections.abc import Iterable
    from concurrent.futures import Future
    from pathlib import Path

    from crawler.extract.convert import Conversion
    from crawler.extract.pool import ExtractionPool
    from crawler.extract.sources import Item

#: Pages queued per worker: enough that a worker never waits for the reader, few
#: enough that memory stays flat (each holds one page's body).
IN_FLIGHT_PER_WORKER = 4
#: Problems listed in the summary before "... and N more".
SHOWN_PROBLEMS = 20


@dataclass(slots=True)
class Summary:
    """What an extraction run did."""

    text_dir: Path
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[ReadProblem] = field(default_factory=list)
    #: Pages that could not be made or written (a revisit's original missing, a full disk).
    failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0

    @property
    def pages(self) -> int:
        return sum(self.outcomes.values())

    @property
    def ok(self) -> bool:
        """Every record was read and every text written (pages without text are not problems)."""
        return not self.problems and not self.failures


def extract_pages(
    items: Iterable[Item],
    pool: ExtractionPool,
    text_dir: Path,
    *,
    report: TextIO | None = None,
) -> Summary:
    """Convert every page of ``items`` in ``pool`` and write the texts into ``text_dir``.

    ``report`` gets one JSON line per page (name, url, outcome, reason, warc_file, offset).
    """
    summary = Summary(text_dir)
    text_dir.mkdir(parents=True, exist_ok=True)
    bound = IN_FLIGHT_PER_WORKER * pool.workers
    running: dict[Future[Conversion], PageJob | RecordJob] = {}

    def settle(done: Iterable[Future[Conversion]]) -> None:
        for future in done:
            job = running.pop(future)
            error = future.exception() if not future.cancelled() else None
            if isinstance(error, UnreadableRecordError):
                summary.problems.append(ReadProblem(job.warc_file, job.offset, str(error)))
                continue
            _finish(job, pool.outcome(future), summary, report)

    for item in items:
        if isinstance(item, ReadProblem):
            summary.problems.append(item)
        elif isinstance(item, PageFailure):
            summary.failures.append(f"{item.warc_file}: {item.url}: {item.reason}")
            _count(summary, report, item, TextOutcome.FAILED, item.reason)
        else:
            while len(running) >= bound:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                settle(done)
            if isinstance(item, RecordJob):
                running[
                    pool.submit_record(
                        item.warc_file, item.offset, url=item.url, original_url=item.original_url
                    )
                ] = item
                continue
            future = pool.submit(
                item.body,
                status=item.status,
                reason=item.reason,
                headers=item.headers,
                url=item.url,
                original_url=item.original_url,
                fetched=item.fetched,
                truncated=item.truncated,
            )
            running[future] = item
    while running:
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        settle(done)
    summary.elapsed = time.monotonic() - summary.started
    return summary


def _finish(
    job: PageJob | RecordJob, conversion: Conversion, summary: Summary, report: TextIO | None
) -> None:
    outcome, reason = conversion.outcome, conversion.reason
    if outcome == TextOutcome.WRITTEN and conversion.text is not None:
        try:
            # Not synced one by one: the WARC files hold everything to rebuild it again.
            write_document(summary.text_dir, job.name, conversion.text, durable=False)
        except (OSError, ValueError) as exc:
            path = summary.text_dir / job.name
            outcome, reason = TextOutcome.FAILED, f"could not write text file {path}: {exc}"
            summary.failures.append(reason)
    _count(summary, report, job, outcome, reason)


def _count(
    summary: Summary,
    report: TextIO | None,
    page: PageJob | RecordJob | PageFailure,
    outcome: TextOutcome,
    reason: str | None,
) -> None:
    summary.outcomes[str(outcome)] += 1
    if report is not None:
        row: dict[str, Any] = {
            "name": page.name,
            "url": page.url,
            "outcome": str(outcome),
            "reason": reason,
            "warc_file": page.warc_file,
            "offset": page.offset,
        }
        report.write(json.dumps(row, ensure_ascii=False) + "\n")


def render_summary(summary: Summary, *, files: int) -> str:
    """The summary printed at the end of ``archiver extract``."""
    rate = summary.pages / summary.elapsed if summary.elapsed > 0 else 0.0
    lines = [
        f"{summary.pages} page(s) from {files} file(s) in {summary.elapsed:.1f} s "
        f"({rate:.1f} pages/s); text in {summary.text_dir}"
    ]
    for outcome in TextOutcome:
        lines.append(f"  {outcome.value:<11} {summary.outcomes.get(str(outcome), 0)}")
    if summary.problems:
        lines.append(f"unreadable: {len(summary.problems)} file(s) or record(s)")
        lines.extend(f"  {problem}" for problem in summary.problems[:SHOWN_PROBLEMS])
        if len(summary.problems) > SHOWN_PROBLEMS:
            lines.append(f"  ... and {len(summary.problems) - SHOWN_PROBLEMS} more")
    else:
        lines.append("every record was read")
    if summary.failures:
        lines.append(f"failed: {len(summary.failures)} page(s)")
        lines.extend(f"  {failure}" for failure in summary.failures[:SHOWN_PROBLEMS])
        if len(summary.failures) > SHOWN_PROBLEMS:
            lines.append(f"  ... and {len(summary.failures) - SHOWN_PROBLEMS} more")
    return "\n".join(lines)
