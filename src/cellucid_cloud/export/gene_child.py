"""X's gene blocks in a child process forked by ``prepare`` before it imports the engine.

The block threads share the GIL with the thread importing anndata and reading obs through
pandas, which hold it nearly throughout: every time a block thread releases the GIL (to
compress a gene, to write its file) it waits to get it back, and the blocks ran at a quarter to
a half of their speed beside that work (measured per thread with ``schedstat``). A child forked
just before the import runs the same threads on a GIL of its own, and since it is a copy of
the process it needs no imports: the blocks start at once. It writes into the same staging
folder, and sends back progress, then the genes' ranges and the blocks' costs, or the error
that stopped it, through a pipe.

Forking is safe only where no other thread can hold a lock the child would need, so the child
is used on Linux in a process with a single thread (the CLI's ``prepare``); elsewhere (a
server, a notebook, ``up``'s processing child, which watches its parent on a thread) the blocks
run on threads of this process. Both write the same bytes. The child ends when this process
does (``exit_with``).
"""

import os
import pickle
import signal
import sys
import threading
from concurrent.futures import CancelledError, Executor, Future
from multiprocessing.connection import Connection, Pipe
from typing import NoReturn

from .block_pool import exit_with
from .errors import PrepareError, one_line
from .gene_encoder import GeneBounds
from .gene_writer import GeneWriter
from .progress import Progress

__all__ = ["GeneChild", "can_fork"]


def can_fork() -> bool:
    """Whether a child may be forked now: Linux, and this process runs a single thread, as
    the system counts them (threads started outside ``threading``, by pytest-xdist's execnet
    or a native library, hold locks too)."""
    return sys.platform == "linux" and len(os.listdir("/proc/self/task")) == 1


class GeneChild:
    """A forked child writing every gene of ``writer`` (its ``location``: X in a file)."""

    def __init__(self, writer: GeneWriter, collector: Executor, report: Progress) -> None:
        """Fork the child; OSError when the system cannot (the caller then uses threads)."""
        receive, send = Pipe(duplex=False)
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            receive.close()
            send.close()
            raise
        if pid == 0:
            receive.close()
            _write(writer, send, parent)
        send.close()
        self._pid = pid
        self._lock = threading.Lock()
        self._ended = self._stopped = False
        self.bounds: Future[GeneBounds] = collector.submit(self._collect, receive, writer, report)
        """The genes' ranges once the child is done; its error if it failed."""

    def stop(self) -> None:
        """End the child now, whatever it was doing (its result is then CancelledError, as
        stopped threads' is); a no-op once it has ended."""
        with self._lock:
            if not self._ended:
                self._stopped = True
                os.kill(self._pid, signal.SIGKILL)

    def _collect(self, receive: Connection, writer: GeneWriter, report: Progress) -> GeneBounds:
        try:
            while True:
                try:
                    message = receive.recv()
                except EOFError:
                    ended = self._end_of("ended without finishing X")
                    if self._stopped:
                        raise CancelledError from None
                    raise PrepareError(ended) from None
                if message[0] == "progress":
                    report(*message[1:])
                elif message[0] == "done":
                    writer.costs.extend(message[2])
                    bounds: GeneBounds = message[1]
                    return bounds
                else:
                    raise message[1]
        finally:
            receive.close()
            self._end_of("")

    def _end_of(self, what: str) -> str:
        """Wait for the child to end (once); what became of it, for a message."""
        with self._lock:
            if self._ended:
                return f"the process writing X's genes {what}"
            _, status = os.waitpid(self._pid, 0)
            self._ended = True
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            name = signal.Signals(-code).name
            what = f"was stopped by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
        return f"the process writing X's genes {what}"


def _write(writer: GeneWriter, send: Connection, parent: int) -> NoReturn:
    """The child's whole life: write the genes, say how it went, exit without unwinding the
    parent's stack (its ``with`` blocks and ``finally`` clauses are the parent's to run)."""
    code = 0
    try:
        exit_with(parent)

        def report(stage: str, done: int, total: int) -> None:
            send.send(("progress", stage, done, total))

        bounds = writer.write(None, report)
        send.send(("done", bounds, writer.costs))
    except BaseException as error:  # every outcome goes to the parent, then the child exits
        code = 1
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:  # an error the parent could not rebuild: its type and message
            error = PrepareError(one_line(error))
        send.send(("failed", error))
    finally:
        os._exit(code)
