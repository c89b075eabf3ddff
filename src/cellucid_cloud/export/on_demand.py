"""An export described without being written, for a server that builds its files on request.

The manifests and the small payloads are built into memory by the same code as ``prepare``; a
payload that no manifest needs (float32 outlier quantiles) is kept as the function that builds
it, and the genes are left to the server, which reads them from X as float32 columns (their
manifest needs no ranges). Used by ``serve FILE`` (``serve/direct.py``).
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from .format import Encoding, PayloadKind
from .layout import ExportManifests
from .outline import ExportOutline, outline_export, plan_export, var_manifest
from .payloads import Payloads
from .settings import ExportSettings
from .source import AnnDataSource


class _KeptPayloads(Payloads):
    """Payloads stored as they are; those no manifest needs are kept for when asked for."""

    def __init__(self, files: dict[str, bytes], pool: ThreadPoolExecutor) -> None:
        super().__init__(files.__setitem__, 0, pool)
        self.later: dict[str, Callable[[], NDArray[Any]]] = {}

    def add_later(
        self,
        kind: PayloadKind,
        compute: Callable[[], NDArray[Any]],
        encoding: Encoding | None = None,
        **fields: object,
    ) -> str:
        path = kind.path(encoding, self.compression, **fields)
        self.later[path] = compute
        return path


@dataclass(frozen=True)
class OnDemandExport:
    """The opened input and what the export engine decided about it."""

    source: AnnDataSource
    outline: ExportOutline
    later: dict[str, Callable[[], NDArray[Any]]]
    """The payloads left to build, by path: call one when its file is asked for."""
    manifests: ExportManifests
    """With an obs manifest whose centroids are left out: they do not change its paths."""

    @property
    def layout(self) -> str | None:
        """How X is stored (None: no X)."""
        return self.source.matrix.layout if self.source.matrix is not None else None


def outline_on_demand(
    source: AnnDataSource, settings: ExportSettings, files: dict[str, bytes]
) -> OnDemandExport:
    """Outline the export of ``source`` (uncompressed, float32 genes): every payload but the
    genes and those left for later is built into ``files``."""
    if settings.compression or settings.var_quantization:
        raise ValueError("an export built on demand is uncompressed, with float32 genes")
    plan = plan_export(source, settings)
    with ThreadPoolExecutor(2) as pool:
        payloads = _KeptPayloads(files, pool)
        outline = outline_export(plan, payloads)
    var = (
        var_manifest(settings, plan.names, None, source.n_cells) if plan.names is not None else None
    )
    manifests = ExportManifests(
        outline.identity, outline.obs_manifest(centroids=False), var, outline.connectivity
    )
    return OnDemandExport(source, outline, payloads.later, manifests)
