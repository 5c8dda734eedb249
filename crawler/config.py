"""Check the ARCHIVER_* settings before a crawl starts, with messages a user can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.utils.misc import load_object

from crawler.due import due_setting
from crawler.replay import replay_problems
from crawler.spidermiddlewares.requisites import HOSTS as REQUISITE_HOSTS

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.settings import BaseSettings


def _number(settings: BaseSettings, name: str, kind: Callable[[str], float]) -> float | str:
    value = settings.get(name)
    try:
        return kind(value)
    except (TypeError, ValueError):
        return f"{name} must be a number, not {value!r}"


def setting_problems(settings: BaseSettings) -> list[str]:
    """What is wrong with the archiver's settings, one sentence each."""
    problems = []
    bounds = (
        ("ARCHIVER_WARC_MAX_SIZE", int, 1, None),
        ("ARCHIVER_WARC_GZIP_LEVEL", int, 0, 9),
        ("ARCHIVER_EXTRACT_WORKERS", int, 0, None),
        ("ARCHIVER_EXTRACT_TIMEOUT", float, 0.001, None),
        ("ARCHIVER_MAX_CRAWL_DELAY", float, 0, None),
        ("ARCHIVER_MAX_RETRY_AFTER", float, 0, None),
        ("ARCHIVER_REQUISITES_MAX", int, 1, None),
        ("ARCHIVER_PROGRESS_INTERVAL", float, 0, None),
        ("ARCHIVER_FRONTIER_PREFETCH", int, 1, None),
        ("ARCHIVER_FRONTIER_LEASE_TTL", float, 0.001, None),
        ("ARCHIVER_FRONTIER_MAX_QUEUED", int, 0, None),
        ("ARCHIVER_HOST_SLOT_TTL", float, 0.001, None),
        ("ARCHIVER_MAX_DECODED_SIZE", int, 1, None),
        ("ARCHIVER_ROBOTSTXT_MAX_SIZE", int, 1, None),
    )
    for name, kind, low, high in bounds:
        value = _number(settings, name, kind)
        if isinstance(value, str):
            problems.append(value)
        elif value < low or (high is not None and value > high):
            limits = f"from {low} to {high}" if high is not None else f"at least {low}"
            problems.append(f"{name} must be {limits}, not {value:g}")
    wayback = str(settings.get("ARCHIVER_WAYBACK_URL") or "")
    if not wayback.startswith(("http://", "https://")):
        problems.append(f"ARCHIVER_WAYBACK_URL must be an http(s) URL, not {wayback!r}")
    hosts = settings.get("ARCHIVER_REQUISITES_HOSTS")
    if hosts not in REQUISITE_HOSTS:
        problems.append(f"ARCHIVER_REQUISITES_HOSTS must be all or same, not {hosts!r}")
    problems += replay_problems(
        str(settings.get("ARCHIVER_REPLAY") or ""), str(settings.get("ARCHIVER_REPLAY_AT") or "")
    )
    try:
        due_setting(settings.get("ARCHIVER_DUE"))
    except ValueError as exc:
        problems.append(f"ARCHIVER_DUE: {exc}")
    try:
        text = settings.getbool("ARCHIVER_TEXT_ENABLED")
    except ValueError:
        value = settings.get("ARCHIVER_TEXT_ENABLED")
        problems.append(f"ARCHIVER_TEXT_ENABLED must be True or False, not {value!r}")
        text = True
    if text:
        # Loading the function imports trafilatura: only a crawl that extracts text pays it.
        problems += _extract_function_problems(settings.get("ARCHIVER_EXTRACT_FUNCTION"))
    return problems


def _extract_function_problems(function: Any) -> list[str]:
    try:
        if not callable(load_object(function)):
            return [f"ARCHIVER_EXTRACT_FUNCTION {function!r} is not a function"]
    except (ImportError, NameError, ValueError, AttributeError) as exc:
        return [f"ARCHIVER_EXTRACT_FUNCTION {function!r} cannot be loaded: {exc}"]
    return []
