"""Worker processes for the blocks of an export (``prepare --workers N``, ``up``'s processing).

Workers are forked by a fork server that has imported only the block code (numpy, scipy, h5py,
zlib-ng; not anndata, whose import costs ~1.6 s of CPU), so a pool starts in a fraction of a
second, beside the parent's own imports. Each worker

* exits as soon as the process that made the pool does (a thread waits on that process's
  pidfd): a parent killed at a time limit, or by a user, leaves no worker behind;
* inherits the parent's resource limits and niceness, so a parent that runs within limits
  (``up``'s processing child) keeps its workers within them too (see ``docs/up.md``).
"""

import multiprocessing
import os
import select
import threading
from concurrent.futures import ProcessPoolExecutor

__all__ = ["exit_with", "process_pool"]

PRELOAD = ["cellucid_cloud.export.block_tasks"]
"""What the fork server imports once for every worker."""


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` block workers that end with this process."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=exit_with, initargs=(os.getpid(),)
    )


def exit_with(pid: int) -> None:
    """End this process when process ``pid`` ends (Linux pidfds; elsewhere it runs on).

    A worker's parent is the fork server, not the process it works for, so the parent-death
    signal would not fire; the pidfd of the process it works for does."""
    if not hasattr(os, "pidfd_open"):
        return
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)

    def watch() -> None:
        select.select([handle], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
