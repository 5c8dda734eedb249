"""Run page conversions in worker processes, each within a time limit.

Workers are separate processes, so a page that hangs or crashes its worker
costs that page only: pebble kills a worker that runs past the time limit and
replaces any worker that dies, and the page gets an outcome that says which of
the two happened.

Workers are forked from a server process (multiprocessing's ``forkserver``),
never from the crawl's threaded process. The server imports
:mod:`crawler.extract.warm` once, so every worker, and every one that replaces
another after :data:`TASKS_PER_WORKER` pages or a crash, starts with
trafilatura loaded and dateparser's tables built: about 1.5 s of CPU paid once
per process instead of once per worker. The pool starts the server when it is
made, so that it warms up while the crawl starts. The server lives as long as
the process that started it and serves every pool that process makes; workers
see the environment variables of the moment it started (their working folder
and ``sys.path`` are the caller's when each starts). Where there is no
``forkserver`` (Windows), workers are spawned and warm up one by one.

The pool serves two callers: a crawl, on Twisted's reactor (:meth:`run` gives a
Deferred), and the offline commands, with no reactor at all (:meth:`submit`
and :meth:`outcome`). Twisted's reactor is imported only inside :meth:`run`:
importing it at module level would install the wrong reactor in every command
that imports this module.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import CancelledError, TimeoutError
from typing import TYPE_CHECKING, Any

from pebble import ProcessExpired, ProcessPool

from crawler.extract.convert import Conversion, convert_page, convert_record
from crawler.outcomes import TextOutcome

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from twisted.internet.defer import Deferred

    from crawler.extract.page import Extraction

logger = logging.getLogger(__name__)

#: A worker is replaced after this many pages, which bounds what a leak can cost.
TASKS_PER_WORKER = 1000


#: The module the worker server imports before it forks any worker.
WARM_MODULE = "crawler.extract.warm"


def _warm_up() -> None:
    # Pay the warm-up in the new worker, not in its first page's time limit (a forked
    # worker has it already).
    import crawler.extract.warm  # noqa: F401


def _nothing() -> None:
    """The task that makes pebble fork the first workers."""


def worker_context() -> multiprocessing.context.BaseContext:
    """How workers start: forked from the warm server, or spawned where there is none."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Has no effect once the server runs (a pool made before in this process): it has it.
    context.set_forkserver_preload([WARM_MODULE])
    # Started now, not at the first page: it warms up while the crawl starts.
    from multiprocessing import forkserver

    forkserver.ensure_running()
    return context


class ExtractionPool:
    """Worker processes that each run :func:`convert_page` for a page.

    ``extract`` is the extraction function the conversion calls (a module-level
    function: the workers import it by name).
    """

    def __init__(self, extract: Callable[..., Extraction], *, workers: int, timeout: float) -> None:
        if workers < 1:
            raise ValueError(f"an extraction pool needs at least one worker, not {workers}")
        if timeout <= 0:
            raise ValueError(f"the extraction time limit must be positive, not {timeout}")
        self.extract = extract
        self.timeout = timeout
        self.workers = workers
        self._pool = ProcessPool(
            max_workers=workers,
            max_tasks=TASKS_PER_WORKER,
            initializer=_warm_up,
            context=worker_context(),
        )
        self._lock = threading.Lock()
        self._started = False
        self._waiting: list[Callable[[], None]] = []
        self._starter = threading.Thread(
            target=self._start, name="extraction-pool-start", daemon=True
        )
        self._starter.start()

    def _start(self) -> None:
        """Fork the first workers here, not in the thread of the first page.

        pebble forks them at its first task, and a fork waits for the server's
        warm-up (about 1.5 s): the reactor would stand still that long, where it
        can fetch and archive the pages the workers then start on. Pages that
        :meth:`run` gets before the workers are there wait in a list.
        """
        try:
            self._pool.schedule(_nothing)
        except Exception:  # each page's submit then fails and says why
            logger.debug("the extraction pool did not start", exc_info=True)
        with self._lock:
            self._started = True
            waiting, self._waiting = self._waiting, []
        if waiting:
            from twisted.internet import reactor

            reactor.callFromThread(_call_each, waiting)  # type: ignore[attr-defined]

    def submit(self, body: bytes, **kwargs: Any) -> Future[Conversion]:
        """Convert in a worker (``convert_page``'s keyword arguments); see :meth:`outcome`."""
        kwargs["extract"] = self.extract
        return self._pool.schedule(convert_page, args=(body,), kwargs=kwargs, timeout=self.timeout)

    def submit_record(self, path: str, offset: int, **kwargs: Any) -> Future[Conversion]:
        """Read the response record at ``offset`` of ``path`` in a worker and convert it.

        See :func:`~crawler.extract.convert.convert_record`; the future raises
        its :class:`~crawler.extract.convert.UnreadableRecordError`.
        """
        kwargs["extract"] = self.extract
        return self._pool.schedule(
            convert_record, args=(path, offset), kwargs=kwargs, timeout=self.timeout
        )

    def run(self, body: bytes, **kwargs: Any) -> Deferred[Conversion]:
        """Convert in a worker; the Deferred fires on the reactor with the outcome."""
        from twisted.internet import reactor
        from twisted.internet.defer import Deferred

        result: Deferred[Conversion] = Deferred()

        def done(finished: Future[Conversion]) -> None:
            reactor.callFromThread(result.callback, self.outcome(finished))  # type: ignore[attr-defined]

        def submit() -> None:
            try:
                self.submit(body, **kwargs).add_done_callback(done)
            except Exception:  # a stopped pool: the caller's await raises it
                result.errback()

        with self._lock:
            if not self._started:
                self._waiting.append(submit)
                return result
        submit()
        return result

    def outcome(self, future: Future[Conversion]) -> Conversion:
        """The conversion of a finished future, or the outcome that says how it failed."""
        try:
            return future.result()
        except TimeoutError:
            return Conversion(
                TextOutcome.TIMEOUT, f"extraction took longer than {self.timeout:g} s"
            )
        except ProcessExpired as exc:
            return Conversion(
                TextOutcome.CRASHED, f"extraction worker died (exit code {exc.exitcode})"
            )
        except CancelledError:
            return Conversion(TextOutcome.FAILED, "extraction cancelled at shutdown")
        except Exception as exc:
            logger.debug("extraction raised", exc_info=True)
            return Conversion(TextOutcome.FAILED, f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Stop the workers; pages still queued are cancelled."""
        self._starter.join()  # stopping a pool while pebble starts it leaves it running
        self._pool.stop()
        self._pool.join(timeout=10)


def _call_each(calls: list[Callable[[], None]]) -> None:
    for call in calls:
        call()
