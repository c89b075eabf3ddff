"""An unfiltered HDF5 dataset read by the places of its bytes in the file instead of h5py.

h5py holds a lock of its own and the GIL through every read, so threads reading X's rows take
turns and stall every other thread of the process (two threads read a 200,000-cell X 1.17×
faster than one), and slicing through HDF5's chunk machinery costs ~5× the CPU of reading the
bytes. Without filters, a dataset's values are stored as they are: in one run of bytes
(contiguous layout) or in chunks at offsets HDF5 reports (``chunk_iter``; anndata writes sparse
arrays chunked, uncompressed unless asked). ``os.preadv`` reads those bytes with the GIL
released, into arrays of the dataset's own dtype (its byte order included). A compressed,
external, virtual or partly unwritten dataset is read through h5py. Used by the export's blocks
(``matrix_files.py``) and by direct serving's CSR column scans (``serve/csr_columns.py``).
"""

import os
from types import EllipsisType
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["StoredRuns", "stored_runs"]


class StoredRuns:
    """A one-dimensional dataset of ``dtype`` whose values ``starts[i]`` to ``starts[i + 1]``
    are stored from byte ``offsets[i]`` of the file open as ``fd``; sliced as h5py slices."""

    def __init__(
        self, fd: int, dtype: np.dtype[Any], starts: NDArray[np.int64], offsets: NDArray[np.int64]
    ) -> None:
        self.fd = fd
        self.dtype = dtype
        self.starts = starts
        self.offsets = offsets
        self.shape = (int(starts[-1]),)

    def __getitem__(self, where: slice | EllipsisType) -> NDArray[Any]:
        if where is Ellipsis:
            where = slice(None)
        if not isinstance(where, slice):
            raise TypeError("a stored array is read in slices")
        start, stop, step = where.indices(self.shape[0])
        if step != 1:
            raise ValueError("a stored array is read in contiguous slices")
        return self.read_into(start, stop, np.empty(max(0, stop - start), self.dtype))

    def read_into(self, start: int, stop: int, out: NDArray[Any]) -> NDArray[Any]:
        """Elements ``[start, stop)`` read into the first ``stop - start`` of ``out`` (of this
        dtype), which is returned."""
        if out.dtype != self.dtype or out.size < stop - start:
            raise ValueError(f"a buffer of {stop - start} {self.dtype} is needed")
        values = out[: max(0, stop - start)]
        view = memoryview(values).cast("B")
        size = self.dtype.itemsize
        run = int(np.searchsorted(self.starts, start, side="right")) - 1
        while start < stop:
            end = min(stop, int(self.starts[run + 1]))
            position = int(self.offsets[run]) + (start - int(self.starts[run])) * size
            self._read(view[: (end - start) * size], position)
            view, start, run = view[(end - start) * size :], end, run + 1
        return values

    def offsets_of(self, positions: NDArray[np.int64]) -> NDArray[np.int64]:
        """Where in the file the elements at ``positions`` are stored."""
        run = np.searchsorted(self.starts, positions, side="right") - 1
        return self.offsets[run] + (positions - self.starts[run]) * self.dtype.itemsize

    def _read(self, view: memoryview, position: int) -> None:
        done = 0
        while done < len(view):
            count = os.preadv(self.fd, [view[done:]], position + done)
            if count == 0:
                raise OSError(f"the file ends inside a stored array (at byte {position + done})")
            done += count


def stored_runs(dataset: Any, fd: int) -> StoredRuns | None:
    """``dataset`` (h5py) read from ``fd``, the same file opened by the OS, when its values are
    stored unfiltered, every chunk written; None when h5py must read it."""
    try:
        return _runs(dataset, fd)
    except (AttributeError, OSError, RuntimeError, TypeError, ValueError):
        return None  # an h5py or HDF5 without chunk_iter, or a layout it cannot report


def _runs(dataset: Any, fd: int) -> StoredRuns | None:
    dtype = dataset.dtype
    if (
        dataset.ndim != 1
        or dataset.shape[0] == 0
        or dataset.external
        or dataset.is_virtual
        or dataset.file.userblock_size
        or dtype.kind not in "biuf"
        or dataset.id.get_create_plist().get_nfilters()
    ):
        return None
    length, size = int(dataset.shape[0]), dtype.itemsize
    if dataset.chunks is None:
        offset = dataset.id.get_offset()
        if offset is None or dataset.id.get_storage_size() != length * size:
            return None  # never written: HDF5 answers its fill value
        runs = [(0, int(offset))]
    else:
        runs = []
        dataset.id.chunk_iter(lambda chunk: runs.append((chunk.chunk_offset[0], chunk.byte_offset)))
        if len(runs) != -(-length // dataset.chunks[0]):
            return None  # chunks never written read as the fill value: h5py knows which
        runs.sort()
    starts = np.array([start for start, _ in runs] + [length], np.int64)
    offsets = np.array([offset for _, offset in runs], np.int64)
    # Chunks stored one after another are read as one run.
    follows = offsets[1:] == offsets[:-1] + np.diff(starts[:-1]) * size
    keep = np.concatenate(([True], ~follows))
    return StoredRuns(fd, dtype, np.append(starts[:-1][keep], length), offsets[keep])
