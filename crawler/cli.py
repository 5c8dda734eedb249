"""The ``archiver`` command (``python -m crawler.cli``); see :mod:`crawler.commandline`.

This module imports nothing until it runs. Every extraction worker, forked
from the pool's server or spawned, imports the parent's main module again (as
``__mp_main__``), and the workers need none of Scrapy: the command line imported
here cost each of them 0.28 s of its start, and each that replaces one after
``TASKS_PER_WORKER`` pages.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    from crawler.commandline import main as run

    run(argv)


if __name__ == "__main__":
    main()
