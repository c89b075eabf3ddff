"""The local stack reads uploads in a child process with a hard memory limit and a time limit.

On AWS the platform bounds each upload's processing (the prepare function's memory and its
900 s timeout) and a file that exceeds them takes down one invocation, nothing else. ``up``
used to read uploads in its own process, so one honest-looking file (a bz2 chunk inflating a
million-fold) could grow the server by gigabytes or get it killed. Now the part that reads the
untrusted file — :func:`~cellucid_cloud.ingest.engine.check_and_prepare` — runs in a
child process that, as it starts,

* limits its own address space (``RLIMIT_AS``) to :attr:`ProcessLimits.memory_bytes`, so an
  allocation past it fails with ``MemoryError`` inside the child (the address space includes
  a few hundred MB of libraries and thread stacks beyond what is resident);
* runs at a lower priority (``nice`` 10), so the server stays responsive while it works;
* leaves the terminal's session (Ctrl-C is ``up``'s to handle) and exits as soon as ``up``
  does (a thread waits on ``up``'s pidfd), so a killed ``up`` leaves no child behind;

and the parent kills it once it has run :attr:`ProcessLimits.seconds`. An upload over either
limit ends as a failed version with a reason saying which limit ("processing exceeded the
memory limit of 4 GiB"); the server keeps serving. Shutting ``up`` down cancels a running
child without failing its version: the next start processes it again.

Children are forked by a fork server (``multiprocessing``'s ``forkserver``: one clean,
single-threaded process, started on first use, that has imported the export engine once), so
a child starts in milliseconds, not in the seconds a fresh interpreter takes; forking the
server itself would copy its threads' locks mid-use.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import resource
import select
import signal
import threading
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from cellucid_cloud.export import ExportSettings, PrepareError
from cellucid_cloud.export.manifests import DatasetIdentity

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_SECONDS",
    "ChildPrepare",
    "LimitExceededError",
    "ProcessLimits",
    "ProcessingCancelledError",
]

DEFAULT_MEMORY_BYTES = 4 << 30
"""The prepare function's default memory (template.yaml, ``PrepareMemorySize``)."""
DEFAULT_SECONDS = 900.0
"""The prepare function's timeout."""
NICENESS = 10


@dataclass(frozen=True, slots=True)
class ProcessLimits:
    memory_bytes: int = DEFAULT_MEMORY_BYTES
    seconds: float = DEFAULT_SECONDS


class LimitExceededError(PrepareError):
    """The upload needed more memory or time than processing has; the message says which."""


class ProcessingCancelledError(BaseException):
    """The stack is shutting down and stopped the child: the version is left as it is (a
    ``BaseException``, so the processor does not record it as the file's failure), and the
    next start processes the upload again."""


def _forkserver() -> ForkServerContext:
    """The fork server, which imports the export engine (and a main script, which children
    would otherwise import again each) once."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "cellucid_cloud.ingest.engine"])
    return context


class ChildPrepare:
    """``check_and_prepare`` with the same arguments, in a child process within ``limits``."""

    def __init__(self, limits: ProcessLimits) -> None:
        self.limits = limits
        self._children: set[BaseProcess] = set()
        self._lock = threading.Lock()
        self._cancelled = False

    def __call__(
        self, upload: Path, out: Path, suffix: str, settings: ExportSettings
    ) -> DatasetIdentity:
        work = upload.parent
        request = {
            "upload": str(upload),
            "out": str(out),
            "suffix": suffix,
            "settings": settings.model_dump(mode="json"),
            "memory_bytes": self.limits.memory_bytes,
            "result": str(work / "result.json"),
            "log": str(work / "child.log"),
            "server": os.getpid(),
        }
        child = self._start(request)
        try:
            child.join(self.limits.seconds)
            timed_out = child.exitcode is None
            if timed_out:
                child.kill()
                child.join()
            code = child.exitcode
        finally:
            with self._lock:
                self._children.discard(child)
            child.close()
        if self._cancelled:
            raise ProcessingCancelledError
        if timed_out:
            seconds = f"{self.limits.seconds:g} s"
            raise LimitExceededError(f"{upload}: processing exceeded the time limit of {seconds}")
        return self._outcome(upload, code or 0, request)

    def _start(self, request: dict[str, Any]) -> BaseProcess:
        context = _forkserver()
        with self._lock:
            if self._cancelled:
                raise ProcessingCancelledError
            child = context.Process(target=_child, args=(request,), name="prepare")
            child.start()
            self._children.add(child)
        return child

    def _outcome(self, upload: Path, code: int, request: dict[str, Any]) -> DatasetIdentity:
        memory = f"{self.limits.memory_bytes / 2**30:g} GiB"
        try:
            answer = json.loads(Path(request["result"]).read_text())
        except (OSError, ValueError):
            answer = {}
        if "identity" in answer:
            return DatasetIdentity.model_validate(answer["identity"])
        if "refused" in answer:
            raise PrepareError(str(answer["refused"]))
        if "memory" in answer:
            raise LimitExceededError(f"{upload}: processing exceeded the memory limit of {memory}")
        if code < 0:
            name = signal.Signals(-code).name
            if -code == signal.SIGKILL:
                raise LimitExceededError(
                    f"{upload}: processing was killed ({name}) before it finished, most likely "
                    f"because the machine ran out of memory (the limit is {memory})"
                )
            raise LimitExceededError(f"{upload}: processing crashed ({name}) reading the file")
        detail = answer.get("error") or _last_line(Path(request["log"]))
        raise RuntimeError(f"the processing child failed (exit status {code}): {detail}")

    def cancel(self) -> None:
        """Stop every running child (the stack is shutting down); later calls refuse."""
        with self._lock:
            self._cancelled = True
            children = list(self._children)
        for child in children:
            with contextlib.suppress(ValueError, ProcessLookupError):  # closed, or gone
                child.kill()


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no output"
    return lines[-1] if lines else "no output"


# -- the child -------------------------------------------------------------------------------


def _limit_self(memory_bytes: int, log: str) -> None:
    os.setsid()
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(NICENESS)
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)


def _exit_with(server: int) -> None:
    """End this process when the server process ends (our parent is the fork server, which
    outlives the server while a child runs, so the parent-death signal would not fire).
    Linux only (pidfds); elsewhere a child of a killed server runs to its end."""
    if not hasattr(os, "pidfd_open"):
        return
    try:
        handle = os.pidfd_open(server)
    except ProcessLookupError:
        os._exit(1)

    def watch() -> None:
        select.select([handle], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="server-watch", daemon=True).start()


def _child(request: dict[str, Any]) -> None:
    """The child's whole work: limit itself, read the upload, write what came of it."""
    _exit_with(int(request["server"]))
    _limit_self(int(request["memory_bytes"]), request["log"])
    from cellucid_cloud.ingest.engine import check_and_prepare

    try:
        settings = ExportSettings.model_validate(request["settings"])
        identity = check_and_prepare(
            Path(request["upload"]), Path(request["out"]), request["suffix"], settings
        )
        answer: dict[str, object] = {"identity": identity.model_dump(mode="json")}
    except MemoryError:
        answer = {"memory": True}
    except PrepareError as exc:
        answer = {"refused": str(exc)}
    except Exception as exc:  # ours, not the file's: the parent reports it for a retry
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    Path(request["result"]).write_text(json.dumps(answer))
