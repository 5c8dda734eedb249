"""The crawl-end counts: how many pages were new, changed, unchanged, and what failed and why.

Pure counting and rendering; :class:`~crawler.pipelines.seeds.SeedIndexPipeline`
feeds it one input entry at a time and keeps the figures in the crawl's stats
(``archiver/changes/...``), so that ``crawls.stats`` and the crawl-end
metadata record hold them too.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from crawler.outcomes import Change, InputOutcome

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crawler.archive import Capture

#: Stats key prefix of the counts; failures are ``archiver/changes/failed/<reason group>``.
STATS_PREFIX = "archiver/changes/"
FAILED = "failed"
NOT_DUE = str(InputOutcome.NOT_DUE)
#: Outcomes that are no fetch of their own: not counted as failures.
NOT_FAILURES = frozenset({InputOutcome.ARCHIVED, InputOutcome.DUPLICATE, InputOutcome.NOT_DUE})


def change_of(capture: Capture, change: str | None) -> str:
    """A fetched page's change: the text pipeline's verdict, else the capture's own."""
    if change:
        return change
    if capture.revisit_of is not None:
        return Change.UNCHANGED
    return Change.CHANGED if capture.seen_before else Change.NEW


def reason_group(reason: str) -> str:
    """What a reason says before its detail: ``DNS lookup failed``, ``HTTP 404 Not Found``."""
    group = reason.split(": ", 1)[0].strip()
    # Stats keys are slash-separated paths.
    return (group or "unknown").replace("/", " ")[:80]


def render(stats: Mapping[str, object]) -> str:
    """The crawl-end block, from the stats that hold the counts."""
    counts = {
        key.removeprefix(STATS_PREFIX): value
        for key, value in stats.items()
        if key.startswith(STATS_PREFIX) and isinstance(value, int)
    }
    failures = Counter(
        {k.removeprefix(FAILED + "/"): v for k, v in counts.items() if k.startswith(FAILED + "/")}
    )
    lines = [
        "Crawl-end counts: "
        + ", ".join(
            f"{counts.get(name, 0)} {name.replace('_', ' ')}"
            for name in (Change.NEW, Change.CHANGED, Change.UNCHANGED, FAILED, NOT_DUE)
        )
    ]
    lines += [f"  failed, {group}: {count}" for group, count in failures.most_common()]
    return "\n".join(lines)
