"""Run page conversions in worker processes, each within a time limit.

Workers are separate processes (``spawn``: no fork of a threaded reactor), so
a page that hangs or crashes its worker costs that page only: pebble kills a
worker that runs past the time limit and replaces any worker that dies, and the
page gets an outcome that says which of the two happened.

The pool serves two callers: a crawl, on Twisted's reactor (:meth:`run` gives a
Deferred), and the offline commands, with no reactor at all (:meth:`submit`
and :meth:`outcome`). Twisted's reactor is imported only inside :meth:`run`:
importing it at module level would install the wrong reactor in every command
that imports this module.
"""

from __future__ import annotations

import logging
import multiprocessing
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


def _warm_up() -> None:
    # Pay trafilatura's import in the new worker, not in its first page's time limit.
    import crawler.extract.page  # noqa: F401


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
            context=multiprocessing.get_context("spawn"),
        )

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

        self.submit(body, **kwargs).add_done_callback(done)
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
        self._pool.stop()
        self._pool.join(timeout=10)
