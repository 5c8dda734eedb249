"""Extraction functions for tests of the worker pool: they hang or crash on demand.

Loaded by dotted path (ARCHIVER_EXTRACT_FUNCTION) in worker processes, so they
live in an importable module rather than in a test.
"""

from __future__ import annotations

import os
import time
from typing import Any

from crawler.extract.page import Extraction, extract_page
from crawler.outcomes import ExtractionOutcome


def misbehaving(body: bytes, *, url: str, **kwargs: Any) -> Extraction:
    """Hang on URLs that contain "hang", kill the worker on "crash", else extract."""
    if "hang" in url:
        time.sleep(600)
    if "crash" in url:
        os._exit(3)
    return extract_page(body, url=url, **kwargs)


def reports_its_process(body: bytes, *, url: str, **kwargs: Any) -> Extraction:
    """Title: this worker's pid and the pid of the process that warmed it up; exits on "crash"."""
    from crawler.extract import warm

    if "crash" in url:
        os._exit(3)
    title = f"worker {os.getpid()} warmed by {warm.PROCESS}"
    return Extraction(ExtractionOutcome.TEXT, title=title, paragraphs=("Some text.",))


def reports_its_environment(body: bytes, *, url: str, **kwargs: Any) -> Extraction:
    """Title: this worker's PYTHONPATH and PYTHONSAFEPATH ("-" when unset)."""
    values = (os.environ.get(name, "-") for name in ("PYTHONPATH", "PYTHONSAFEPATH"))
    return Extraction(ExtractionOutcome.TEXT, title=" | ".join(values), paragraphs=("Text.",))
