"""The exit codes of a crawl (``archiver crawl``, ``scrapy crawl``, ``archiver rebuild``).

=====  ===============================================================
code   meaning
=====  ===============================================================
0      the crawl reached its end and every input entry was archived,
       or skipped as a duplicate or as not due
1      the crawl stopped before its end (interrupted, the archive could
       not be written...), or it reached its end with a fault the user
       must look at (:data:`FAULT_STATS`)
2      a bad command line: nothing was written
3      the crawl reached its end but some input entries failed (any
       outcome outside :data:`crawler.changes.NOT_FAILURES`)
=====  ===============================================================

The failed entries are read from the crawl's ``archiver/seeds/<outcome>``
stats, so that an outcome added to :class:`~crawler.outcomes.InputOutcome`
counts as a failure unless it is made one of ``NOT_FAILURES``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.changes import NOT_FAILURES
from crawler.outcomes import InputOutcome

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

OK = 0
STOPPED = 1
USAGE = 2
SOME_FAILED = 3

#: The exit codes of a crawl, as its ``--help`` lists them.
CRAWL_EXIT_CODES = (
    (OK, "it reached its end: every entry archived, or skipped (duplicate, not due)"),
    (SOME_FAILED, "it reached its end, but some entries failed (see the log's counts)"),
    (STOPPED, "it stopped before its end, or reached it with a fault (see the log)"),
    (USAGE, "a bad command line, or the folder is in use: nothing written"),
)
#: The only close reason of a crawl that reached its end.
FINISHED = "finished"
#: Stats of faults that leave the archive or the corpus short of what the crawl
#: reports, even when it reached its end: any of them above zero gives exit code 1.
FAULT_STATS = (
    "archiver/write_errors",
    "archiver/warc/close_errors",
    "archiver/cdxj/errors",
    "archiver/text/write_errors",
    "archiver/index/finish_errors",
    "archiver/recover/problems",
)
#: Stats whose names begin so are faults too: a feed export (``--items``, ``-O``) whose
#: file could not be stored (Scrapy counts them per storage, e.g. ``.../FileFeedStorage``).
FAULT_STAT_PREFIXES = ("feedexport/failed_count/",)
#: Where the seed pipeline counts each input entry's outcome.
SEED_STATS_PREFIX = "archiver/seeds/"


def failed_entries(stats: Mapping[str, object]) -> dict[str, int]:
    """How many input entries ended with each failure outcome (non-zero counts only)."""
    failures = {}
    for outcome in InputOutcome:
        count = stats.get(SEED_STATS_PREFIX + outcome)
        if outcome not in NOT_FAILURES and isinstance(count, int) and count > 0:
            failures[str(outcome)] = count
    return failures


def faults(stats: Mapping[str, object]) -> dict[str, int]:
    """The :data:`FAULT_STATS` (and :data:`FAULT_STAT_PREFIXES`) above zero, by name."""
    return {
        name: count
        for name, count in stats.items()
        if (name in FAULT_STATS or name.startswith(FAULT_STAT_PREFIXES))
        and isinstance(count, int)
        and count > 0
    }


def crawl_exit_code(reasons: Iterable[str], stats: Mapping[str, object]) -> int:
    """The exit code of a crawl from its close reasons (one per spider) and its stats."""
    reasons = list(reasons)
    if not reasons or any(reason != FINISHED for reason in reasons) or faults(stats):
        return STOPPED
    return SOME_FAILED if failed_entries(stats) else OK


def explain(code: int, reasons: Iterable[str], stats: Mapping[str, object]) -> str | None:
    """One line that says why a crawl's exit code is not 0, or None for 0."""
    if code == OK:
        return None
    reasons = list(reasons)
    if code == SOME_FAILED:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in failed_entries(stats).items())
        return f"Exit code 3: some input entries were not archived ({counts})"
    stopped = [reason for reason in reasons if reason != FINISHED]
    if stopped or not reasons:
        why = ", ".join(stopped) or "it did not start"
        return f"Exit code 1: the crawl stopped before its end ({why})"
    counts = ", ".join(f"{name}: {n}" for name, n in faults(stats).items())
    return f"Exit code 1: the crawl reached its end with faults to look at ({counts})"
