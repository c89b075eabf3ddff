"""Progress reporting for long work: a rich progress bar on a terminal, silence otherwise."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

Report = Callable[[str, int, int], None]


@contextmanager
def terminal_progress() -> Iterator[Report]:
    """Yield a (stage, done, total) callback drawing one bar per stage on stderr if it is a TTY."""
    if not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    tasks: dict[str, TaskID] = {}
    columns = (
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bars:

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], advance=done, total=total)

        yield report
