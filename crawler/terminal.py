"""A progress bar on standard error that the crawl's log lines do not tear apart.

The bar is tqdm's. While it is shown, every logging handler that writes to
standard error writes through :class:`BarSafeStream`: the bar is cleared, the
log line written whole, and the bar drawn again below it. The handlers keep
their level, filters and format; when the bar is closed their stream is given
back.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self


def stderr_is_terminal() -> bool:
    """Whether standard error is a terminal (not a file, a pipe, or closed)."""
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):  # closed
        return False


class BarSafeStream:
    """A text stream that clears the progress bars before each write and redraws them after."""

    def __init__(self, stream: IO[str]) -> None:
        from tqdm import tqdm

        self.stream = stream
        self._bars = tqdm

    def write(self, text: str) -> int:
        with self._bars.external_write_mode(file=self.stream):
            written = self.stream.write(text)
            self.stream.flush()
        return written

    def flush(self) -> None:
        self.stream.flush()


class TerminalBar:
    """A tqdm bar of input entries on standard error, with the log written above it."""

    def __init__(self, total: int | None, *, description: str = "Crawl") -> None:
        # Here, not at module level: a crawl with no terminal to draw on does not import tqdm.
        from tqdm import tqdm

        self._stream = sys.stderr
        self.bar = tqdm(
            total=total,
            desc=description,
            unit=" entries",
            file=self._stream,
            dynamic_ncols=True,
            leave=True,
        )
        self._redirected: list[logging.StreamHandler[IO[str]]] = []
        self._redirect_log()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def show(self, done: int, total: int | None, failed: int) -> None:
        """Move the bar to ``done`` of ``total`` (None: unknown), with ``failed`` beside it."""
        bar = self.bar
        if total != bar.total:
            bar.total = total
        bar.set_postfix_str(f"{failed:,} failed", refresh=False)
        if done > bar.n:
            bar.update(done - bar.n)
        else:
            bar.refresh()

    def close(self) -> None:
        """Leave the bar's last state on the terminal and give the log its stream back."""
        if self.bar.disable:
            return
        self.bar.close()
        for handler in self._redirected:
            stream = handler.stream
            if isinstance(stream, BarSafeStream):
                handler.setStream(stream.stream)
        self._redirected.clear()

    def _redirect_log(self) -> None:
        """Route the handlers that write to standard error through :class:`BarSafeStream`."""
        seen: set[int] = set()
        for logger in [logging.getLogger(), *_loggers()]:
            for handler in logger.handlers:
                if id(handler) in seen or not _writes_to(handler, self._stream):
                    continue
                seen.add(id(handler))
                assert isinstance(handler, logging.StreamHandler)
                handler.setStream(BarSafeStream(handler.stream))  # type: ignore[arg-type]
                self._redirected.append(handler)


def _loggers() -> list[logging.Logger]:
    """Every logger made so far that has handlers of its own."""
    found = logging.Logger.manager.loggerDict.values()
    return [logger for logger in found if isinstance(logger, logging.Logger) and logger.handlers]


def _writes_to(handler: logging.Handler, stream: IO[str]) -> bool:
    return (
        isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
        and handler.stream is stream
    )
