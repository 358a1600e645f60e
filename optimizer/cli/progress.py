"""Progress on the terminal: rich bars and log lines on stderr, so that stdout stays clean
for --json and pipes. Analysis code takes plain callbacks; only the CLI builds them from
here.

Lines go through the standard `logging` module, logger ``wattfolio``: `-q` shows warnings
only (no bars, no progress lines), the default shows progress lines (INFO), `-v` adds the
run's stage timings and other detail (DEBUG), `-vv` also HiGHS's own log (the
``wattfolio.highs`` logger at DEBUG, read by `mip.session`).
"""
from __future__ import annotations

import logging
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def console_err() -> Console:
    """The console progress and messages go to (stderr)."""
    return Console(stderr=True, highlight=False)


LOGGER = "wattfolio"


class _Lines(logging.Handler):
    """Log records as indented lines on the progress console (rich keeps them above bars)."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(f"  {record.getMessage()}", markup=False, highlight=False)
        except Exception:  # noqa: BLE001 - logging must never take the run down
            self.handleError(record)


def configure_logging(verbosity: int) -> None:
    """Route ``wattfolio`` log records to stderr at the level the flags ask: verbosity -1
    (-q) warnings only, 0 progress, 1 (-v) detail, 2 (-vv) detail and the solver's log."""
    log = logging.getLogger(LOGGER)
    for h in list(log.handlers):
        if isinstance(h, _Lines):
            log.removeHandler(h)
    log.addHandler(_Lines(console_err()))
    log.propagate = False
    log.setLevel(logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG)
    logging.getLogger(f"{LOGGER}.highs").setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)


def say(message: str) -> None:
    """A progress line (INFO on the ``wattfolio`` logger)."""
    logging.getLogger(LOGGER).info(message)


def detail(message: str) -> None:
    """A detail line, shown with -v (DEBUG)."""
    logging.getLogger(LOGGER).debug(message)


def progress_bar(console: Console) -> Progress:
    """A bar per step, shown only on a terminal and not with -q."""
    quiet = not logging.getLogger(LOGGER).isEnabledFor(logging.INFO)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False,
                    disable=quiet or not console.is_terminal)


def chunk_reporter(progress: Progress, label: str, total: int) -> Callable[[int, int], None]:
    """A `progress(done, total)` callback that advances one bar."""
    task = progress.add_task(label, total=total)
    return lambda done, _total: progress.update(task, completed=done)
