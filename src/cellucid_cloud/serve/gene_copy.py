"""The gene-major copy of a row-major X, from which direct serving reads a gene in one small read.

An .h5ad usually stores X by cells (CSR, or dense rows), so one gene is spread over the whole
file. ``serve FILE`` therefore writes every gene once, as the gzip member an export would hold
for float32 genes (``var/{g}.values.f32.gz``, written by the export engine's GeneWriter), into a
cache folder. The copy is built by a separate, low-priority process started right after the
server, so the server stays responsive and its own memory stays small; until the copy is complete
the server reads genes from X itself (see ``direct.py``).

A copy belongs to one version of one file (its folder is named by :class:`~.cache_folder.FileKey`):
a copy of another version is never read, and the copies of earlier versions of the same file are
deleted when a new one is started. A copy is
built in a ``.partial-<pid>`` folder (which also holds the engine's spill file) and renamed into
place only when complete, so a killed build leaves nothing that could be mistaken for a copy.

Run as ``python -m cellucid_cloud.serve.gene_copy`` only by :meth:`GeneCopy.start`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cellucid_cloud.core.files import Staged
from cellucid_cloud.export.format import FLOAT32, GENE_VALUES
from cellucid_cloud.serve.cache_folder import FileKey, cache_root, remove_other_versions

if TYPE_CHECKING:
    from cellucid_cloud.export.matrix import MatrixBlocks

__all__ = ["LEVEL", "GeneCopy", "gene_file"]

log = logging.getLogger(__name__)

FORMAT: Final = 1
LEVEL: Final = 6
"""gzip level of the copy's members: the export default, so the bytes are an export's."""
DEFAULT_BUDGET_MB: Final = 128
_MANIFEST: Final = "copy.json"


def gene_file(index: int) -> str:
    """A gene's file inside a copy (and inside an export with float32 genes, compressed)."""
    return GENE_VALUES.path(FLOAT32, LEVEL, index=index)


class GeneCopy:
    """One input's gene-major copy: found complete, or built in the background by a child."""

    def __init__(
        self,
        source: Path,
        n_genes: int,
        *,
        key: FileKey,
        cache_dir: Path | None = None,
        budget_mb: int = DEFAULT_BUDGET_MB,
    ) -> None:
        self.source = Path(source)
        self.n_genes = n_genes
        self.key = key
        self.budget_mb = budget_mb
        self.root = cache_root(self.source, cache_dir)
        self.folder = self.root / key.folder_name()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._partial: Path | None = None
        self._started = 0.0
        self._sizes: list[int] | None = self._load()

    def _load(self) -> list[int] | None:
        """The size of every gene file when the folder holds a complete copy of this version."""
        try:
            manifest = json.loads((self.folder / _MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(manifest, dict):
            return None
        sizes = manifest.get("sizes")
        if (
            manifest.get("format") != FORMAT
            or manifest.get("key") != asdict(self.key)
            or not isinstance(sizes, list)
            or len(sizes) != self.n_genes
            or not all(type(size) is int for size in sizes)
        ):
            return None
        return sizes

    @property
    def ready(self) -> bool:
        if self._sizes is None and self._process is not None:
            with self._lock:
                if self._process is not None and self._process.poll() is not None:
                    self._finished(self._process.returncode)
                elif self._sizes is None and (self.folder / _MANIFEST).is_file():
                    self._in_place()  # renamed into place; the child may still be exiting
        return self._sizes is not None

    def _in_place(self) -> None:
        self._sizes = self._load()
        if self._sizes is not None:
            log.info(
                "gene-major copy ready in %.1f s: %s", time.monotonic() - self._started, self.folder
            )

    def _finished(self, returncode: int) -> None:
        self._process = None
        if self._sizes is None:
            self._in_place()
        if self._sizes is None:
            log.warning(
                "gene-major copy failed (exit %s); genes keep being read from X", returncode
            )
        if self._partial is not None:
            shutil.rmtree(self._partial, ignore_errors=True)
            self._partial = None

    def start(self) -> None:
        """Build the copy in a child process unless it exists; delete other versions' copies."""
        if self._sizes is not None or self._process is not None:
            return
        remove_other_versions(self.root, self.key)
        partial = self.root / f"{self.folder.name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(mode=0o700)
        command = [
            sys.executable,
            "-m",
            "cellucid_cloud.serve.gene_copy",
            str(self.source),
            str(partial),
            str(self.folder),
            json.dumps(asdict(self.key)),
            str(self.budget_mb),
            str(os.getpid()),
        ]
        # The engine spills X next to the copy: one folder to delete if the build is killed.
        env = {**os.environ, "TMPDIR": str(partial)}
        self._started = time.monotonic()
        self._partial = partial
        self._process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
        log.info("building the gene-major copy in %s", partial)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running build; True when the copy is ready."""
        process = self._process
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        return self.ready

    def read(self, index: int) -> bytes | None:
        """The gzip member of gene ``index``, or None when there is no complete copy (yet)."""
        if not self.ready:
            return None
        sizes = self._sizes
        assert sizes is not None
        try:
            data = (self.folder / gene_file(index)).read_bytes()
        except OSError as error:
            log.warning("gene-major copy unreadable (%s); reading X instead", error)
            return None
        if len(data) != sizes[index]:
            log.warning("gene-major copy damaged at gene %d; reading X instead", index)
            return None
        return data

    def close(self) -> None:
        """Stop a running build and delete what it wrote."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                process.kill()
                process.wait()
            if self._partial is not None:
                shutil.rmtree(self._partial, ignore_errors=True)
                self._partial = None


def build(
    source: Path, partial: Path, final: Path, key: FileKey, budget_mb: int, parent: int
) -> None:
    """Write every gene into ``partial``, check the input did not change, rename to ``final``.

    Exits at once when the server ``parent`` is gone: nobody would read the copy."""
    from cellucid_cloud.export.errors import PrepareError
    from cellucid_cloud.export.gene_writer import GeneWriter
    from cellucid_cloud.export.matrix_files import locate_in_file

    def progress(stage: str, done: int, total: int) -> None:
        del stage, done, total
        if os.getppid() != parent:
            os._exit(3)

    if FileKey.of(source) != key:
        raise PrepareError(f"{source} changed before its gene-major copy was started")
    # X found by its place in the file, without anndata (~0.7 s of CPU, beside a server that
    # has just started); a file from anndata before 0.7 is opened by the export's reader.
    location = locate_in_file(source, None)
    with contextlib.ExitStack() as stack:
        matrix, shape = (None, location.shape) if location is not None else _read_x(source, stack)
        writer = GeneWriter(
            partial, shape[1], shape[0], None, LEVEL, 1, budget_mb << 20, location=location
        )
        writer.write(matrix, progress)
    n_genes = shape[1]
    if FileKey.of(source) != key:
        raise PrepareError(f"{source} changed while its gene-major copy was built")
    sizes = [(partial / gene_file(g)).stat().st_size for g in range(n_genes)]
    manifest = {"format": FORMAT, "key": asdict(key), "sizes": sizes}
    (partial / _MANIFEST).write_text(json.dumps(manifest))
    try:
        Staged(partial, final).publish()
    except OSError:
        if not final.is_dir():  # another server finished the same copy first: keep theirs
            raise


def _read_x(source: Path, stack: contextlib.ExitStack) -> tuple[MatrixBlocks, tuple[int, int]]:
    """X of a file from anndata before 0.7, opened by the export's reader (kept open by
    ``stack``), and its shape."""
    from cellucid_cloud.export.errors import PrepareError
    from cellucid_cloud.export.source import open_source

    src = stack.enter_context(open_source(source))
    if src.matrix is None:
        raise PrepareError(f"{source} has no X")
    return src.matrix, (src.n_cells, src.n_genes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", type=Path)
    parser.add_argument("partial", type=Path)
    parser.add_argument("final", type=Path)
    parser.add_argument("key")
    parser.add_argument("budget_mb", type=int)
    parser.add_argument("parent", type=int)
    args = parser.parse_args(argv)
    os.nice(10)
    key = FileKey(**json.loads(args.key))
    try:
        build(args.source, args.partial, args.final, key, args.budget_mb, args.parent)
    except Exception as error:  # the server logs the exit and keeps reading X
        sys.stderr.write(f"gene-major copy of {args.source} failed: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
