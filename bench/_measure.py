"""Running one benchmark command: wall time, CPU time, exit code and memory of its processes.

:func:`run` starts the command and samples, every :data:`SAMPLE_INTERVAL`
seconds, from ``/proc``: the kernel's peak RSS (``VmHWM``) of the command's own
process and of the largest, and the proportional memory (``Pss``: a page shared
by N processes counts 1/N in each) of every process of its tree (the crawl, the
extraction workers and the server they are forked from, which share most of
their pages: their RSS would count those once per process); then it reaps the
command with ``wait4`` for its CPU time, which includes every descendant the
command waited for. Descendants it left running when it ended (the extraction
pool's server ends just after the crawl) are reaped too and their CPU time
added: this process is their reaper (``PR_SET_CHILD_SUBREAPER``). (``ru_maxrss``
of ``wait4`` is not used: a child forked from this process keeps this process's
peak across ``exec``.) Linux only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Seconds between two samples of the process tree's memory.
SAMPLE_INTERVAL = 0.25


@dataclass
class Run:
    """What one run of a command took."""

    code: int
    wall: float
    #: Peak RSS of the largest process, MB (the kernel's VmHWM, as last sampled).
    peak_mb: float
    #: Peak RSS of the command's own process, MB (VmHWM, as last sampled).
    main_mb: float
    #: Highest sampled proportional memory (PSS) of another process of the tree, MB; 0 if none.
    others_mb: float
    #: Highest sampled sum of the proportional memory (PSS) of the tree's processes, MB.
    tree_mb: float
    #: CPU seconds (user and system) of the command and every descendant it waited for.
    cpu: float = 0.0
    #: (seconds since start, RSS MB of the command's own process) samples.
    trace: list[tuple[float, float]] = field(default_factory=list)


#: prctl(2) option: orphaned descendants are re-parented to this process, not to init.
PR_SET_CHILD_SUBREAPER = 36


def _reap_orphans() -> None:
    """Become the reaper of the orphans of the commands run from here."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue  # gone meanwhile
        for task in tasks:
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return pids


def _memory_mb(pid: int, field: str = "VmRSS", *, table: str = "status") -> float:
    """A memory line of a process, in MB: ``VmRSS`` (now), ``VmHWM`` (peak) or, from the
    ``smaps_rollup`` table, ``Pss``; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/{table}").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _pss_mb(pid: int) -> float:
    return _memory_mb(pid, "Pss", table="smaps_rollup")


def run(
    command: list[str], *, cwd: Path, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> Run:
    """Run ``command`` to its end; raise SystemExit unless its exit code is in ``ok``."""
    _reap_orphans()
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    done = threading.Event()
    # Largest process, whole tree, the command's own process, the largest of the others.
    peaks = [0.0, 0.0, 0.0, 0.0]
    trace: list[tuple[float, float]] = []
    seen: set[int] = set()

    def sample() -> None:
        while not done.wait(SAMPLE_INTERVAL):
            tree = _tree(process.pid)
            seen.update(tree[1:])
            peaks[0] = max([peaks[0], *(_memory_mb(pid, "VmHWM") for pid in tree)])
            others = [_pss_mb(pid) for pid in tree[1:]]
            peaks[1] = max(peaks[1], _pss_mb(process.pid) + sum(others))
            peaks[2] = max(peaks[2], _memory_mb(process.pid, "VmHWM"))
            peaks[3] = max([peaks[3], *others])
            rss = _memory_mb(process.pid)
            if rss:
                trace.append((time.perf_counter() - start, rss))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert process.stderr is not None
    errors = process.stderr.read()
    # A zombie's /proc has no memory lines: the sampler reads 0 for it until it is reaped.
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    cpu = usage.ru_utime + usage.ru_stime
    for pid in seen:
        # An orphan of the command is now this process's child: its CPU time, and that of
        # the children it waited for. Any other was reaped by its parent, which counted it.
        with contextlib.suppress(ChildProcessError):
            cpu += sum(os.wait4(pid, 0)[2][:2])
    process.returncode = code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        tail = errors.decode(errors="replace")[-2000:]
        raise SystemExit(f"{' '.join(command[:5])} ... failed with exit code {code}:\n{tail}")
    return Run(
        code,
        wall,
        peaks[0],
        peaks[2],
        peaks[3],
        peaks[1],
        cpu=cpu,
        trace=trace,
    )
