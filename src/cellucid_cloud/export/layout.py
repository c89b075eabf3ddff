"""Which files an export folder declares, derived from its manifests alone.

Servers serve exactly this set and ``prepare`` checks the staged folder against it before
publishing, so a stray file can neither be served nor shipped. Manifests are data: a path they
name that is not a plain relative path (``../../etc/passwd``) is dropped with a warning, never
declared.
"""

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ValidationError

from cellucid_cloud.core.paths import is_safe_relative_path

from .format import OBS_CODES, fill
from .manifests import (
    CONNECTIVITY_MANIFEST_FILE,
    IDENTITY_FILE,
    OBS_MANIFEST_FILE,
    SHORT_ENTRY,
    VAR_MANIFEST_FILE,
    ConnectivityManifest,
    DatasetIdentity,
    ObsManifest,
    VarManifest,
)

log = logging.getLogger(__name__)


class ExportFolderError(ValueError):
    """The folder is not a readable export (missing or malformed manifest)."""


@dataclass(frozen=True)
class ExportManifests:
    """The parsed manifests of one export folder; obs/var/connectivity may be absent."""

    identity: DatasetIdentity
    obs: ObsManifest | None
    var: VarManifest | None
    connectivity: ConnectivityManifest | None

    @classmethod
    def from_documents(cls, documents: Mapping[str, bytes]) -> "ExportManifests":
        """The manifests among ``documents`` (JSON by file name, as
        ``prepare.manifest_documents`` writes them; the identity required). Raises pydantic's
        ValidationError for one that does not match its model."""

        def parsed[M: BaseModel](name: str, model: type[M]) -> M | None:
            return model.model_validate_json(documents[name]) if name in documents else None

        return cls(
            DatasetIdentity.model_validate_json(documents[IDENTITY_FILE]),
            parsed(OBS_MANIFEST_FILE, ObsManifest),
            parsed(VAR_MANIFEST_FILE, VarManifest),
            parsed(CONNECTIVITY_MANIFEST_FILE, ConnectivityManifest),
        )

    def declared_paths(self) -> frozenset[str]:
        """Relative POSIX paths of every manifest and payload this export consists of.

        Embeddings and vector fields come from the identity, obs payloads from the
        ``_obsSchemas`` patterns (codes ``{ext}`` from each field's codes dtype), genes from
        ``_varSchema.pathPattern`` for each ``fields`` index, edges from the connectivity
        manifest. Unsafe paths are dropped (logged once). Raises :class:`ExportFolderError` for
        a categorical field with an unknown codes dtype.
        """
        return self._declared_paths

    @cached_property
    def _declared_paths(self) -> frozenset[str]:
        paths = {IDENTITY_FILE}
        paths.update(item.file for item in self.identity.embeddings.items.values())
        if self.identity.vector_fields is not None:
            for vector_field in self.identity.vector_fields.fields.values():
                paths.update(vector_field.files.values())
        if self.obs is not None:
            paths.add(OBS_MANIFEST_FILE)
            schemas = self.obs.obsSchemas
            if (cont := schemas.continuous) is not None:
                for value in self.obs.continuousFields:
                    paths.add(fill(cont.pathPattern, index=value.index, ext=cont.ext))
            if (cat := schemas.categorical) is not None:
                for category in self.obs.categoricalFields:
                    try:
                        codes = OBS_CODES.encoding(category.codes_dtype)
                    except KeyError:
                        known = ", ".join(e.dtype for e in OBS_CODES.encodings)
                        raise ExportFolderError(
                            f"{OBS_MANIFEST_FILE}: malformed manifest: unknown codes dtype "
                            f"{category.codes_dtype!r} (expected one of {known})"
                        ) from None
                    paths.add(fill(cat.codesPathPattern, index=category.index, ext=codes.ext))
                    paths.add(
                        fill(cat.outlierPathPattern, index=category.index, ext=cat.outlierExt)
                    )
        if self.var is not None:
            paths.add(VAR_MANIFEST_FILE)
            schema = self.var.varSchema
            for gene in self.var.fields:
                paths.add(fill(schema.pathPattern, index=gene.index, ext=schema.ext))
        if self.connectivity is not None:
            paths.add(CONNECTIVITY_MANIFEST_FILE)
            c = self.connectivity
            paths.update((c.sourcesPath, c.destinationsPath, c.weightsPath))
        unsafe = {p for p in paths if not is_safe_relative_path(p)}
        for p in sorted(unsafe):
            log.warning("ignoring unsafe path declared by a manifest: %r", p)
        return frozenset(paths - unsafe)


def _load[M: BaseModel](folder: Path, name: str, model: type[M], required: bool) -> M | None:
    path = folder / name
    if not path.is_file():
        if required:
            raise ExportFolderError(f"{folder}: no {name} (not an export folder)")
        return None
    try:
        data = json.loads(path.read_bytes())
    except OSError as error:
        raise ExportFolderError(f"{path}: unreadable ({error})") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise ExportFolderError(f"{path}: malformed manifest: unreadable JSON ({error})") from None
    if not isinstance(data, dict):
        raise ExportFolderError(f"{path}: malformed manifest: expected a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ExportFolderError(f"{path}: malformed manifest: {_describe(error)}") from None


def _describe(error: ValidationError) -> str:
    """The first problem pydantic found, as ``where: what`` (plus how many more); a short field
    entry as ``fields.0 has 0 item(s), needs at least 1``."""
    problems = error.errors(include_url=False)
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    separator = " " if first["type"] == SHORT_ENTRY else ": "
    return f"{where}{separator}{first['msg']}{more}"


def read_manifests(folder: Path) -> ExportManifests:
    """Parse the manifests of an export folder (identity required, the rest optional).

    Raises :class:`ExportFolderError` for a missing identity or any manifest that is unreadable,
    not JSON, or does not match its model, including field entries that cannot name a file.
    """
    identity = _load(folder, IDENTITY_FILE, DatasetIdentity, required=True)
    assert identity is not None
    manifests = ExportManifests(
        identity=identity,
        obs=_load(folder, OBS_MANIFEST_FILE, ObsManifest, required=False),
        var=_load(folder, VAR_MANIFEST_FILE, VarManifest, required=False),
        connectivity=_load(folder, CONNECTIVITY_MANIFEST_FILE, ConnectivityManifest, False),
    )
    try:
        manifests.declared_paths()  # validates field entries now; the result is cached
    except ExportFolderError as error:
        raise ExportFolderError(f"{folder}/{error}") from None
    return manifests


def files_on_disk(folder: Path) -> frozenset[str]:
    """Every regular file below ``folder`` as a relative POSIX path (symlinked folders are not
    entered). Built on scandir: Path.rglob takes ~0.3 s for the 2,000 files of an export."""
    found: list[str] = []
    pending = [("", os.fspath(folder))]
    while pending:
        prefix, path = pending.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((f"{prefix}{entry.name}/", entry.path))
                elif entry.is_file():
                    found.append(prefix + entry.name)
    return frozenset(found)
