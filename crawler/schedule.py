"""Run a job again and again on a fixed grid of start times, never two runs at once.

The grid starts at the first run: with a period of 1h and a first start at
10:07, runs start at 11:07, 12:07... whatever each run takes, so the schedule
does not drift. A run that lasts past one or more start times makes those
starts be skipped (and logged), never queued or run side by side: the next
run starts at the first grid time after it ended. Times are wall-clock
times, and waits are cut into short steps, so a machine that was asleep runs
an overdue start as soon as it wakes.

:class:`Scheduler` knows nothing of crawls; :class:`Subprocess` runs one
command per run and passes a stop signal on to it.
"""

from __future__ import annotations

import logging
import math
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from crawler.durations import format_duration

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

logger = logging.getLogger(__name__)

#: The longest single wait, in seconds: how soon a change of the wall clock
#: (a resumed laptop, a clock step) is noticed.
MAX_WAIT = 30.0


def at(timestamp: float) -> str:
    """A wall-clock time for log lines: ``2026-11-30 05:00:00 UTC``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Scheduler:
    """Call ``job(run_number)`` every ``period`` seconds until :meth:`stop`."""

    def __init__(
        self,
        period: float,
        job: Callable[[int], int],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if period <= 0:
            raise ValueError("the period must be more than zero")
        self.period = period
        self.job = job
        self.clock = clock
        self._sleep = sleep
        self._stop = threading.Event()
        #: ``(number, started, ended, exit code)`` of every run, in order.
        self.runs: list[tuple[int, float, float, int]] = []

    def stop(self) -> None:
        """End the loop: now if it is waiting, else once the running job returns."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Run the job on the grid until :meth:`stop`; the first run starts at once."""
        first = self.clock()
        slot = 0
        while not self._wait_until(first + slot * self.period):
            number = len(self.runs) + 1
            started = self.clock()
            logger.info("Run %(number)d started at %(at)s", {"number": number, "at": at(started)})
            code = self.job(number)
            ended = self.clock()
            self.runs.append((number, started, ended, code))
            logger.info(
                "Run %(number)d ended with exit code %(code)d after %(took)s",
                {"number": number, "code": code, "took": format_duration(ended - started)},
            )
            if self.stopping:
                break
            # The first grid time at or after the end, and always a later one.
            later = max(slot + 1, math.ceil((ended - first) / self.period - 1e-9))
            if later > slot + 1:
                logger.warning(
                    "Run %(number)d took %(took)s, longer than the period of %(period)s: "
                    "skipping %(skipped)d start(s)",
                    {
                        "number": number,
                        "took": format_duration(ended - started),
                        "period": format_duration(self.period),
                        "skipped": later - slot - 1,
                    },
                )
            slot = later
            logger.info("Next run at %(at)s", {"at": at(first + slot * self.period)})
        logger.info("Schedule stopped after %(runs)d run(s)", {"runs": len(self.runs)})

    def _wait_until(self, deadline: float) -> bool:
        """Wait for the deadline; True when stopped first."""
        while not self.stopping:
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False
            step = min(remaining, MAX_WAIT)
            if self._sleep is None:
                self._stop.wait(step)
            else:
                self._sleep(step)
        return True


class Subprocess:
    """A job that runs ``command`` to its end and returns its exit code.

    A signal given to :meth:`forward` goes to the running command (or to the
    next one, the moment it starts, if it arrives in between). The command runs
    in a process group of its own: a Ctrl-C in a terminal reaches only the
    scheduler, which passes it on once; a second Ctrl-C would make Scrapy stop
    at once, without closing its files.
    """

    def __init__(self, command: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.command = list(command)
        self.env = None if env is None else dict(env)
        self._process: subprocess.Popen[bytes] | None = None
        self._pending: int | None = None

    def __call__(self, number: int) -> int:
        self._process = subprocess.Popen(self.command, env=self.env, process_group=0)
        try:
            if self._pending is not None:
                self._process.send_signal(self._pending)
            code = self._process.wait()
        finally:
            self._process = None
        if code < 0:
            logger.warning(
                "Run %(number)d was ended by %(signal)s",
                {"number": number, "signal": signal.Signals(-code).name},
            )
        return code

    def forward(self, signum: int) -> None:
        self._pending = signum
        process = self._process
        if process is not None and process.returncode is None:
            logger.info(
                "Passing %(signal)s on to the running crawl (process %(pid)d) and waiting for it",
                {"signal": signal.Signals(signum).name, "pid": process.pid},
            )
            process.send_signal(signum)
