"""Progress on the terminal: rich bars on stderr, so that stdout stays clean for --json
and pipes. Analysis code takes plain callbacks; only the CLI builds them from here."""
from __future__ import annotations

from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def console_err() -> Console:
    """The console progress and messages go to (stderr)."""
    return Console(stderr=True, highlight=False)


def progress_bar(console: Console) -> Progress:
    """A bar per step, shown only on a terminal."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False,
                    disable=not console.is_terminal)


def chunk_reporter(progress: Progress, label: str, total: int) -> Callable[[int, int], None]:
    """A `progress(done, total)` callback that advances one bar."""
    task = progress.add_task(label, total=total)
    return lambda done, _total: progress.update(task, completed=done)
