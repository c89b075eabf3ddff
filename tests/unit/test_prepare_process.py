"""What the processing child reports back (tests/integration/test_processing_limits.py has the
limits themselves, on a bomb through ``up``)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from cellucid_cloud.export import ExportSettings, PrepareError
from cellucid_cloud.local.prepare_process import (
    ChildPrepare,
    LimitExceededError,
    ProcessingCancelledError,
    ProcessLimits,
)
from tests.hostile_uploads import bz2_bomb, good_adata

SETTINGS = ExportSettings(dataset_id="d")


@pytest.fixture(scope="module")
def child() -> ChildPrepare:
    return ChildPrepare(ProcessLimits())


def upload_copy(source: Path, work: Path) -> Path:
    work.mkdir()
    target = work / f"upload{''.join(source.suffixes)}"
    shutil.copyfile(source, target)
    return target


def test_an_export_comes_back_as_its_identity(child: ChildPrepare, tmp_path: Path) -> None:
    source = tmp_path / "good.h5ad"
    good_adata().write_h5ad(source)
    upload = upload_copy(source, tmp_path / "work")
    identity = child(upload, upload.parent / "export", ".h5ad", SETTINGS)
    assert identity.stats.n_cells == good_adata().n_obs
    assert (upload.parent / "export" / "dataset_identity.json").is_file()


def test_a_refused_file_comes_back_as_its_reason(child: ChildPrepare, tmp_path: Path) -> None:
    upload = tmp_path / "work" / "upload.h5ad"
    upload.parent.mkdir()
    upload.write_bytes(b"cell,gene\n1,2\n")
    with pytest.raises(PrepareError, match="not an HDF5") as raised:
        child(upload, upload.parent / "export", ".h5ad", SETTINGS)
    assert not isinstance(raised.value, LimitExceededError)


def test_a_failure_of_ours_is_not_the_files(child: ChildPrepare, tmp_path: Path) -> None:
    """An error that is not the file's (here: the scratch copy has vanished) is raised as
    such, so the processor marks the version for a retry instead of failing it for good."""
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(RuntimeError, match=r"processing child failed.*FileNotFoundError"):
        child(work / "upload.h5ad", work / "export", ".h5ad", SETTINGS)


def test_cancelling_stops_the_child_without_a_verdict(tmp_path: Path) -> None:
    """Shutting down: the running child is killed and the call ends in
    ProcessingCancelledError (the version is left for the next start), not a failure."""
    bomb = tmp_path / "bomb.zarr.zip"
    bz2_bomb(2 << 20)(bomb)
    upload = upload_copy(bomb, tmp_path / "work")
    child = ChildPrepare(ProcessLimits())
    raised: list[BaseException] = []

    def run() -> None:
        try:
            child(upload, upload.parent / "export", ".zarr.zip", SETTINGS)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while not child._children:  # waiting for the child to exist
        assert time.monotonic() < deadline
        time.sleep(0.01)
    child.cancel()
    thread.join(30)
    assert [type(exc) for exc in raised] == [ProcessingCancelledError]
    with pytest.raises(ProcessingCancelledError):
        child(upload, upload.parent / "export", ".zarr.zip", SETTINGS)
