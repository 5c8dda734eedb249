"""The extraction's speed-ups, switched on and off together: same results, less CPU.

They are :mod:`crawler.extract.fastxpath` (trafilatura's regular-expression XPath
tests) and :mod:`crawler.extract.fastclasses` (its parser's element classes).
:mod:`crawler.extract.page` installs them in every process that extracts;
:func:`stock` turns them off for a block, to compare with trafilatura as it comes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from crawler.extract import fastclasses, fastxpath

if TYPE_CHECKING:
    from collections.abc import Iterator


class SpeedUp(Protocol):
    """A module that puts a faster, equivalent piece in place of trafilatura's, and back."""

    def install(self) -> object: ...

    def uninstall(self) -> None: ...

    def installed(self) -> bool: ...


ALL: tuple[SpeedUp, ...] = (fastxpath, fastclasses)


def install() -> None:
    """Put every speed-up in place."""
    for speed_up in ALL:
        speed_up.install()


@contextmanager
def stock(*speed_ups: SpeedUp) -> Iterator[None]:
    """trafilatura as it comes while the block runs (without ``speed_ups``, or all of them),
    then each speed-up as it was before."""
    chosen = speed_ups or ALL
    was_installed = [speed_up for speed_up in chosen if speed_up.installed()]
    for speed_up in chosen:
        speed_up.uninstall()
    try:
        yield
    finally:
        for speed_up in was_installed:
            speed_up.install()
