"""Which datasets a server root holds, and under which URL prefix each one lives.

Two layouts, as in the Cellucid server:

* **One export folder** (``PATH/dataset_identity.json`` exists): its files are served at the
  root (``/dataset_identity.json``, ``/var/0.values.u8.gz``...). The Cellucid web app can then
  use the server root either as the dataset folder itself (legacy single-dataset mode) or, via
  ``?exportsBaseUrl=<root>``, through ``/datasets.json``, which lists the dataset with
  ``"path": "./"`` so that ``<base>/./dataset_identity.json`` resolves (the URL parser drops the
  ``.`` segment) to the same files.
* **A root of export folders** (subdirectories holding ``dataset_identity.json``): each is
  served under ``/<dir>/`` and ``/datasets.json`` lists them with ``"path": "<dir>/"``
  (percent-encoded), sorted by dataset id; the first id is the default.

A catalog can also be built from arbitrary :class:`ExportSource` objects (direct mode from an
``.h5ad``), which are then laid out exactly like folders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cellucid_cloud.export.manifests import IDENTITY_FILE
from cellucid_cloud.serve.sources import ExportFolderError, ExportSource, FolderExport

__all__ = ["Catalog", "Mount"]

# Top-level names the server answers itself; a dataset directory with such a name would be hidden.
RESERVED_NAMES = frozenset({"_cellucid", "datasets.json"})


@dataclass(frozen=True, slots=True)
class Mount:
    """A dataset and its directory segment (``""`` when it is served at the root)."""

    segment: str
    source: ExportSource

    @property
    def url_path(self) -> str:
        """Absolute URL prefix of the dataset's files, e.g. ``/`` or ``/pbmc%203k/``."""
        return "/" + (quote(self.segment) + "/" if self.segment else "")

    @property
    def catalog_path(self) -> str:
        """Relative ``path`` for ``datasets.json``: ``./`` or ``<dir>/``."""
        return quote(self.segment) + "/" if self.segment else "./"


class Catalog:
    """The datasets a server exposes, keyed by their first URL segment."""

    def __init__(self, mounts: Sequence[Mount]) -> None:
        if not mounts:
            raise ExportFolderError("no datasets to serve")
        ids = [m.source.dataset_id for m in mounts]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ExportFolderError(f"duplicate dataset ids: {', '.join(duplicates)}")
        if len({m.segment for m in mounts}) != len(mounts) or (
            len(mounts) > 1 and any(not m.segment for m in mounts)
        ):
            raise ExportFolderError("dataset URL prefixes must be distinct")
        self.mounts: tuple[Mount, ...] = tuple(sorted(mounts, key=lambda m: m.source.dataset_id))
        self._by_segment = {m.segment: m for m in self.mounts}
        self._declared = {m.segment: m.source.declared_paths() for m in self.mounts}

    @classmethod
    def single(cls, source: ExportSource) -> Catalog:
        """One dataset served at the root."""
        return cls([Mount("", source)])

    @classmethod
    def from_path(cls, root: Path) -> Catalog:
        """An export folder, or a directory whose subdirectories are export folders."""
        root = Path(root)
        if not root.is_dir():
            raise ExportFolderError(f"{root}: not a directory")
        if (root / IDENTITY_FILE).is_file():
            return cls.single(FolderExport(root))
        mounts = [
            Mount(child.name, FolderExport(child))
            for child in sorted(root.iterdir())
            if child.is_dir()
            and not child.is_symlink()
            and not child.name.startswith(".")
            and child.name not in RESERVED_NAMES
            and (child / IDENTITY_FILE).is_file()
        ]
        if not mounts:
            raise ExportFolderError(
                f"{root}: no {IDENTITY_FILE} here or in any subdirectory (not an export folder)"
            )
        return cls(mounts)

    @property
    def is_single(self) -> bool:
        return len(self.mounts) == 1 and not self.mounts[0].segment

    def resolve(self, segments: Sequence[str]) -> tuple[ExportSource, str] | None:
        """Map decoded URL path segments to (source, declared path), or None."""
        if self.is_single:
            mount, rest = self.mounts[0], segments
        else:
            if len(segments) < 2 or segments[0] not in self._by_segment:
                return None
            mount, rest = self._by_segment[segments[0]], segments[1:]
        rel = "/".join(rest)
        return (mount.source, rel) if rel in self._declared[mount.segment] else None

    def datasets_json(self) -> dict[str, Any]:
        """The Cellucid ``datasets.json`` catalog document."""
        return {
            "version": 1,
            "default": self.mounts[0].source.dataset_id,
            "datasets": [
                {
                    "id": m.source.dataset_id,
                    "path": m.catalog_path,
                    "name": m.source.name,
                    "description": m.source.description,
                    "n_cells": m.source.n_cells,
                    "n_genes": m.source.n_genes,
                }
                for m in self.mounts
            ],
        }
