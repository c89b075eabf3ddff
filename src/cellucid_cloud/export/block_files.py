"""Spill shards and gene files on a local disk, with as few copies and system calls as fit.

Shards are written with vectored writes straight from the row block's buffers and read back
by positioned reads into one reused buffer per thread; gene files are written through a
descriptor of their folder, with no path lookup and no Python file object.
"""

import os
import threading
from collections.abc import Callable
from typing import Any

Span = tuple[str, int, int]
"""A gene block's section of one shard: the shard's path, first byte, end byte."""

_local = threading.local()


def write_shard(path: str, parts: list[Any]) -> None:
    """Create the shard file ``path`` (it must not exist) holding ``parts`` in order."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        _write_all(fd, parts)
    finally:
        os.close(fd)


def read_spans(spans: list[Span]) -> list[memoryview]:
    """Each span's bytes, read into one buffer of this thread (kept for the next block)."""
    total = sum(-(stop - start) // 8 * -8 for _, start, stop in spans)
    buffer: bytearray | None = getattr(_local, "spill_buffer", None)
    if buffer is None or len(buffer) < total:
        buffer = _local.spill_buffer = bytearray(total)
    view = memoryview(buffer)
    sections = []
    at = 0
    for path, start, stop in spans:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _read_into(fd, view[at : at + stop - start], start)
        finally:
            os.close(fd)
        sections.append(view[at : at + stop - start])
        at += -(stop - start) // 8 * -8
    return sections


def _read_into(fd: int, target: memoryview, offset: int) -> None:
    """Fill ``target`` from the file at ``offset`` without an intermediate bytes object."""
    while target:
        done = os.preadv(fd, [target], offset)
        if done <= 0:
            raise OSError(f"spill file ended early at byte {offset}")
        target, offset = target[done:], offset + done


def _write_all(fd: int, parts: list[Any]) -> None:
    for start in range(0, len(parts), 512):
        batch = [memoryview(part) for part in parts[start : start + 512]]
        while batch:
            done = os.writev(fd, batch)
            while batch and done >= len(batch[0]):
                done -= len(batch[0])
                batch.pop(0)
            if batch and done:
                batch[0] = batch[0][done:]


class GeneFolder:
    """Writes gene files into an open folder: no path lookup and no Python file object."""

    def __init__(self, folder: str) -> None:
        self.fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def __enter__(self) -> Callable[[str, Any], None]:
        return self.write

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def write(self, name: str, data: Any) -> None:
        fd = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666, dir_fd=self.fd
        )
        try:
            view = memoryview(data).cast("B")
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
