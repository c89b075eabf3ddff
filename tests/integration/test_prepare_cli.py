"""The prepare command as a user runs it: exit codes, one-line errors, atomic output."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.export_data import make_adata

CLI = [sys.executable, "-m", "cellucid_cloud.cli"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def good_h5ad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("in") / "good.h5ad"
    make_adata(n_cells=300, n_genes=40).write_h5ad(path)
    return path


def test_prepare_succeeds_and_reports(good_h5ad: Path, tmp_path: Path) -> None:
    costs = tmp_path / "costs.jsonl"
    done = run(
        "prepare", good_h5ad, tmp_path / "out", "--dataset-id", "good", "--name", "Good",
        "--costs", costs,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "exported good: 300 cells, 40 genes" in done.stdout
    assert done.stderr == ""
    assert (tmp_path / "out" / "dataset_identity.json").is_file()
    assert not list(tmp_path.glob(".out.staging-*"))
    blocks = [json.loads(line) for line in costs.read_text().splitlines()]
    stored = int((make_adata(300, 40).X != 0).sum())
    for kind in ("rows", "genes"):
        assert sum(block["entries"] for block in blocks if block["kind"] == kind) == stored


def _bad_inputs(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    not_hdf5 = folder / "text.h5ad"
    not_hdf5.write_text("hello")
    truncated = folder / "truncated.h5ad"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    not_anndata = folder / "plain.h5"
    with h5py.File(not_anndata, "w") as handle:
        handle["data"] = np.arange(3)
    no_embedding = folder / "noemb.h5ad"
    adata = make_adata(n_cells=20, n_genes=5)
    adata.obsm.clear()
    adata.write_h5ad(no_embedding)
    nan_embedding = folder / "nanemb.h5ad"
    adata = make_adata(n_cells=20, n_genes=5)
    adata.obsm["X_umap"][3, 0] = np.nan
    adata.write_h5ad(nan_embedding)
    mismatched = folder / "mismatch.h5ad"
    adata = make_adata(n_cells=20, n_genes=5)
    adata.write_h5ad(mismatched)
    with h5py.File(mismatched, "r+") as handle:
        del handle["obsm/X_umap"]
        handle["obsm/X_umap"] = np.zeros((7, 2), dtype=np.float32)
    return {
        "not hdf5": (not_hdf5, "not an HDF5 AnnData file"),
        "truncated": (truncated, "truncated"),
        "not anndata": (not_anndata, "not an AnnData file"),
        "no embedding": (no_embedding, "no usable embedding"),
        "nan embedding": (nan_embedding, "NaN or infinite coordinates"),
        "mismatched shapes": (mismatched, "obsm['X_umap'] has 7 rows but there are 20 cells"),
        "missing": (folder / "absent.h5ad", "no such file"),
    }


def test_bad_inputs_fail_with_one_clear_line(good_h5ad: Path, tmp_path: Path) -> None:
    for label, (path, message) in _bad_inputs(tmp_path, good_h5ad).items():
        out = tmp_path / f"out-{label.replace(' ', '-')}"
        done = run("prepare", path, out)
        assert done.returncode == 1, label
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (label, done.stderr)
        assert message in lines[0], (label, lines[0])
        assert "Traceback" not in done.stderr
        assert not out.exists(), label


def test_unwritable_output_and_existing_folder(good_h5ad: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        done = run("prepare", good_h5ad, locked / "out")
        if os.geteuid() != 0:
            assert done.returncode == 1 and "cannot write" in done.stderr
    finally:
        locked.chmod(0o700)
    done = run("prepare", good_h5ad, "/proc/no/such/place")
    assert done.returncode == 1 and done.stderr.startswith("error: cannot write")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    done = run("prepare", good_h5ad, tmp_path / "taken")
    assert done.returncode == 1 and "already exists" in done.stderr
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert run("prepare", good_h5ad, tmp_path / "taken", "--force").returncode == 0
    assert not (tmp_path / "taken" / "keep.txt").exists()


def test_usage_error_exits_2(good_h5ad: Path, tmp_path: Path) -> None:
    done = run("prepare", good_h5ad, tmp_path / "o", "--compression", "12")
    assert done.returncode == 2
    done = run("prepare", good_h5ad, tmp_path / "o", "--var-quantization", "7")
    assert done.returncode == 1 and "var_quantization" in done.stderr


def test_a_killed_prepare_leaves_nothing_at_out_dir(tmp_path: Path) -> None:
    big = tmp_path / "big.h5ad"
    make_adata(n_cells=20_000, n_genes=400).write_h5ad(big)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*CLI, "prepare", str(big), str(out), "--workers", "1", "--memory-budget", "16"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob(".out.staging-*/var/*")):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list(tmp_path.glob(".out.staging-*")), "the kill came too late to test anything"
    assert not out.exists()
    done = run("prepare", big, out)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.glob(".out.staging-*")), "the abandoned staging folder is cleaned"
