"""Which files an export folder declares, derived from its manifests alone.

Servers serve exactly this set and ``prepare`` checks the staged folder against it before
publishing, so a stray file can neither be served nor shipped.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from .manifests import (
    CONNECTIVITY_MANIFEST_FILE,
    IDENTITY_FILE,
    OBS_MANIFEST_FILE,
    VAR_MANIFEST_FILE,
    ConnectivityManifest,
    DatasetIdentity,
    ObsManifest,
    VarManifest,
)
from .obs_fields import CODES_EXT


class ExportFolderError(ValueError):
    """The folder is not a readable export (missing or malformed manifest)."""


@dataclass(frozen=True)
class ExportManifests:
    """The parsed manifests of one export folder; obs/var/connectivity may be absent."""

    identity: DatasetIdentity
    obs: ObsManifest | None
    var: VarManifest | None
    connectivity: ConnectivityManifest | None

    def declared_paths(self) -> frozenset[str]:
        """Relative POSIX paths of every manifest and payload this export consists of."""
        paths = {IDENTITY_FILE}
        paths.update(item.file for item in self.identity.embeddings.items.values())
        if self.identity.vector_fields is not None:
            for vector_field in self.identity.vector_fields.fields.values():
                paths.update(vector_field.files.values())
        if self.obs is not None:
            paths.add(OBS_MANIFEST_FILE)
            schemas = self.obs.obsSchemas
            if schemas.continuous is not None:
                pattern = schemas.continuous.pathPattern
                paths.update(
                    pattern.replace("{index}", str(f[0])) for f in self.obs.continuousFields
                )
            if schemas.categorical is not None:
                for field in self.obs.categoricalFields:
                    index, codes_dtype = str(field[0]), str(field[3])
                    paths.add(
                        schemas.categorical.codesPathPattern.replace("{index}", index).replace(
                            "{ext}", CODES_EXT[codes_dtype]
                        )
                    )
                    paths.add(schemas.categorical.outlierPathPattern.replace("{index}", index))
        if self.var is not None:
            paths.add(VAR_MANIFEST_FILE)
            pattern = self.var.varSchema.pathPattern
            paths.update(pattern.replace("{index}", str(f[0])) for f in self.var.fields)
        if self.connectivity is not None:
            paths.add(CONNECTIVITY_MANIFEST_FILE)
            c = self.connectivity
            paths.update((c.sourcesPath, c.destinationsPath, c.weightsPath))
        return frozenset(paths)


def _load[M: BaseModel](folder: Path, name: str, model: type[M], required: bool) -> M | None:
    path = folder / name
    if not path.is_file():
        if required:
            raise ExportFolderError(f"{folder}: no {name}")
        return None
    try:
        return model.model_validate(json.loads(path.read_bytes()))
    except (ValueError, ValidationError) as error:
        raise ExportFolderError(f"{path}: malformed ({str(error).splitlines()[0]})") from None


def read_manifests(folder: Path) -> ExportManifests:
    """Parse the manifests of an export folder (identity required, the rest optional)."""
    identity = _load(folder, IDENTITY_FILE, DatasetIdentity, required=True)
    assert identity is not None
    return ExportManifests(
        identity=identity,
        obs=_load(folder, OBS_MANIFEST_FILE, ObsManifest, required=False),
        var=_load(folder, VAR_MANIFEST_FILE, VarManifest, required=False),
        connectivity=_load(folder, CONNECTIVITY_MANIFEST_FILE, ConnectivityManifest, False),
    )


def files_on_disk(folder: Path) -> frozenset[str]:
    """Every regular file below ``folder`` as a relative POSIX path."""
    return frozenset(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
