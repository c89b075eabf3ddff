"""An upload in S3 opened by h5py through byte ranges, checked before anything reads it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cellucid_cloud.core.ports import ByteRanges
from cellucid_cloud.export import PrepareError
from cellucid_cloud.ingest.upload_checks import UploadRefusedError, hdf5_problem

from .range_file import RangeFile

__all__ = ["UploadReadError", "open_upload"]


class UploadReadError(RuntimeError):
    """Reading the upload from storage failed: the storage's failure, not the file's (the
    version fails as retryable, not refused)."""


@contextlib.contextmanager
def open_upload(ranges: ByteRanges, name: Path, *, check: bool = True) -> Iterator[Any]:
    """The upload as an open h5py File. ``check``: refuse what the small path's upload checks
    refuse (:mod:`cellucid_cloud.ingest.upload_checks`); a block step reads a file its plan
    checked already."""
    import h5py

    with contextlib.ExitStack() as stack:
        file = stack.enter_context(RangeFile(ranges))
        if ranges.size == 0:
            raise UploadRefusedError(f"{name}: the file is empty (0 bytes)")
        try:
            try:
                root = stack.enter_context(h5py.File(file, "r"))
            except OSError as error:
                raise PrepareError(
                    f"{name}: not an HDF5 AnnData file or truncated ({error})"
                ) from None
            if check and (problem := hdf5_problem(root, ranges.size)) is not None:
                raise UploadRefusedError(f"{name}: {problem}")
            yield root
        except PrepareError:
            if file.failure is not None:  # what h5py or the reader saw as a bad file
                raise UploadReadError(
                    f"{name}: reading the upload failed: {file.failure}"
                ) from file.failure
            raise
