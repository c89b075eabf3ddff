"""Progress reporting for long work: a rich progress bar on a terminal, silence otherwise."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bars

from .export.progress import Progress, no_progress


@contextmanager
def terminal_progress() -> Iterator[Progress]:
    """Yield a (stage, done, total) callback drawing one bar per stage on stderr if it is a TTY."""
    if not sys.stderr.isatty():
        yield no_progress
        return
    tasks: dict[str, TaskID] = {}
    columns = (
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
    )
    with Bars(*columns, console=Console(stderr=True), transient=False) as bars:

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], advance=done, total=total)

        yield report
