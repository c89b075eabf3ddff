"""The upload checks' own costs and bounds (the hostile corpus, tests/hostile_uploads.py, runs
them through the whole upload path)."""

from __future__ import annotations

import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cellucid_cloud.ingest.upload_checks import (
    SMALL,
    UploadRefusedError,
    check_upload,
)
from tests.hostile_uploads import good_adata


def zarr_zip(path: Path, extra: dict[str, bytes]) -> Path:
    store = path.parent / "store.zarr"
    good_adata().write_zarr(store)
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(store.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(store).as_posix())
        for name, data in extra.items():
            archive.writestr(name, data)
    return path


def test_deep_member_paths_cost_their_length_not_their_depth_squared(tmp_path: Path) -> None:
    """Four members 8,000 folders deep: the check once kept a counter per parent folder,
    8,000 strings of up to 16,000 characters each (≈ 260 MB here, 5 GB at the zip format's
    65,535 characters)."""
    deep = {"0/" + "a/" * 8000 + leaf: b"x" for leaf in "0123"}
    upload = zarr_zip(tmp_path / "deep.zarr.zip", deep)
    tracemalloc.start()
    try:
        check_upload(upload, ".zarr.zip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak / 2**20:.0f} MiB"


def test_metadata_members_are_small(tmp_path: Path) -> None:
    """A metadata member too large to read is refused, not skipped (skipping it skipped the
    declaration it holds)."""
    padded = b'{"zarr_format": 2' + b" " * (SMALL + 1) + b"}"
    upload = zarr_zip(tmp_path / "padded.zarr.zip", {"obsm/X_big/.zarray": padded})
    with pytest.raises(UploadRefusedError, match="zarr metadata is small"):
        check_upload(upload, ".zarr.zip")


def test_deflated_zeros_pass(tmp_path: Path) -> None:
    """The bound admits what deflate does at its worst (≈1,030-fold, what any h5ad may use;
    HDF5's chunking makes it ≈360-fold here): an extra embedding of 115 MiB of zeros in
    gzip-9, a file of ~330 kB, passes; so does the zarr twin of the corpus's good file."""
    adata = good_adata()
    adata.obsm["X_zeros"] = np.zeros((adata.n_obs, 500_000), dtype=np.float32)
    h5ad = tmp_path / "zeros.h5ad"
    adata.write_h5ad(h5ad, compression="gzip", compression_opts=9)
    assert adata.obsm["X_zeros"].nbytes > max(SMALL, 300 * h5ad.stat().st_size)
    check_upload(h5ad, ".h5ad")
    check_upload(zarr_zip(tmp_path / "good.zarr.zip", {}), ".zarr.zip")
