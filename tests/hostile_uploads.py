"""Hostile uploads, generated at test time (no binary blobs in the repository).

Each :class:`HostileUpload` is a named file a curator (or an attacker with curator rights)
could drop into the uploads bucket: malformed containers, AnnData whose parts disagree, values
the export cannot encode, files whose declared sizes would exhaust memory, and containers that
try to reach outside themselves (HDF5 external links, external raw storage and virtual
datasets; zip members with ``..`` names or symlinks). :func:`write` makes the file in a folder.

``reason`` is a fragment the failed version's reason must contain; ``accepted`` marks the cases
the system takes on purpose (their cost is bounded and nothing in them is unsafe); ``why`` says
what the case attacks, or why it is accepted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from scipy import sparse

from tests.export_data import make_adata

__all__ = ["CASES", "HostileUpload", "bz2_bomb", "good_adata", "reason_problem", "write"]

N_CELLS = 60
N_GENES = 12
HUGE = 2**40
"""A declared length no machine can hold: an unguarded read fails at once instead of eating
the test machine's memory."""


def good_adata() -> ad.AnnData:
    """The small, valid dataset every case is a corruption of."""
    return make_adata(n_cells=N_CELLS, n_genes=N_GENES, seed=11)


@dataclass(frozen=True)
class HostileUpload:
    name: str
    suffix: str
    build: Callable[[Path], None]
    why: str
    reason: str = ""
    accepted: bool = False


REPR_DUMP = re.compile(r"\b\w*(Error|Exception|Exit|Interrupt)\((['\"]|\))")
MAX_REASON = 500


def reason_problem(case: HostileUpload, reason: str | None, server_path: str) -> str | None:
    """What is wrong with a failed version's reason, None if it meets the bar: one line of at
    most 500 characters that names the problem (the case's fragment), not an internal error,
    without a traceback, a ``KeyError('x')``-style dump or a path of the server's
    (``server_path``, the scratch folders). ``Name: message`` (``UnicodeDecodeError: 'utf-8'
    codec can't decode byte 0xff``) is fine: it says what went wrong."""
    if not reason:
        return "no reason"
    checks = {
        "more than one line": "\n" in reason,
        f"longer than {MAX_REASON} characters": len(reason) > MAX_REASON,
        "an internal error": reason.startswith("internal error"),
        "a traceback": "Traceback" in reason or 'File "' in reason,
        "an exception repr": REPR_DUMP.search(reason) is not None,
        "a server path": "cellucid-upload-" in reason or server_path in reason,
        f"no mention of {case.reason!r}": case.reason.lower() not in reason.lower(),
    }
    found = [name for name, bad in checks.items() if bad]
    return f"{', '.join(found)}: {reason!r}" if found else None


def write(case: HostileUpload, folder: Path) -> Path:
    """Write ``case`` into ``folder`` (which also receives any file outside the upload that
    the case points at); returns the upload's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{case.name}{case.suffix}"
    case.build(path)
    return path


# -- helpers ---------------------------------------------------------------------------------


def _h5ad(path: Path, adata: ad.AnnData | None = None) -> None:
    (adata if adata is not None else good_adata()).write_h5ad(path)


def _edit(path: Path, change: Callable[[h5py.File], None], adata: ad.AnnData | None = None) -> None:
    """A valid h5ad, then ``change`` applied to it with h5py (what anndata would refuse to
    write)."""
    _h5ad(path, adata)
    with h5py.File(path, "r+") as handle:
        change(handle)


def _replace(handle: h5py.File, name: str, data: object) -> None:
    del handle[name]
    handle[name] = data


def _outside(path: Path, name: str) -> Path:
    """A file beside the upload that the upload must not be able to read (another curator's
    upload, a server secret)."""
    return path.parent / f"{path.stem}.{name}"


def _zarr_zip(path: Path, change: Callable[[Path, zipfile.ZipFile], None] | None = None) -> None:
    """A valid AnnData zarr store zipped to ``path``; ``change`` may add members to the zip
    (given the unzipped store, whose files it may delete first)."""
    store = path.parent / f"{path.name}.store"
    good_adata().write_zarr(store)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        if change is not None:
            change(store, archive)
        for file in sorted(store.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(store).as_posix())
    shutil.rmtree(store)


# -- the cases -------------------------------------------------------------------------------


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _not_hdf5(path: Path) -> None:
    path.write_bytes(b"sample,gene,count\ncell0,CD3E,4\n" * 100)


def _truncated(keep: float) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        _h5ad(path)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return build


def _not_anndata(path: Path) -> None:
    with h5py.File(path, "w") as handle:
        handle["matrix"] = np.arange(12.0).reshape(3, 4)
        handle["names"] = np.array([b"a", b"b", b"c"])


def _zero_cells(path: Path) -> None:
    adata = ad.AnnData(
        X=sparse.csr_matrix((0, N_GENES), dtype=np.float32),
        var=pd.DataFrame(index=[f"GENE{i}" for i in range(N_GENES)]),
    )
    adata.obsm["X_umap"] = np.zeros((0, 2), dtype=np.float32)
    _h5ad(path, adata)


def _zero_genes(path: Path) -> None:
    good = good_adata()
    adata = ad.AnnData(
        X=sparse.csr_matrix((N_CELLS, 0), dtype=np.float32), obs=good.obs, obsm=good.obsm
    )
    _h5ad(path, adata)


def _no_embeddings(path: Path) -> None:
    adata = good_adata()
    adata.obsm.clear()
    _h5ad(path, adata)


def _bad_embedding(value: float) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        adata = good_adata()
        for key in list(adata.obsm):
            adata.obsm[key][7, 0] = value
        _h5ad(path, adata)

    return build


def _x_rows_mismatch(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        bigger = sparse.random(N_CELLS + 5, N_GENES, density=0.2, format="csr", random_state=1)
        del handle["X"]
        ad.io.write_elem(handle, "X", bigger.astype(np.float32))

    _edit(path, change)


def _obsm_rows_mismatch(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        for key in ("X_umap", "X_umap_3d", "X_pca"):
            columns = handle[f"obsm/{key}"].shape[1]
            del handle[f"obsm/{key}"]
            ad.io.write_elem(handle["obsm"], key, np.ones((N_CELLS - 13, columns), np.float32))

    _edit(path, change)


def _out_of_range_indices(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        indices = handle["X/indices"][()]
        indices[len(indices) // 2] = N_GENES + 1000
        _replace(handle, "X/indices", indices)

    _edit(path, change)


def _decreasing_indptr(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        indptr = handle["X/indptr"][()]
        indptr[N_CELLS // 2] = indptr[-1] + 50
        _replace(handle, "X/indptr", indptr)

    _edit(path, change)


def _dense_x(value: float) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        adata = good_adata()
        dense = adata.X.toarray()
        dense[3, 4] = value
        adata.X = dense
        _h5ad(path, adata)

    return build


def _huge_declared_x(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        handle["X"].attrs["shape"] = np.array([HUGE, HUGE])

    _edit(path, change)


def _huge_declared_cells(path: Path) -> None:
    """obs and an embedding declaring 2^40 rows in chunked datasets that store nothing: a file
    of a few kB that asks for terabytes."""
    adata = ad.AnnData(obs=pd.DataFrame(index=[f"c{i}" for i in range(N_CELLS)]))
    adata.obsm["X_umap"] = good_adata().obsm["X_umap"]

    def change(handle: h5py.File) -> None:
        for name, dtype in (("mask", bool), ("values", h5py.string_dtype())):
            del handle[f"obs/_index/{name}"]
            handle.create_dataset(f"obs/_index/{name}", (HUGE,), dtype=dtype, chunks=(1024,))
        handle["obs/_index/values"].attrs.update(
            {"encoding-type": "string-array", "encoding-version": "0.2.0"}
        )
        handle["obs/_index/mask"].attrs.update(
            {"encoding-type": "array", "encoding-version": "0.2.0"}
        )
        del handle["obsm/X_umap"]
        umap = handle.create_dataset("obsm/X_umap", (HUGE, 2), dtype=np.float32, chunks=(1024, 2))
        umap.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})

    _edit(path, change, adata)


def _many_categories(path: Path) -> None:
    adata = good_adata()
    categories = [f"clone-{i:06d}" for i in range(100_000)]
    codes = np.arange(N_CELLS) * 1000
    adata.obs["clone"] = pd.Categorical.from_codes(codes, categories)
    _h5ad(path, adata)


def _non_utf8_names(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        names = [f"GENE{i}".encode() for i in range(N_GENES)]
        names[2] = b"CD3\xff\xfeE"
        _replace(handle, "var/_index/values", np.array(names, dtype=h5py.string_dtype("utf-8")))
        handle["var/_index/values"].attrs.update(
            {"encoding-type": "string-array", "encoding-version": "0.2.0"}
        )

    _edit(path, change)


def _long_names(path: Path) -> None:
    adata = good_adata()
    adata.var_names = [f"G{i}-" + "x" * 100_000 for i in range(N_GENES)]
    adata.obs_names = [f"c{i}-" + "y" * 100_000 for i in range(N_CELLS)]
    adata.obs["long_label"] = pd.Categorical(["z" * 100_000, "w"] * (N_CELLS // 2))
    adata.obs.columns = [*adata.obs.columns[:-1], "k" * 100_000]
    _h5ad(path, adata)


def _duplicate_obs_names(path: Path) -> None:
    adata = good_adata()
    adata.obs_names = ["cell"] * N_CELLS
    _h5ad(path, adata)


def _unknown_encoding(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        handle["obs/total_counts"].attrs["encoding-type"] = "quantum-array"

    _edit(path, change)


def _codes_out_of_range(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        codes = handle["obs/cell_type/codes"][()]
        codes[5] = 99
        _replace(handle, "obs/cell_type/codes", codes)
        handle["obs/cell_type/codes"].attrs.update(
            {"encoding-type": "array", "encoding-version": "0.2.0"}
        )

    _edit(path, change)


def _text_x(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        del handle["X"]
        text = np.array([["many"] * N_GENES] * N_CELLS, dtype=h5py.string_dtype())
        handle["X"] = text
        handle["X"].attrs.update({"encoding-type": "string-array", "encoding-version": "0.2.0"})

    _edit(path, change)


def _negative_shape(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        handle["X"].attrs["shape"] = np.array([-N_CELLS, N_GENES])

    _edit(path, change)


def _bad_graph(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        handle["obsp/connectivities"].attrs["shape"] = np.array([N_CELLS, N_CELLS + 9])

    _edit(path, change)


def _external_link(path: Path) -> None:
    """X links to another HDF5 file on the server (another curator's upload)."""
    other = _outside(path, "other-curator.h5ad")
    _h5ad(other, make_adata(n_cells=N_CELLS, n_genes=N_GENES, seed=99))

    def change(handle: h5py.File) -> None:
        del handle["X"]
        handle["X"] = h5py.ExternalLink(str(other), "/X")

    _edit(path, change)


def _external_storage(path: Path) -> None:
    """An embedding whose raw data is a file elsewhere on the server (e.g. a secret)."""
    secret = _outside(path, "secret")
    secret.write_bytes(os.urandom(N_CELLS * 2 * 4))

    def change(handle: h5py.File) -> None:
        del handle["obsm/X_umap"]
        umap = handle.create_dataset(
            "obsm/X_umap",
            (N_CELLS, 2),
            dtype=np.float32,
            external=[(str(secret), 0, N_CELLS * 2 * 4)],
        )
        umap.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})

    _edit(path, change)


def _virtual_dataset(path: Path) -> None:
    """An embedding that is a virtual view of a dataset in another file."""
    other = _outside(path, "other.h5")
    with h5py.File(other, "w") as handle:
        handle["private"] = np.random.default_rng(5).random((N_CELLS, 2)).astype(np.float32)

    def change(handle: h5py.File) -> None:
        layout = h5py.VirtualLayout(shape=(N_CELLS, 2), dtype=np.float32)
        layout[:] = h5py.VirtualSource(str(other), "private", shape=(N_CELLS, 2))
        del handle["obsm/X_umap"]
        umap = handle.create_virtual_dataset("obsm/X_umap", layout)
        umap.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})

    _edit(path, change)


def _soft_link_loop(path: Path) -> None:
    def change(handle: h5py.File) -> None:
        handle["obsm/loop"] = h5py.SoftLink("/obsm")

    _edit(path, change)


def _unknown_filter(path: Path) -> None:
    """A dense X whose chunks need a compression filter this machine does not have."""
    adata = good_adata()
    adata.X = None

    def change(handle: h5py.File) -> None:
        x = handle.create_dataset(
            "X",
            (N_CELLS, N_GENES),
            dtype=np.float32,
            chunks=(N_CELLS, N_GENES),
            compression=32_123,
            allow_unknown_filter=True,
        )
        x.id.write_direct_chunk((0, 0), np.ones((N_CELLS, N_GENES), np.float32).tobytes())
        x.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})

    _edit(path, change, adata)


def _zarr_missing_chunks(path: Path) -> None:
    def change(store: Path, archive: zipfile.ZipFile) -> None:
        for chunk in ("X/indptr/c/0", "obsm/X_umap/c/0/0"):
            (store / chunk).unlink()

    _zarr_zip(path, change)


def _zarr_huge_declared(path: Path) -> None:
    def change(store: Path, archive: zipfile.ZipFile) -> None:
        metadata = store / "obsm/X_umap/zarr.json"
        document = json.loads(metadata.read_text())
        document["shape"] = [HUGE, 2]
        metadata.write_text(json.dumps(document))

    _zarr_zip(path, change)


def _zarr_traversal(path: Path) -> None:
    def change(store: Path, archive: zipfile.ZipFile) -> None:
        archive.writestr("../../evil", b"#!/bin/sh\necho owned\n")

    _zarr_zip(path, change)


def _zarr_absolute_member(path: Path) -> None:
    def change(store: Path, archive: zipfile.ZipFile) -> None:
        archive.writestr("/etc/cron.d/evil", b"* * * * * root echo owned\n")

    _zarr_zip(path, change)


def _zarr_symlink(path: Path) -> None:
    def change(store: Path, archive: zipfile.ZipFile) -> None:
        (store / "obsm/X_umap/c/0/0").unlink()
        link = zipfile.ZipInfo("obsm/X_umap/c/0/0")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")

    _zarr_zip(path, change)


def _zarr_bomb(path: Path) -> None:
    """A chunk that inflates to 128 MiB of zeros out of a few hundred kB."""

    def change(store: Path, archive: zipfile.ZipFile) -> None:
        (store / "obsm/X_umap/c/0/0").unlink()
        info = zipfile.ZipInfo("obsm/X_umap/c/0/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        zeros = bytes(1 << 20)
        with archive.open(info, "w", force_zip64=True) as member:
            for _ in range(128):
                member.write(zeros)

    _zarr_zip(path, change)


def _zarr_deep_member(path: Path) -> None:
    """Junk members 65,535 (the zip format's most) and 16,000 characters deep beside a valid
    store: zarr never reads them; the member check must cost their length, not depth²."""

    def change(store: Path, archive: zipfile.ZipFile) -> None:
        archive.writestr("0/" + "a/" * 32_766 + "0", b"x")
        for leaf in "0123":
            archive.writestr("1/" + "b/" * 8_000 + leaf, b"x")

    _zarr_zip(path, change)


def _edit_json(file: Path, change: Callable[[dict[str, object]], None]) -> None:
    document = json.loads(file.read_text())
    change(document)
    file.write_text(json.dumps(document))


def _consolidated_entry(document: dict[str, object], name: str) -> dict[str, object]:
    consolidated = document["consolidated_metadata"]
    assert isinstance(consolidated, dict)
    entry = consolidated["metadata"][name]
    assert isinstance(entry, dict)
    return entry


def _zarr_consolidated_v3(path: Path) -> None:
    """obsm/X_umap's own zarr.json is honest; the consolidated copy in the root zarr.json,
    which zarr reads instead, declares 1000 x 524,288 float32 (2 GiB) it does not store."""

    def change(store: Path, archive: zipfile.ZipFile) -> None:
        def lie(document: dict[str, object]) -> None:
            entry = _consolidated_entry(document, "obsm/X_umap")
            entry["shape"] = [1000, 524_288]
            entry["chunk_grid"] = {
                "name": "regular",
                "configuration": {"chunk_shape": [1000, 524_288]},
            }
            entry["codecs"] = [{"name": "bytes", "configuration": {"endian": "little"}}]

        _edit_json(store / "zarr.json", lie)
        shutil.rmtree(store / "obsm/X_umap/c")

    _zarr_zip(path, change)


def _zarr_v2_zip(path: Path, change: Callable[[Path], None]) -> None:
    """A valid AnnData zarr v2 store (with ``.zmetadata``), ``change``d, zipped to ``path``."""
    store = path.parent / f"{path.name}.store"
    with (
        warnings.catch_warnings(action="ignore", category=DeprecationWarning),  # v2 leaves in 0.14
        ad.settings.override(zarr_write_format=2),
    ):
        good_adata().write_zarr(store)
    change(store)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(store.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(store).as_posix())
    shutil.rmtree(store)


def _zarr_consolidated_v2(path: Path) -> None:
    """The v2 twin: an honest .zarray, and .zmetadata declaring 2 GiB with no chunk stored."""

    def change(store: Path) -> None:
        def lie(document: dict[str, object]) -> None:
            metadata = document["metadata"]
            assert isinstance(metadata, dict)
            metadata["obsm/X_umap/.zarray"].update(shape=[1000, 524_288], chunks=[1000, 524_288])

        _edit_json(store / ".zmetadata", lie)
        for chunk in (store / "obsm/X_umap").glob("[0-9]*"):
            chunk.unlink()

    _zarr_v2_zip(path, change)


def bz2_bomb(padding: int = 0) -> Callable[[Path], None]:
    """A .zarr.zip with an extra embedding of 60 x 4,473,924 float32 (1 GiB of zeros, honestly
    declared) in one bz2 chunk of a few kB, which the exporter reads whole: bz2 inflates such
    data over a million-fold, past the "unstored" ratio, so only the bound on what a file may
    declare refuses it before it is decoded. ``padding`` bytes of noise (``uns/padding``) make
    the file large enough to pass that bound too: then only processing's limits stop it."""
    return lambda path: _zarr_bz2_bomb(path, padding)


def _zarr_bz2_bomb(path: Path, padding: int) -> None:
    import bz2

    columns = (1 << 30) // (4 * N_CELLS)
    size, piece = 4 * N_CELLS * columns, 8 << 20
    # bz2 reads concatenated streams as one: a few compressed pieces make the whole gigabyte.
    stream = bz2.compress(bytes(piece), 9) * (size // piece) + bz2.compress(bytes(size % piece))

    def change(store: Path) -> None:
        folder = store / "obsm/X_bomb"
        shutil.copytree(store / "obsm/X_umap", folder)
        for chunk in folder.glob("[0-9]*"):
            chunk.unlink()

        def bomb(document: dict[str, object]) -> None:
            document.update(
                shape=[N_CELLS, columns],
                chunks=[N_CELLS, columns],
                compressor={"id": "bz2", "level": 9},
                filters=None,
            )

        _edit_json(folder / ".zarray", bomb)
        (folder / "0.0").write_bytes(stream)

        def add(document: dict[str, object]) -> None:
            metadata = document["metadata"]
            assert isinstance(metadata, dict)
            metadata["obsm/X_bomb/.zarray"] = json.loads((folder / ".zarray").read_text())
            metadata["obsm/X_bomb/.zattrs"] = metadata["obsm/X_umap/.zattrs"]

        _edit_json(store / ".zmetadata", add)
        if padding:
            noise = np.random.default_rng(0).integers(0, 256, padding, dtype=np.uint8)
            (store / "uns/padding").mkdir(parents=True)
            (store / "uns/padding/.zarray").write_text(
                json.dumps(
                    {
                        "zarr_format": 2,
                        "shape": [padding],
                        "chunks": [padding],
                        "dtype": "|u1",
                        "compressor": None,
                        "fill_value": 0,
                        "filters": None,
                        "order": "C",
                        "dimension_separator": ".",
                    }
                )
            )
            (store / "uns/padding/0").write_bytes(noise.tobytes())

    _zarr_v2_zip(path, change)


def _zarr_huge_chunk_shape(path: Path) -> None:
    """An embedding of the right shape whose chunk shape declares 2^30 columns: a chunk
    decodes whole, so that is what reading it may allocate."""
    grid = {"name": "regular", "configuration": {"chunk_shape": [N_CELLS, 2**30]}}

    def change(store: Path, archive: zipfile.ZipFile) -> None:
        def consolidated(document: dict[str, object]) -> None:
            _consolidated_entry(document, "obsm/X_umap")["chunk_grid"] = grid

        _edit_json(
            store / "obsm/X_umap/zarr.json", lambda document: document.update(chunk_grid=grid)
        )
        _edit_json(store / "zarr.json", consolidated)

    _zarr_zip(path, change)


def _zarr_pickle(path: Path) -> None:
    """An obs column whose filter is numcodecs' pickle: zarr 2 unpickles the chunk (runs it)."""
    pickled = [{"id": "pickle", "protocol": 5}]

    def change(store: Path) -> None:
        def consolidated(document: dict[str, object]) -> None:
            metadata = document["metadata"]
            assert isinstance(metadata, dict)
            metadata["obs/total_counts/.zarray"]["filters"] = pickled

        _edit_json(
            store / "obs/total_counts/.zarray", lambda document: document.update(filters=pickled)
        )
        _edit_json(store / ".zmetadata", consolidated)

    _zarr_v2_zip(path, change)


def _zip_not_zip(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04 but not really a zip archive" * 40)


def _zip_empty(path: Path) -> None:
    with zipfile.ZipFile(path, "w"):
        pass


CASES: tuple[HostileUpload, ...] = (
    HostileUpload("empty-file", ".h5ad", _empty, "zero bytes", "empty"),
    HostileUpload("not-hdf5", ".h5ad", _not_hdf5, "a CSV named .h5ad", "not an HDF5"),
    HostileUpload("truncated-half", ".h5ad", _truncated(0.5), "an upload cut in half", "truncated"),
    HostileUpload(
        "truncated-tail", ".h5ad", _truncated(0.97), "the last bytes missing", "truncated"
    ),
    HostileUpload(
        "hdf5-not-anndata", ".h5ad", _not_anndata, "HDF5 without AnnData groups", "not an AnnData"
    ),
    HostileUpload("zero-cells", ".h5ad", _zero_cells, "no cells to show", "no cells"),
    HostileUpload(
        "zero-genes",
        ".h5ad",
        _zero_genes,
        "an X with no columns: accepted, an embedding-only export (like an AnnData without X)",
        accepted=True,
    ),
    HostileUpload("no-embeddings", ".h5ad", _no_embeddings, "obsm empty", "no usable embedding"),
    HostileUpload("nan-embedding", ".h5ad", _bad_embedding(np.nan), "NaN coordinates", "NaN"),
    HostileUpload("inf-embedding", ".h5ad", _bad_embedding(np.inf), "inf coordinates", "infinite"),
    HostileUpload(
        "x-rows-vs-obs", ".h5ad", _x_rows_mismatch, "X has 5 more rows than obs", "X has shape"
    ),
    HostileUpload(
        "obsm-rows-vs-obs", ".h5ad", _obsm_rows_mismatch, "embeddings 13 rows short", "rows"
    ),
    HostileUpload(
        "sparse-index-out-of-range",
        ".h5ad",
        _out_of_range_indices,
        "a CSR column index past the last gene",
        "X is corrupt",
    ),
    HostileUpload(
        "sparse-indptr-decreasing",
        ".h5ad",
        _decreasing_indptr,
        "a CSR indptr that goes backwards",
        "X is corrupt",
    ),
    HostileUpload("dense-x-nan", ".h5ad", _dense_x(np.nan), "NaN in a dense X", "NaN"),
    HostileUpload("dense-x-inf", ".h5ad", _dense_x(-np.inf), "-inf in a dense X", "infinite"),
    HostileUpload(
        "huge-declared-x-shape",
        ".h5ad",
        _huge_declared_x,
        "X's shape attribute claims 2^40 x 2^40",
        "X has shape",
    ),
    HostileUpload(
        "huge-declared-cells",
        ".h5ad",
        _huge_declared_cells,
        "obs and an embedding declare 2^40 rows in datasets that store nothing",
        "do not store",
    ),
    HostileUpload(
        "100k-categories",
        ".h5ad",
        _many_categories,
        "a categorical obs field with 100,000 categories: accepted, categories cost a few "
        "vectorised passes and unused ones are kept",
        accepted=True,
    ),
    HostileUpload(
        "non-utf8-names", ".h5ad", _non_utf8_names, "a gene name that is not UTF-8", "UTF-8"
    ),
    HostileUpload(
        "100k-char-names",
        ".h5ad",
        _long_names,
        "gene, cell, field and category names of 100,000 characters: accepted, names are data "
        "and cost what the upload holds (the export is smaller than the file)",
        accepted=True,
    ),
    HostileUpload(
        "duplicate-obs-names",
        ".h5ad",
        _duplicate_obs_names,
        "every cell called 'cell': accepted, cell names are never exported",
        accepted=True,
    ),
    HostileUpload(
        "unknown-encoding",
        ".h5ad",
        _unknown_encoding,
        "an obs column with an encoding anndata does not know",
        "cannot read",
    ),
    HostileUpload(
        "categorical-codes-out-of-range",
        ".h5ad",
        _codes_out_of_range,
        "a category code past the category list",
        "cannot read",
    ),
    HostileUpload("text-x", ".h5ad", _text_x, "X made of strings", "X"),
    HostileUpload(
        "negative-shape", ".h5ad", _negative_shape, "X's shape attribute is negative", "shape"
    ),
    HostileUpload(
        "graph-wrong-shape",
        ".h5ad",
        _bad_graph,
        "obsp['connectivities'] not n x n",
        "connectivities",
    ),
    HostileUpload(
        "hdf5-external-link",
        ".h5ad",
        _external_link,
        "X is an external link to another file on the server",
        "outside",
    ),
    HostileUpload(
        "hdf5-external-storage",
        ".h5ad",
        _external_storage,
        "an embedding whose raw bytes live in another file on the server",
        "outside",
    ),
    HostileUpload(
        "hdf5-virtual-dataset",
        ".h5ad",
        _virtual_dataset,
        "an embedding that is a virtual view into another file",
        "outside",
    ),
    HostileUpload(
        "hdf5-soft-link-loop",
        ".h5ad",
        _soft_link_loop,
        "a soft link from obsm to itself",
        "obsm",
    ),
    HostileUpload(
        "hdf5-unknown-filter",
        ".h5ad",
        _unknown_filter,
        "an embedding compressed with an unregistered filter",
        "filter",
    ),
    HostileUpload(
        "zarr-missing-chunks",
        ".zarr.zip",
        _zarr_missing_chunks,
        "X's indptr and an embedding's chunk missing from the zip",
        "X is corrupt",
    ),
    HostileUpload(
        "zarr-huge-declared-embedding",
        ".zarr.zip",
        _zarr_huge_declared,
        "an embedding whose metadata declares 2^40 rows the zip does not hold",
        "do not store",
    ),
    HostileUpload(
        "zarr-path-traversal",
        ".zarr.zip",
        _zarr_traversal,
        "a member named ../../evil",
        "unsafe member",
    ),
    HostileUpload(
        "zarr-absolute-member",
        ".zarr.zip",
        _zarr_absolute_member,
        "a member named /etc/cron.d/evil",
        "unsafe member",
    ),
    HostileUpload(
        "zarr-symlink-member",
        ".zarr.zip",
        _zarr_symlink,
        "a chunk that is a symlink to /etc/passwd",
        "symbolic link",
    ),
    HostileUpload(
        "zarr-zip-bomb",
        ".zarr.zip",
        _zarr_bomb,
        "a chunk that inflates to 128 MiB of zeros",
        "zip bomb",
    ),
    HostileUpload(
        "zarr-deep-member-paths",
        ".zarr.zip",
        _zarr_deep_member,
        "junk members 65,535 and 16,000 characters deep (once 5 GB and 26 s of the check): "
        "accepted, zarr never reads them and checking them costs their length",
        accepted=True,
    ),
    HostileUpload(
        "zarr-consolidated-v3-declares-2-gib",
        ".zarr.zip",
        _zarr_consolidated_v3,
        "an honest zarr.json, and a consolidated copy in the root declaring 2 GiB unstored",
        "do not store",
    ),
    HostileUpload(
        "zarr-consolidated-v2-declares-2-gib",
        ".zarr.zip",
        _zarr_consolidated_v2,
        "an honest .zarray, and .zmetadata declaring 2 GiB with no chunk stored",
        "do not store",
    ),
    HostileUpload(
        "zarr-bz2-bomb",
        ".zarr.zip",
        bz2_bomb(),
        "1 GiB of zeros honestly declared, in a bz2 chunk of a few kB",
        "1,000 times",
    ),
    HostileUpload(
        "zarr-huge-chunk-shape",
        ".zarr.zip",
        _zarr_huge_chunk_shape,
        "an embedding whose chunk shape declares 2^30 columns",
        "do not store",
    ),
    HostileUpload(
        "zarr-pickle-codec",
        ".zarr.zip",
        _zarr_pickle,
        "an obs column with numcodecs' pickle filter (code execution under zarr 2)",
        "pickle codec, which runs code",  # refused up front, not by the reader of the day
    ),
    HostileUpload(
        "zarr-zip-not-a-zip", ".zarr.zip", _zip_not_zip, "zip magic, then garbage", "not a zip"
    ),
    HostileUpload("zarr-zip-empty", ".zarr.zip", _zip_empty, "a zip with no members", "AnnData"),
)
