"""One crawl per archive folder at a time: an exclusive lock on ``DIR/crawl.lock``.

The lock is the operating system's, not the file's existence: ``flock`` on
POSIX, a byte-range lock (``msvcrt.locking``) on Windows. The system drops it
when the holding process ends, however it ends, so a crawl that was killed
leaves no lock behind, only its note; the next crawl takes the lock, reads that
note and reports the takeover. The note (process id, host, start time, command,
as JSON) is written by the holder for the message a second crawl prints, and
emptied on a clean release, so a note found in a free file is always a stale one.

Limits: ``flock`` on a network file system is only as good as the server's
locking. Linux maps it onto NFS byte-range locks (lockd/NFSv4), which do work
between hosts; an NFS mount with ``nolock``, some SMB/CIFS setups and FUSE file
systems such as sshfs lock on one host only, so two hosts can crawl into one
shared folder at once there. Deleting ``crawl.lock`` while a crawl runs lets a
second one in. The Windows branch follows the documented API but is untested.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import sys
import time
import weakref
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType
    from typing import Self

if sys.platform == "win32":
    import msvcrt

    # Windows locks are mandatory: lock one byte far past the note, so that the
    # note stays readable by the crawl that is refused.
    _LOCK_OFFSET = 0x7FFF_FFFF

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


logger = logging.getLogger(__name__)

#: How long a refused crawl waits for the holder's note: the holder writes it
#: right after taking the lock, so an empty note means it is being written.
NOTE_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds (or held) the lock, from its note."""

    pid: int
    host: str
    started: str
    command: str

    @classmethod
    def current(cls, command: str | None = None) -> Holder:
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            command=shlex.join(sys.argv) if command is None else command,
        )

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The note's holder, or None for an empty or unreadable note."""
        try:
            data = json.loads(text)
            return cls(
                pid=int(data["pid"]),
                host=str(data["host"]),
                started=str(data["started"]),
                command=str(data["command"]),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def render(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False) + "\n"

    def describe(self) -> str:
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"process {self.pid}{where}, started {self.started} ({self.command})"


class LockError(Exception):
    """The lock cannot be taken: the message is ready for the user."""


class FolderInUseError(LockError):
    """The lock is held by another crawl: the message names it."""

    def __init__(self, path: Path, holder: Holder | None) -> None:
        self.path = path
        self.holder = holder
        who = holder.describe() if holder else "a process that left no note"
        super().__init__(f"the archive folder {path.parent} is in use by another crawl: {who}")


#: The locks this process holds, by the resolved path of their lock file.
_HELD: weakref.WeakValueDictionary[Path, FolderLock] = weakref.WeakValueDictionary()


def held_here(path: Path) -> bool:
    """Whether this process holds the lock ``path`` (the crawl command took it)."""
    lock = _HELD.get(path.resolve())
    return lock is not None and lock.held


class FolderLock:
    """A held lock; :meth:`release` (or the end of the process) lets the next crawl in."""

    def __init__(self, path: Path, fd: int, holder: Holder, stale: Holder | None) -> None:
        _HELD[path.resolve()] = self
        self.path = path
        self.holder = holder
        #: The note of a crawl that ended without releasing the lock (killed), if any.
        self.stale = stale
        self._fd: int | None = fd
        if hasattr(os, "register_at_fork"):
            # A forked child shares the lock with its parent and would keep it
            # after the parent is killed: children close their copy (never
            # unlocking, which would free the parent's lock too).
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forget_in_child(ref))

    @property
    def held(self) -> bool:
        return self._fd is not None

    def log_takeover(self) -> None:
        """A warning when the last holder was killed (called once logging is set up)."""
        if self.stale is not None:
            logger.warning(
                "Took over the lock %(path)s from %(holder)s, which ended without releasing it",
                {"path": self.path, "holder": self.stale.describe()},
            )

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            # An empty note marks a clean end: a later crawl reports no takeover.
            os.ftruncate(fd, 0)
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _forget_in_child(ref: weakref.ref[FolderLock]) -> None:
    lock = ref()
    if lock is not None and lock._fd is not None:
        os.close(lock._fd)
        lock._fd = None


def lock_for_crawl(path: Path) -> FolderLock | None:
    """The lock of a crawl into ``path.parent``, or LockError with a message for the user.

    None when a file stands where the folder should be: no crawl can write
    there, and the crawl says so itself when it opens the archive.
    """
    if path.parent.exists() and not path.parent.is_dir():
        return None
    try:
        return acquire(path)
    except OSError as exc:
        raise LockError(f"cannot lock the archive folder {path.parent}: {exc}") from exc


def acquire(path: Path, command: str | None = None) -> FolderLock:
    """Take the lock on ``path`` (its folder is made if need be) or raise FolderInUseError.

    Other OSErrors (no permission, a read-only or full disk, no lock support)
    come through as they are.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            raise FolderInUseError(path, _wait_for_note(fd))
        stale = Holder.parse(_read(fd))
        holder = Holder.current(command)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, holder.render().encode("utf-8"))
    except BaseException:
        os.close(fd)
        raise
    return FolderLock(path, fd, holder, stale)


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _wait_for_note(fd: int) -> Holder | None:
    deadline = time.monotonic() + NOTE_WAIT
    while True:
        holder = Holder.parse(_read(fd))
        if holder is not None or time.monotonic() >= deadline:
            return holder
        time.sleep(0.05)
