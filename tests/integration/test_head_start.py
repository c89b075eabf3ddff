"""X first: ``prepare`` of an .h5ad begins X's blocks from the file's structure alone, before
anndata is imported, and the engine takes them over, or stops them when it refuses the file."""

import subprocess
import sys
import textwrap
import threading
from concurrent.futures import CancelledError, ThreadPoolExecutor
from pathlib import Path

import pytest

from cellucid_cloud.export import PrepareError, prepare
from cellucid_cloud.export.format import GENE_VALUES
from cellucid_cloud.export.head_start import begin_genes
from cellucid_cloud.export.progress import no_progress
from cellucid_cloud.export.settings import ExportSettings
from tests.export_data import make_adata
from tests.integration.test_block_workers import assert_same_export
from tests.legacy_files import write_legacy_h5ad

CREATED_AT = "2024-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("head") / "cells.h5ad"
    make_adata(n_cells=611, n_genes=73, seed=7).write_h5ad(path)
    return path


def test_the_blocks_begin_without_anndata(h5ad: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from concurrent.futures import ThreadPoolExecutor
        from pathlib import Path
        from cellucid_cloud.export.head_start import begin_genes
        from cellucid_cloud.export.prepare import prepare
        from cellucid_cloud.export.progress import no_progress
        from cellucid_cloud.export.settings import ExportSettings

        with ThreadPoolExecutor(1) as thread:
            begun = begin_genes(
                Path({str(h5ad)!r}), ExportSettings(), Path({str(tmp_path)!r}), thread, no_progress
            )
            bounds = begun.bounds.result()
        print(sorted({{"anndata", "pandas", "zarr"}} & set(sys.modules)), len(bounds.minimum))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["[]", "73"]
    assert len(list((tmp_path / GENE_VALUES.folder).iterdir())) == 73


def test_an_export_with_a_head_start_is_the_export_of_the_anndata(
    h5ad: Path, tmp_path: Path
) -> None:
    import anndata as ad

    settings = {"dataset_id": "cells", "created_at": CREATED_AT}
    prepare(h5ad, tmp_path / "file", **settings)
    prepare(ad.read_h5ad(h5ad), tmp_path / "memory", **settings)
    assert_same_export(tmp_path / "memory", tmp_path / "file")


def test_what_gets_no_head_start(tmp_path: Path) -> None:
    adata = make_adata(n_cells=50, n_genes=6, seed=8)
    adata.write_zarr(tmp_path / "x.zarr")
    write_legacy_h5ad(adata, tmp_path / "legacy.h5ad")
    no_x = adata.copy()
    no_x.X = None
    no_x.write_h5ad(tmp_path / "no_x.h5ad")
    adata.write_h5ad(tmp_path / "good.h5ad")
    (tmp_path / "not.h5ad").write_bytes(b"not an HDF5 file")
    cases = {
        "in memory": (adata, ExportSettings()),
        "zarr": (tmp_path / "x.zarr", ExportSettings()),
        "anndata 0.6": (tmp_path / "legacy.h5ad", ExportSettings()),
        "no X": (tmp_path / "no_x.h5ad", ExportSettings()),
        "not HDF5": (tmp_path / "not.h5ad", ExportSettings()),
        "no such layer": (tmp_path / "good.h5ad", ExportSettings(expression_matrix="layers/x")),
    }
    with ThreadPoolExecutor(1) as thread:
        begun = {
            name: begin_genes(source, settings, tmp_path / "out", thread, no_progress)
            for name, (source, settings) in cases.items()
        }
        good = begin_genes(tmp_path / "good.h5ad", ExportSettings(), tmp_path, thread, no_progress)
    assert begun == dict.fromkeys(cases)
    assert good is not None and good.location.node == "/X" and good.location.shape == (50, 6)


def test_blocks_that_are_not_taken_over_are_stopped_and_removed(h5ad: Path, tmp_path: Path) -> None:
    settings = ExportSettings(block_rows=1, block_genes=1)
    with ThreadPoolExecutor(1) as thread:
        begun = begin_genes(h5ad, settings, tmp_path, thread, no_progress)
        assert begun is not None
        assert begun.adopt(begun.location.model_copy(update={"node": "/raw/X"})) is None
    with pytest.raises(CancelledError):
        begun.bounds.result()
    assert not (tmp_path / GENE_VALUES.folder).exists()


def test_a_refused_file_stops_the_blocks_and_leaves_nothing(h5ad: Path, tmp_path: Path) -> None:
    before = threading.active_count()
    with pytest.raises(PrepareError, match="obs has no column 'nope'"):
        prepare(h5ad, tmp_path / "out", obs_keys=["nope"], block_rows=1, block_genes=1)
    assert list(tmp_path.iterdir()) == []
    assert threading.active_count() == before
