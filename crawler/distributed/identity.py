"""The stable id of a worker: one per archive folder, kept in the folder.

A worker's WARC files carry its id in their names
(``{prefix}-{worker id}-{timestamp}-{serial}-{host}.warc.gz``), so that the
files of many workers never collide when their archives are merged, even two
workers on one machine that open a file in the same second. The id also names
the worker's leases in the frontier: a worker started again on its folder
takes back what it held when it died.
"""

from __future__ import annotations

import os
import re
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

#: The file in the archive folder that holds its worker id.
WORKER_ID_NAME = "worker-id"
#: What a worker id looks like: it goes into file names and Redis values as is.
WORKER_ID_RE = re.compile(r"w[0-9a-f]{8}")


class WorkerIdError(Exception):
    """The folder's worker id file holds something that is not a worker id."""


def worker_id(root: Path) -> str:
    """The worker id of the archive folder ``root``, made and kept there the first time."""
    path = root / WORKER_ID_NAME
    try:
        found = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        found = None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkerIdError(f"cannot read the worker id in {path}: {exc}") from None
    if found is not None:
        if not WORKER_ID_RE.fullmatch(found):
            raise WorkerIdError(f"{path} holds {found[:40]!r}, not a worker id (w + 8 hex digits)")
        return found
    made = f"w{secrets.token_hex(4)}"
    root.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{WORKER_ID_NAME}.{made}.tmp")
    with temporary.open("w", encoding="ascii") as handle:
        handle.write(made + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return made
