"""Opening an AnnData input (.h5ad, .zarr, .zarr.zip or in memory) for chunked reading.

X (or raw.X, or a layer: see pick_matrix) is never loaded whole: on disk it is read through
anndata's backed sparse datasets or the HDF5/zarr array itself, a block of rows (CSR, dense) or
of columns (CSC) at a time. obs columns, var and the graph are read into memory; obs is read
without its index (cell names are never exported, and at 10^6 cells they cost more to read than
every column together), and an obsm or uns element is read only when the export asks for it.
A file from anndata before 0.7 has its annotations read by legacy.py instead.
Every failure to read is turned into a PrepareError naming the input, so the CLI never shows a
traceback for a file that is not AnnData, truncated or inconsistent.
"""

import contextlib
import os
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import anndata as ad
import numpy as np
import pandas as pd
from anndata._io.specs.registry import IORegistryError
from scipy import sparse

from .errors import PrepareError, one_line
from .legacy import Annotations, read_legacy
from .matrix import READ_ERRORS, ArrayBlocks, Layout, MatrixBlocks
from .matrix_files import is_legacy, pick_matrix, stored_layout, stored_matrices
from .settings import ExportSettings


@dataclass(frozen=True)
class AnnDataSource:
    """The parts of an AnnData the export reads, with X left on disk.

    ``obs`` has the columns of the AnnData; its index is not the cell names when read from a file.
    """

    n_cells: int
    n_genes: int
    obs: pd.DataFrame
    var: pd.DataFrame
    obsm: Mapping[str, Any]
    uns: Mapping[str, Any]
    connectivities: Any
    matrix: MatrixBlocks | None
    expression_matrix: str | None
    """Where ``matrix`` comes from: 'X', 'raw.X' or 'layers/<name>'."""
    stem: str
    modified: datetime | None
    path: Path | None = None
    """The file (or zarr folder) read; None for an AnnData in memory."""

    def uns_text(self, key: str) -> str | None:
        """``uns[key]`` when it is one non-empty string (also as older files store one: bytes,
        or an array of one), else None."""
        if key not in self.uns:
            return None
        value = self.uns[key]
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(-1)[0]
        if isinstance(value, bytes | np.bytes_):
            value = value.decode("utf-8", errors="replace")
        if not isinstance(value, str):
            return None
        return value.strip() or None


def _layout_of(x: Any) -> Layout:
    fmt = getattr(x, "format", None)
    if fmt in ("csr", "csc"):
        return "csr" if fmt == "csr" else "csc"
    if sparse.issparse(x):
        raise PrepareError(f"X is a {fmt} sparse matrix; convert it to CSR or CSC")
    return "dense"


def _from_memory(adata: ad.AnnData, asked: str | None) -> AnnDataSource:
    obs_var = cast(pd.DataFrame, adata.var)
    matrices: dict[str, tuple[Any, pd.DataFrame]] = {}
    if adata.X is not None:
        matrices["X"] = (adata.X, obs_var)
    if adata.raw is not None and adata.raw.X is not None:
        matrices["raw.X"] = (adata.raw.X, adata.raw.var)
    for name, layer in cast(Mapping[str, Any], adata.layers).items():
        matrices[f"layers/{name}"] = (layer, obs_var)
    chosen = pick_matrix(list(matrices), asked)
    var = obs_var
    matrix: MatrixBlocks | None = None
    if chosen is not None:
        x, var = matrices[chosen]
        if isinstance(x, np.matrix):
            x = np.asarray(x)
        matrix = ArrayBlocks(x, _layout_of(x), (int(x.shape[0]), int(x.shape[1])))
    return AnnDataSource(
        n_cells=adata.n_obs,
        n_genes=len(var),
        obs=cast(pd.DataFrame, adata.obs),
        var=var,
        obsm=dict(adata.obsm.items()),
        uns=adata.uns,
        connectivities=adata.obsp.get("connectivities"),
        matrix=matrix,
        expression_matrix=chosen,
        stem="dataset",
        modified=None,
    )


_READ_ERRORS: tuple[type[BaseException], ...] = (
    *READ_ERRORS,
    IORegistryError,  # an encoding anndata does not know (anndata exports no public class for it)
)


class _LazyElements(Mapping[str, Any]):
    """A group of a file (obsm, uns), each element read on first use: unused ones (often a wide
    X_pca, or uns's analysis results) then cost neither time nor memory. With ``n_rows``, a
    read element must have one row per cell."""

    def __init__(self, group: Any, where: str, path: Path, n_rows: int | None = None) -> None:
        self._group = group
        self._keys = [str(key) for key in group] if group is not None else []
        self.where = where
        self._n_rows = n_rows
        self._path = path
        self._read: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._read:
            if key not in self._keys:
                raise KeyError(key)
            try:
                value = ad.io.read_elem(self._group[key])
            except _READ_ERRORS as error:
                raise PrepareError(
                    f"{self._path}: cannot read {self.where}[{key!r}] ({one_line(error)})"
                ) from None
            rows = getattr(value, "shape", (None,))[0]
            if self._n_rows is not None and rows != self._n_rows:
                raise PrepareError(
                    f"{self.where}[{key!r}] has {rows} rows but there are {self._n_rows} cells"
                )
            self._read[key] = value
        return self._read[key]

    def node(self, key: str) -> Any:
        """The stored element itself, unread."""
        if key not in self._keys:
            raise KeyError(key)
        return self._group[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


_PER_CELL_ENCODINGS = ("array", "csr_matrix", "csc_matrix", "dataframe", "awkward-array")
"""What anndata stores in obsm; anything else there (a nested group, a link loop) is refused."""


def dense_shape(elements: Mapping[str, Any], key: str) -> tuple[int, ...] | None:
    """The shape of ``elements[key]`` if it is a dense array of numbers (not booleans), else
    None; an element of a file is judged by its metadata, without reading it."""
    if isinstance(elements, _LazyElements):
        value = elements.node(key)
        encoding = str(value.attrs.get("encoding-type", ""))
        if not encoding and "h5sparse_format" in value.attrs:
            encoding = "csr_matrix"
        encoding = encoding or ("array" if hasattr(value, "shape") else "a group")
        if encoding not in _PER_CELL_ENCODINGS:
            raise PrepareError(
                f"{elements.where}[{key!r}] is stored as {encoding}, not as a per-cell array "
                "anndata reads"
            )
        if encoding != "array":
            return None
    else:
        value = elements[key]
    if sparse.issparse(value) or not hasattr(value, "dtype") or not hasattr(value, "shape"):
        return None
    dtype = np.dtype(value.dtype)
    if dtype == np.bool_ or not np.issubdtype(dtype, np.number):
        return None
    return tuple(int(n) for n in value.shape)


def _length(node: Any) -> int | None:
    """Rows of a 1-D AnnData element without reading it: an array, or the parts of a nullable
    (values, mask) or categorical (codes, categories) one."""
    for part in (node, *(node[key] for key in ("mask", "codes") if _has(node, key))):
        shape = getattr(part, "shape", None)
        if shape:
            return int(shape[0])
    return None


def _has(node: Any, key: str) -> bool:
    return not hasattr(node, "shape") and key in node


def _read_obs(node: Any) -> Any:
    """obs columns with a plain 0..n-1 index when the layout allows it, else the whole frame."""
    attrs = node.attrs
    index_key = attrs.get("_index")
    n_cells = (
        _length(node[index_key])
        if attrs.get("encoding-type") == "dataframe"
        and attrs.get("encoding-version") == "0.2.0"
        and isinstance(index_key, str)
        and index_key in node
        else None
    )
    if n_cells is None:
        return ad.io.read_elem(node)
    columns = [str(column) for column in np.atleast_1d(attrs.get("column-order", []))]
    return pd.DataFrame(
        {column: ad.io.read_elem(node[column]) for column in columns},
        index=pd.RangeIndex(n_cells),
        columns=columns or None,
    )


def _graph(root: Any) -> Any:
    """obsp['connectivities'], or where scanpy before 1.5 kept it: uns['neighbors']."""
    obsp = root.get("obsp")
    if obsp is not None and "connectivities" in obsp:
        return ad.io.read_elem(obsp["connectivities"])
    neighbors = root["uns"].get("neighbors") if "uns" in root else None
    if neighbors is not None and not hasattr(neighbors, "dtype") and "connectivities" in neighbors:
        return ad.io.read_elem(neighbors["connectivities"])
    return None


def _read_current(root: Any, var_node: Any, path: Path) -> Annotations:
    """obs, var and the graph of a file from anndata 0.7 or later; obsm and uns on use."""
    obs, var = _read_obs(root["obs"]), ad.io.read_elem(var_node)
    if not isinstance(obs, pd.DataFrame) or not isinstance(var, pd.DataFrame):
        raise PrepareError(f"{path}: not an AnnData file (obs/var are not data frames)")
    return Annotations(
        obs=obs,
        var=var,
        obsm=_LazyElements(root.get("obsm"), "obsm", path, len(obs)),
        uns=_LazyElements(root.get("uns"), "uns", path),
        connectivities=_graph(root),
    )


def _read_group(
    root: Any, path: Path, settings: ExportSettings, modified: datetime | None = None
) -> AnnDataSource:
    """Read an opened HDF5 file or zarr group laid out as AnnData; ``path`` names it in
    messages and ``modified`` is its time (default the file's mtime)."""
    for required in ("obs", "var"):
        if required not in root:
            raise PrepareError(f"{path}: not an AnnData file (no '{required}' group)")
    matrices = stored_matrices(root)
    chosen = pick_matrix(list(matrices), settings.expression_matrix)
    x_node, var_node = matrices[chosen] if chosen is not None else (None, root["var"])
    if is_legacy(root):
        parts = read_legacy(root, var_node, path, settings.legacy_read_limit_mb)
    else:
        parts = _read_current(root, var_node, path)
    if modified is None:
        modified = datetime.fromtimestamp(int(path.stat().st_mtime), UTC)
    return AnnDataSource(
        n_cells=len(parts.obs),
        n_genes=len(parts.var),
        obs=parts.obs,
        var=parts.var,
        obsm=parts.obsm,
        uns=parts.uns,
        connectivities=parts.connectivities,
        matrix=_read_matrix(x_node, path, chosen) if chosen is not None else None,
        expression_matrix=chosen,
        stem=path.name.removesuffix(".zip").removesuffix(".zarr").removesuffix(".h5ad"),
        modified=modified,
        path=path,
    )


def _read_matrix(node: Any, path: Path, name: str) -> MatrixBlocks:
    """A matrix left on disk, after the checks that need no pass over its values."""
    layout = stored_layout(node, path, name)
    if layout == "dense":
        shape = (int(node.shape[0]), int(node.shape[1]))
        return ArrayBlocks(node, "dense", shape, _node_path(node), _READ_ERRORS)
    dataset = ad.io.sparse_dataset(node)
    shape = (int(dataset.shape[0]), int(dataset.shape[1]))
    return ArrayBlocks(dataset, layout, shape, _node_path(node), _READ_ERRORS)


def _node_path(node: Any) -> str:
    """The node's absolute path in its HDF5 file or zarr store (both name it ``/X``…)."""
    return str(node.name)


@contextlib.contextmanager
def _open_store(path: Path) -> Iterator[Any]:
    if not path.exists():
        raise PrepareError(f"{path}: no such file or folder")
    name = path.name.lower()
    if path.is_dir() or name.endswith((".zarr", ".zarr.zip")):
        with _zarr_group(path, name.endswith(".zip")) as group:
            yield group
        return
    import h5py

    if not os.access(path, os.R_OK):
        raise PrepareError(f"{path}: not readable")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise PrepareError(f"{path}: not an HDF5 AnnData file or truncated ({error})") from None
    with handle:
        yield handle


_STORE_ERRORS: tuple[type[BaseException], ...] = (*_READ_ERRORS, zipfile.BadZipFile)


@contextlib.contextmanager
def _zarr_group(path: Path, zipped: bool) -> Iterator[Any]:
    import zarr

    with contextlib.ExitStack() as cleanup:
        try:
            store: Any = path
            if zipped:
                store = zarr.storage.ZipStore(path, mode="r")
                cleanup.callback(store.close)
            group = zarr.open_group(store, mode="r")
        except _STORE_ERRORS as error:
            raise PrepareError(f"{path}: not an AnnData zarr store ({one_line(error)})") from None
        yield group


@contextlib.contextmanager
def open_source(
    source: ad.AnnData | str | os.PathLike[str], settings: ExportSettings | None = None
) -> Iterator[AnnDataSource]:
    """Yield the readable parts of ``source``, gene values from ``settings.expression_matrix``
    (see :func:`pick_matrix`); the file stays open while the block runs."""
    settings = settings or ExportSettings()
    if isinstance(source, ad.AnnData):
        yield check_shapes(_from_memory(source, settings.expression_matrix))
        return
    path = Path(source)
    with _open_store(path) as root:
        yield opened_source(root, path, settings)


def opened_source(
    root: Any, name: Path, settings: ExportSettings, modified: datetime | None = None
) -> AnnDataSource:
    """The readable parts of an opened HDF5 file or zarr group (also one read from S3 by
    byte ranges); ``name`` is what messages call it, ``modified`` its time (default: the
    file's mtime). X is read through ``root`` while it is open."""
    try:
        opened = _read_group(root, name, settings, modified)
    except PrepareError:
        raise
    except _READ_ERRORS as error:
        raise PrepareError(f"{name}: cannot read AnnData ({one_line(error)})") from None
    return check_shapes(opened)


def stored_values(root: Any, expression_matrix: str | None) -> int:
    """How many values the matrix of gene values stores (every cell of a dense one), read
    from its metadata alone; 0 without one."""
    matrices = stored_matrices(root)
    chosen = pick_matrix(list(matrices), expression_matrix)
    if chosen is None:
        return 0
    node = matrices[chosen][0]
    if hasattr(node, "shape"):
        return int(np.prod(node.shape, dtype=np.int64))
    return int(node["data"].shape[0]) if "data" in node else 0


def check_shapes(source: AnnDataSource) -> AnnDataSource:
    """Refuse an AnnData whose parts disagree on the number of cells or genes."""
    n, g = source.n_cells, source.n_genes
    if source.matrix is not None and source.matrix.shape != (n, g):
        raise PrepareError(
            f"{source.expression_matrix} has shape {source.matrix.shape} but obs has {n} rows "
            f"and var has {g} rows"
        )
    conn = source.connectivities
    if conn is not None and tuple(conn.shape) != (n, n):
        raise PrepareError(f"obsp['connectivities'] has shape {conn.shape}, expected ({n}, {n})")
    return source


def default_created_at(source: AnnDataSource) -> str:
    """The input file's mtime (deterministic re-exports), or now for an in-memory AnnData."""
    when = source.modified or datetime.now(UTC).replace(microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
