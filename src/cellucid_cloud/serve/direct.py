"""Direct mode: an AnnData file served as if it had been exported, with no export step.

The manifests and every small payload (embeddings, obs fields, graph) are built once at start by
the same code as ``prepare``; genes are computed per request from X and kept in a size-bounded
LRU. Payloads are uncompressed and genes exact float32, like Cellucid's direct AnnData server;
continuous obs fields are 16-bit so that missing values keep a code. Good for a quick look at a
file; a real export (``prepare``) is what should be published.
"""

import contextlib
import hashlib
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import numpy as np
from cachetools import LRUCache

from cellucid_cloud.export.genes import to_csc
from cellucid_cloud.export.manifests import VarManifest
from cellucid_cloud.export.prepare import (
    Payloads,
    describe_export,
    manifest_documents,
    plan_export,
    var_manifest,
)
from cellucid_cloud.export.settings import ExportSettings
from cellucid_cloud.export.source import open_source
from cellucid_cloud.serve.sources import FileChangedError, FileInfo, IdentityBacked

_GENE = re.compile(r"^var/(\d+)\.values\.f32$")
DEFAULT_CACHE_BYTES: Final = 256 << 20


class DirectExport(IdentityBacked):
    """An .h5ad, .zarr or .zarr.zip served through the ExportSource port."""

    def __init__(self, path: Path, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.path = Path(path)
        self._stat = self.path.stat()
        self._stack = contextlib.ExitStack()
        self._source = self._stack.enter_context(open_source(self.path))
        settings = ExportSettings(compression=0, var_quantization=0, obs_quantization=16)
        plan = plan_export(self._source, settings)
        self._files: dict[str, bytes] = {}
        names = plan.names

        def genes() -> VarManifest | None:
            if names is None:
                return None
            return var_manifest(settings, names, None, self._source.n_cells, "f32")

        with ThreadPoolExecutor(2) as pool:
            manifests = describe_export(plan, Payloads(self._files.__setitem__, 0, pool), genes)
        self._files.update(manifest_documents(manifests))
        self._identity = manifests.identity
        self._declared = manifests.declared_paths()
        self._genes: LRUCache[int, bytes] = LRUCache(maxsize=cache_bytes, getsizeof=len)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._stack.close()

    def _check_unchanged(self) -> None:
        now = self.path.stat()
        if (now.st_size, now.st_mtime_ns, now.st_ino) != (
            self._stat.st_size,
            self._stat.st_mtime_ns,
            self._stat.st_ino,
        ):
            raise FileChangedError(f"{self.path} changed since the server started")

    def stat(self, path: str) -> FileInfo:
        if path not in self._declared:
            raise FileNotFoundError(path)
        self._check_unchanged()
        size = len(self._files[path]) if path in self._files else 4 * self.n_cells
        key = f"{self.path.resolve()}\0{self._stat.st_mtime_ns}\0{self._stat.st_ino}\0{path}"
        return FileInfo(size, '"' + hashlib.blake2b(key.encode(), digest_size=16).hexdigest() + '"')

    def read(self, path: str, start: int, stop: int) -> Iterator[bytes]:
        if path not in self._declared:
            raise FileNotFoundError(path)
        self._check_unchanged()
        data = self._files.get(path)
        if data is None:
            match = _GENE.match(path)
            if match is None:
                raise FileNotFoundError(path)
            data = self._gene(int(match.group(1)))
        return iter([data[start:stop]])

    def _gene(self, index: int) -> bytes:
        with self._lock:
            cached = self._genes.get(index)
            if cached is not None:
                return cached
            matrix = self._source.matrix
            assert matrix is not None, "declared genes imply a matrix"
            column = to_csc(matrix.columns(index, index + 1), f"gene {index}")
            data = np.asarray(column.toarray(), dtype="<f4").ravel().tobytes()
            self._genes[index] = data
            return data
