"""Run extractions in worker processes, off the reactor, each within a time limit.

Workers are separate processes (``spawn``: no fork of a threaded reactor), so
a page that hangs or crashes its worker costs that page only: pebble kills a
worker that runs past the time limit and replaces any worker that dies, and the
page gets an outcome that says which of the two happened.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import CancelledError, TimeoutError
from typing import TYPE_CHECKING, Any

from pebble import ProcessExpired, ProcessPool
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from crawler.extract.page import Extraction

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

logger = logging.getLogger(__name__)

#: A worker is replaced after this many pages, which bounds what a leak can cost.
TASKS_PER_WORKER = 1000


def _warm_up() -> None:
    # Pay trafilatura's import in the new worker, not in its first page's time limit.
    import crawler.extract.page  # noqa: F401


class ExtractionPool:
    """A pool of worker processes that each run ``function(*args, **kwargs)`` for a page."""

    def __init__(
        self, function: Callable[..., Extraction], *, workers: int, timeout: float
    ) -> None:
        if workers < 1:
            raise ValueError(f"an extraction pool needs at least one worker, not {workers}")
        if timeout <= 0:
            raise ValueError(f"the extraction time limit must be positive, not {timeout}")
        self.function = function
        self.timeout = timeout
        self._pool = ProcessPool(
            max_workers=workers,
            max_tasks=TASKS_PER_WORKER,
            initializer=_warm_up,
            context=multiprocessing.get_context("spawn"),
        )

    def run(self, *args: Any, **kwargs: Any) -> Deferred[Extraction]:
        """Extract in a worker; the Deferred fires on the reactor with the outcome."""
        result: Deferred[Extraction] = Deferred()
        future = self._pool.schedule(self.function, args=args, kwargs=kwargs, timeout=self.timeout)

        def done(finished: Future[Extraction]) -> None:
            reactor.callFromThread(result.callback, self._outcome(finished))  # type: ignore[attr-defined]

        future.add_done_callback(done)
        return result

    def _outcome(self, future: Future[Extraction]) -> Extraction:
        try:
            return future.result()
        except TimeoutError:
            return Extraction("timeout", f"extraction took longer than {self.timeout:g} s")
        except ProcessExpired as exc:
            return Extraction("crashed", f"extraction worker died (exit code {exc.exitcode})")
        except CancelledError:
            return Extraction("failed", "extraction cancelled at shutdown")
        except Exception as exc:
            logger.debug("extraction raised", exc_info=True)
            return Extraction("failed", f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Stop the workers; pages still queued are cancelled."""
        self._pool.stop()
        self._pool.join(timeout=10)
