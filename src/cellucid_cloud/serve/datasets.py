"""Which datasets a server root holds, and under which URL prefix each one lives.

Two layouts, as in the Cellucid server:

* **One export folder** (``PATH/dataset_identity.json`` exists): its files are served under
  ``/<dataset id>/`` (``/<id>/dataset_identity.json``...), which ``/datasets.json`` lists as
  ``"path": "<id>/"``: the Cellucid web app's loader accepts only canonical relative folders
  (no ``./``) and has no single-dataset fallback any more. The same files also answer at the
  root (``/dataset_identity.json``), as the Cellucid server serves one folder, so links to
  either keep working.
* **A root of export folders** (subdirectories holding ``dataset_identity.json``): each is
  served under ``/<dir>/`` and ``/datasets.json`` lists them with ``"path": "<dir>/"``
  (percent-encoded), sorted by dataset id; the first id is the default.

The datasets can also be built from arbitrary :class:`ExportSource` objects (direct mode from an
``.h5ad``), which are then laid out exactly like folders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cellucid_cloud.catalog.documents import CatalogEntry, DatasetsJson
from cellucid_cloud.export.manifests import IDENTITY_FILE
from cellucid_cloud.serve.sources import ExportFolderError, ExportSource, FolderExport

__all__ = ["ServedDataset", "ServedDatasets"]

# Top-level names the server answers itself; a dataset directory with such a name would be hidden.
RESERVED_NAMES = frozenset({"_cellucid", "datasets.json"})


@dataclass(frozen=True, slots=True)
class ServedDataset:
    """A dataset and the URL segment it is served under; ``at_root``: its files also answer
    at ``/``."""

    segment: str
    source: ExportSource
    at_root: bool = False

    @property
    def url_path(self) -> str:
        """Absolute URL prefix the Cellucid server protocol names (``/_cellucid/datasets``):
        ``/`` for a folder served at the root, else e.g. ``/pbmc%203k/``."""
        return "/" if self.at_root else self.folder_path

    @property
    def folder_path(self) -> str:
        """Absolute URL prefix of the dataset's own folder, e.g. ``/pbmc%203k/``."""
        return "/" + self.catalog_path

    @property
    def catalog_path(self) -> str:
        """Relative ``path`` for ``datasets.json``: always ``<dir>/``, one canonical segment."""
        return quote(self.segment, safe="") + "/"


class ServedDatasets:
    """The datasets a server exposes, keyed by their first URL segment."""

    def __init__(self, datasets: Sequence[ServedDataset]) -> None:
        if not datasets:
            raise ExportFolderError("no datasets to serve")
        ids = [d.source.dataset_id for d in datasets]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ExportFolderError(f"duplicate dataset ids: {', '.join(duplicates)}")
        if len({d.segment for d in datasets}) != len(datasets) or (
            len(datasets) > 1 and any(d.at_root for d in datasets)
        ):
            raise ExportFolderError("dataset URL prefixes must be distinct")
        for dataset in datasets:
            if dataset.segment in {"", ".", ".."} or dataset.segment in RESERVED_NAMES:
                raise ExportFolderError(
                    f"dataset {dataset.source.dataset_id!r} cannot be served under "
                    f"/{dataset.segment}/ (not a folder name a URL can hold)"
                )
        self.datasets: tuple[ServedDataset, ...] = tuple(
            sorted(datasets, key=lambda d: d.source.dataset_id)
        )
        self._by_segment = {d.segment: d for d in self.datasets}
        self._root = next((d for d in self.datasets if d.at_root), None)
        self._declared = {d.segment: d.source.declared_paths() for d in self.datasets}

    @classmethod
    def single(cls, source: ExportSource) -> ServedDatasets:
        """One dataset, served under its id and at the root."""
        return cls([ServedDataset(source.dataset_id, source, at_root=True)])

    @classmethod
    def from_path(cls, root: Path) -> ServedDatasets:
        """An export folder, or a directory whose subdirectories are export folders."""
        root = Path(root)
        if not root.is_dir():
            raise ExportFolderError(f"{root}: not a directory")
        if (root / IDENTITY_FILE).is_file():
            return cls.single(FolderExport(root))
        datasets = [
            ServedDataset(child.name, FolderExport(child))
            for child in sorted(root.iterdir())
            if child.is_dir()
            and not child.is_symlink()
            and not child.name.startswith(".")
            and child.name not in RESERVED_NAMES
            and (child / IDENTITY_FILE).is_file()
        ]
        if not datasets:
            raise ExportFolderError(
                f"{root}: no {IDENTITY_FILE} here or in any subdirectory (not an export folder)"
            )
        return cls(datasets)

    def resolve(self, segments: Sequence[str]) -> tuple[ExportSource, str] | None:
        """Map decoded URL path segments to (source, declared path), or None."""
        if len(segments) >= 2 and segments[0] in self._by_segment:
            dataset, rel = self._by_segment[segments[0]], "/".join(segments[1:])
            if rel in self._declared[dataset.segment]:
                return dataset.source, rel
        if self._root is not None:
            rel = "/".join(segments)
            if rel in self._declared[self._root.segment]:
                return self._root.source, rel
        return None

    def datasets_json(self) -> DatasetsJson[CatalogEntry]:
        """The Cellucid ``datasets.json`` catalog document."""
        return DatasetsJson.listing(
            [
                CatalogEntry(
                    id=d.source.dataset_id,
                    path=d.catalog_path,
                    name=d.source.name,
                    description=d.source.description,
                    n_cells=d.source.n_cells,
                    n_genes=d.source.n_genes,
                )
                for d in self.datasets
            ]
        )
