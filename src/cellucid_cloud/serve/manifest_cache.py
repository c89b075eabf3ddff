"""The manifests ``serve FILE`` built for one version of a file, kept for its next start.

Building them is most of a first start (importing anndata and its stack, reading obs, the
centroids); a restart of the unchanged file reads them from here and answers the identity before
anndata is imported, while the payloads are rebuilt in the background. The entry lives in the
cache folder beside the gene-major copy, named like it (``<version name>.manifests.json``, see
:mod:`.cache_folder`), so another version of the file never reads it. It also records a digest of
the code that built it (the export engine and the server), so an upgrade rebuilds it instead of
serving what older code decided. An entry that does not parse is ignored (and replaced).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from cellucid_cloud import __version__
from cellucid_cloud.core.files import staged
from cellucid_cloud.export.layout import ExportFolderError, ExportManifests
from cellucid_cloud.serve.cache_folder import FileKey, remove_other_versions

__all__ = ["CachedManifests", "ManifestCache"]

log = logging.getLogger(__name__)

FORMAT: Final = 1
_SUFFIX: Final = ".manifests.json"


@cache
def code_digest() -> str:
    """A digest of the code that decides what the manifests hold: every module of the export
    engine and of the server (direct mode's settings live there), and the package version."""
    digest = hashlib.blake2b(__version__.encode(), digest_size=12)
    package = Path(__file__).resolve().parents[1]
    for folder in ("export", "serve"):
        for module in sorted((package / folder).glob("*.py")):
            digest.update(f"{folder}/{module.name}\0".encode())
            digest.update(module.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedManifests:
    """The JSON documents of a direct export, parsed, and how X is stored (for the copy)."""

    documents: dict[str, bytes]
    manifests: ExportManifests
    layout: str | None


class ManifestCache:
    """The manifests entry of one version of one file in the cache folder ``root``."""

    def __init__(self, root: Path, key: FileKey) -> None:
        self.root = root
        self.key = key
        self.path = root / (key.folder_name() + _SUFFIX)

    def load(self) -> CachedManifests | None:
        """The entry of this version built by this code, or None."""
        try:
            entry = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("ignoring the cached manifests %s (%s)", self.path, error)
            return None
        try:
            return _parse(entry, self.key)
        except (KeyError, TypeError, ValueError, ValidationError, ExportFolderError) as error:
            log.warning("ignoring the cached manifests %s (%s)", self.path, error)
            return None

    def store(self, documents: dict[str, bytes], layout: str | None) -> None:
        """Write the entry (whole or not at all); other versions' entries are deleted."""
        entry = {
            "format": FORMAT,
            "key": asdict(self.key),
            "code": code_digest(),
            "layout": layout,
            "documents": {name: data.decode() for name, data in documents.items()},
        }
        try:
            remove_other_versions(self.root, self.key)
            partial = self.path.with_name(f"{self.path.name}.partial-{os.getpid()}")
            with staged(self.path, partial) as cached:
                cached.path.write_text(json.dumps(entry))
                cached.publish()
        except OSError as error:
            log.warning("could not cache the manifests in %s (%s)", self.path, error)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _parse(entry: Any, key: FileKey) -> CachedManifests | None:
    if (
        not isinstance(entry, dict)
        or entry.get("format") != FORMAT
        or entry.get("key") != asdict(key)
        or entry.get("code") != code_digest()
    ):
        return None
    layout = entry["layout"]
    if layout not in (None, "csr", "csc", "dense"):
        raise ValueError(f"unknown layout {layout!r}")
    documents = {str(name): str(text).encode() for name, text in dict(entry["documents"]).items()}
    manifests = ExportManifests.from_documents(documents)
    manifests.declared_paths()  # checks the field entries now, as read_manifests does
    return CachedManifests(documents, manifests, layout)
