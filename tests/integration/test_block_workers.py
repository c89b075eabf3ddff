"""``prepare --workers N``: the blocks of X on worker processes write the same bytes as one
process, for any block size, and refuse a bad X with the same reason."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from cellucid_cloud.export import PrepareError, prepare
from cellucid_cloud.export.layout import files_on_disk
from tests.export_data import make_adata, write_with_bad_value

CREATED_AT = "2024-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    files = {}
    for layout in ("csr", "csc", "dense"):
        files[layout] = folder / f"{layout}.h5ad"
        make_adata(n_cells=611, n_genes=73, layout=layout, seed=1).write_h5ad(files[layout])
    files["zarr"] = folder / "x.zarr"
    make_adata(n_cells=257, n_genes=41, seed=2).write_zarr(files["zarr"])
    files["scaled"] = folder / "scaled.h5ad"
    make_adata(n_cells=200, n_genes=30, scaled=True, seed=3).write_h5ad(files["scaled"])
    return files


def assert_same_export(expected: Path, actual: Path) -> None:
    files = files_on_disk(expected)
    assert files_on_disk(actual) == files
    different = [
        name for name in files if (expected / name).read_bytes() != (actual / name).read_bytes()
    ]
    assert different == []


@pytest.mark.parametrize(
    ("name", "rows", "genes", "bits"),
    [
        ("csr", 37, 5, 8),
        ("csr", 1, 7, 16),
        ("dense", 53, 3, 8),
        ("csc", None, 4, 8),
        ("zarr", 41, 11, 0),
        ("scaled", 16, 30, 8),
    ],
)
def test_blocks_on_workers_write_the_bytes_of_one_process(
    inputs: dict[str, Path], tmp_path: Path, name: str, rows: int | None, genes: int, bits: int
) -> None:
    one = prepare(inputs[name], tmp_path / "one", var_quantization=bits, created_at=CREATED_AT)
    blocks = prepare(
        inputs[name],
        tmp_path / "blocks",
        var_quantization=bits,
        created_at=CREATED_AT,
        workers=2,
        block_rows=rows,
        block_genes=genes,
    )
    assert_same_export(tmp_path / "one", tmp_path / "blocks")
    n_cells, n_genes = one.identity.stats.n_cells, one.identity.stats.n_genes
    kinds = [cost.kind for cost in blocks.block_costs]
    assert kinds.count("genes") == -(-n_genes // genes)
    assert kinds.count("rows") == (0 if name == "csc" else -(-n_cells // (rows or n_cells)))


def test_in_memory_blocks_run_on_threads_with_the_same_bytes(tmp_path: Path) -> None:
    adata = make_adata(n_cells=300, n_genes=20, seed=4)
    prepare(adata, tmp_path / "one", created_at=CREATED_AT)
    prepare(adata, tmp_path / "blocks", created_at=CREATED_AT, workers=2, block_genes=3)
    assert_same_export(tmp_path / "one", tmp_path / "blocks")


def test_a_bad_x_is_refused_by_a_worker_with_the_reason_of_one_process(tmp_path: Path) -> None:
    path = write_with_bad_value(
        make_adata(n_cells=120, n_genes=10, seed=5), tmp_path / "nan.h5ad", 70, np.nan
    )
    with pytest.raises(PrepareError) as one:
        prepare(path, tmp_path / "one")
    with pytest.raises(PrepareError) as blocks:
        prepare(path, tmp_path / "blocks", workers=2, block_rows=50)
    assert str(one.value).startswith("X has NaN or infinite values (cells ")
    assert str(blocks.value) == "X has NaN or infinite values (cells 50-100)"
    assert not (tmp_path / "blocks").exists()


POOL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from cellucid_cloud.export.block_pool import process_pool

    if __name__ == "__main__":
        pool = process_pool(2)
        for future in [pool.submit(time.sleep, 0.2) for _ in range(4)]:
            future.result()
        print(" ".join(str(pid) for pid in pool._processes), flush=True)
        time.sleep(600)
    """
)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_workers_end_with_the_process_that_started_them(tmp_path: Path) -> None:
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert parent.stdout is not None
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(_running(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in workers if _running(pid)] == []
    finally:
        parent.kill()
        parent.wait()


def test_a_spill_held_in_memory_or_in_a_file_gives_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cellucid_cloud.export import block_tasks

    path = tmp_path / "wide.h5ad"
    make_adata(n_cells=20_000, n_genes=1_000, seed=6).write_h5ad(path)  # ~18 MB of spill
    shards: list[str] = []
    write_shard = block_tasks.write_shard

    def spy(shard: str, parts: list[memoryview]) -> None:
        shards.append(shard)
        write_shard(shard, parts)

    monkeypatch.setattr(block_tasks, "write_shard", spy)
    prepare(path, tmp_path / "held", created_at=CREATED_AT)
    assert shards == []
    prepare(path, tmp_path / "file", created_at=CREATED_AT, memory_budget_mb=16)
    assert shards
    assert_same_export(tmp_path / "held", tmp_path / "file")
