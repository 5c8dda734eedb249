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
per process instead of once per worker. The server starts with the pool's first
page, in a thread of the pool's own, so that a run with nothing to extract pays
nothing and the reactor goes on while it warms up. It lives as long as the
process that started it and serves every pool that process makes. It and its
workers have this process's import path (given in ``PYTHONPATH``: Python's server
would put its working folder first; workers get back the caller's ``PYTHONPATH``
and ``PYTHONSAFEPATH``), and the other environment variables of the moment it
started; they leave Ctrl-C to the crawl, which stops them. Where there is no
``forkserver`` (Windows), where the interpreter ignores the environment
(``python -E`` or ``-I``), or when the server cannot start (a ``TMPDIR`` too long
for its socket), workers are spawned and each imports trafilatura on its own.

The pool serves two callers: a crawl, on Twisted's reactor (:meth:`run` gives a
Deferred), and the offline commands, with no reactor at all (:meth:`submit`
and :meth:`outcome`). Twisted's reactor is imported only inside :meth:`run`:
importing it at module level would install the wrong reactor in every command
that imports this module.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
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


def _warm_up(environment: dict[str, str | None]) -> None:
    """Start a worker: the caller's values of what the server was started with, and
    trafilatura's import paid here, not in the first page's time limit (a forked worker
    has it, and the rest of the warm-up, already)."""
    _set_environment(environment)
    import crawler.extract.page  # noqa: F401


def _set_environment(values: dict[str, str | None]) -> None:
    """Set these environment variables; None unsets one."""
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _nothing() -> None:
    """The task that makes pebble fork the first workers."""


def worker_context() -> multiprocessing.context.BaseContext:
    """How workers start: forked from the warm server, started now; else spawned."""
    # Under -E or -I the server would ignore the import path it is given.
    if "forkserver" in multiprocessing.get_all_start_methods() and not sys.flags.ignore_environment:
        context = multiprocessing.get_context("forkserver")
        # Has no effect once the server runs (a pool made before in this process): it has it.
        context.set_forkserver_preload([WARM_MODULE])
        try:
            _start_server()
        except OSError as exc:
            logger.warning(
                "Extraction workers are spawned, each loading trafilatura: "
                "their server did not start (%(error)s)",
                {"error": exc},
            )
        else:
            return context
    return multiprocessing.get_context("spawn")


#: What the server is started with: this process's import path, and not its working folder.
SERVER_ENVIRONMENT = ("PYTHONPATH", "PYTHONSAFEPATH")
#: Two pools starting at once would save each other's temporary environment.
_SERVER_START = threading.Lock()


def _start_server() -> None:
    """Start the worker server, if it does not run, with this process's import path.

    Python's server (3.11 to 3.13) ignores the import path it is given and puts its working
    folder first, where a ``crawler.py`` would be imported in place of this package:
    the path goes in ``PYTHONPATH``, and ``PYTHONSAFEPATH`` keeps the folder out.
    SIGINT is blocked in this thread while it starts, and the server and its
    workers inherit the mask: a Ctrl-C during its warm-up would kill it with a
    traceback, and the crawl stops the workers when it stops. (Starting the
    resource tracker unblocks SIGINT in the thread that starts it: it is started
    first.)
    """
    from multiprocessing import forkserver, resource_tracker

    resource_tracker.ensure_running()
    with _SERVER_START:
        saved = {name: os.environ.get(name) for name in SERVER_ENVIRONMENT}
        os.environ["PYTHONPATH"] = os.pathsep.join(os.path.abspath(entry) for entry in sys.path)
        os.environ["PYTHONSAFEPATH"] = "1"
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            forkserver.ensure_running()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            _set_environment(saved)


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
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()
        self._starter: threading.Thread | None = None
        self._started = threading.Event()  # set when the starter is done, pool or none
        self._waiting: list[Callable[[], None]] = []
        self._closed = False

    def _begin(self) -> threading.Thread:
        """The thread that starts the workers, started at the first call (hold the lock)."""
        if self._closed:
            raise RuntimeError("the extraction pool is closed")
        if self._starter is None:
            starter = threading.Thread(
                target=self._start, name="extraction-pool-start", daemon=True
            )
            starter.start()
            self._starter = starter
        return self._starter

    def _start(self) -> None:
        """Start the server and fork the first workers here, not in the first page's thread.

        pebble forks them at its first task, and a fork waits for the server's
        warm-up (about 1.5 s): the reactor would stand still that long, where it
        can fetch and archive the pages the workers then start on. Pages that
        :meth:`run` gets before the workers are there wait in a list.
        """
        pool: ProcessPool | None = None
        try:
            try:
                context = worker_context()
            except Exception as exc:
                logger.warning("Extraction workers are spawned: %(error)r", {"error": exc})
                context = multiprocessing.get_context("spawn")
            environment = {name: os.environ.get(name) for name in SERVER_ENVIRONMENT}
            pool = ProcessPool(
                max_workers=self.workers,
                max_tasks=TASKS_PER_WORKER,
                initializer=_warm_up,
                initargs=(environment,),
                context=context,
            )
            pool.schedule(_nothing)
        except Exception as exc:  # each page then fails and says why
            logger.warning("The extraction workers did not start: %(error)r", {"error": exc})
        finally:
            # Pages must never wait for workers that do not come.
            with self._lock:
                self._pool = pool
                waiting, self._waiting = self._waiting, []
            self._started.set()
        if waiting:
            from twisted.internet import reactor

            reactor.callFromThread(_call_each, waiting)  # type: ignore[attr-defined]

    def _ready(self) -> ProcessPool:
        """The pool, once its workers are started (which this waits for)."""
        with self._lock:
            self._begin()
        self._started.wait()
        if self._pool is None:
            raise RuntimeError("the extraction workers did not start")
        return self._pool

    def submit(self, body: bytes, **kwargs: Any) -> Future[Conversion]:
        """Convert in a worker (``convert_page``'s keyword arguments); see :meth:`outcome`."""
        kwargs["extract"] = self.extract
        return self._ready().schedule(
            convert_page, args=(body,), kwargs=kwargs, timeout=self.timeout
        )

    def submit_record(self, path: str, offset: int, **kwargs: Any) -> Future[Conversion]:
        """Read the response record at ``offset`` of ``path`` in a worker and convert it.

        See :func:`~crawler.extract.convert.convert_record`; the future raises
        its :class:`~crawler.extract.convert.UnreadableRecordError`.
        """
        kwargs["extract"] = self.extract
        return self._ready().schedule(
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
            if not self._started.is_set() and not self._closed:
                self._begin()
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
        with self._lock:
            self._closed = True
            starter = self._starter
        if starter is not None:
            self._started.wait()  # stopping a pool while pebble starts it leaves it running
        if self._pool is not None:
            self._pool.stop()
            self._pool.join(timeout=10)


def _call_each(calls: list[Callable[[], None]]) -> None:
    for call in calls:
        call()
