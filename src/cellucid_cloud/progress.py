"""Progress reporting for long work: a rich progress bar on a terminal, silence otherwise."""

import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from rich.console import Console
from rich.progress import BarColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bars

from .export.progress import Progress, no_progress


@contextmanager
def terminal_progress() -> Iterator[Progress]:
    """Yield a (stage, done, total) callback drawing one bar per stage on stderr if it is a TTY.

    The bars start with the first report, not before: their refresh thread would make the
    process one ``prepare`` may not fork (``export/gene_child.py``)."""
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
    started = threading.Lock()
    with ExitStack() as stack:
        bars: list[Bars] = []

        def report(stage: str, done: int, total: int) -> None:
            with started:
                if not bars:
                    bars.append(
                        stack.enter_context(
                            Bars(*columns, console=Console(stderr=True), transient=False)
                        )
                    )
                if stage not in tasks:
                    tasks[stage] = bars[0].add_task(stage, total=total)
            bars[0].update(tasks[stage], advance=done, total=total)

        yield report
