"""Where the payloads other than genes go as they are built: compressed on a thread pool
(zlib-ng releases the GIL) and stored, each named by its kind (:mod:`.format`)."""

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .format import Encoding, PayloadKind
from .gzip_codec import gzip_member

Store = Callable[[str, bytes], None]
"""Where finished payloads go: files in a staging folder, or memory for direct serving."""


def folder_store(root: Path) -> Store:
    def store(name: str, data: bytes) -> None:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    return store


class Payloads:
    """Builds each payload's file in the background; :meth:`wait` for them all."""

    def __init__(self, store: Store, compression: int, pool: ThreadPoolExecutor) -> None:
        self.store = store
        self.compression = compression
        self.pool = pool
        self.pending: list[Future[None]] = []

    def add(
        self,
        kind: PayloadKind,
        array: NDArray[Any],
        encoding: Encoding | None = None,
        **fields: object,
    ) -> str:
        """Store ``array`` as the payload of ``kind`` named by ``fields``; its path."""
        name = kind.path(encoding, self.compression, **fields)
        contiguous = np.ascontiguousarray(array)
        self.pending.append(self.pool.submit(self._write, kind, name, contiguous))
        return name

    def add_later(
        self,
        kind: PayloadKind,
        compute: Callable[[], NDArray[Any]],
        encoding: Encoding | None = None,
        **fields: object,
    ) -> str:
        """A payload that no manifest needs: built now here; a store that builds files when
        they are asked for (direct serving) may keep ``compute`` for then instead."""
        return self.add(kind, compute(), encoding, **fields)

    def _write(self, kind: PayloadKind, name: str, array: NDArray[Any]) -> None:
        data = array.tobytes()
        if self.compression:
            data = gzip_member(kind, data, self.compression)
        self.store(name, data)

    def wait(self) -> None:
        for future in self.pending:
            future.result()
