"""``cellucid-cloud serve``: a local HTTP server for export folders, shaped like the CDN, or
for an AnnData file served directly (no export step).

See ``docs/serve.md`` for the URL layout, the HTTP behaviour and how direct mode reads genes.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import uvicorn

from cellucid_cloud.http.hosts import Binding
from cellucid_cloud.serve.access_log import log_config
from cellucid_cloud.serve.app import ServeApp
from cellucid_cloud.serve.datasets import ServedDataset, ServedDatasets
from cellucid_cloud.serve.sources import (
    ExportFolderError,
    ExportSource,
    FileChangedError,
    FileInfo,
    FolderExport,
    PayloadError,
)

__all__ = [
    "ExportFolderError",
    "ExportSource",
    "FileChangedError",
    "FileInfo",
    "FolderExport",
    "PayloadError",
    "ServeApp",
    "ServedDataset",
    "ServedDatasets",
    "create_app",
    "run_file",
    "run_server",
]

log = logging.getLogger(__name__)


def create_app(
    root: Path | ServedDatasets,
    *,
    allowed_hosts: list[str] | None = None,
    allow_ip_hosts: bool = False,
) -> ServeApp:
    """The ASGI app for an export folder, a root of export folders, or prebuilt datasets.

    ``allowed_hosts`` replaces the default ``Host`` allow-list (loopback names, any port);
    ``allow_ip_hosts`` also admits any IP-literal ``Host`` (for servers bound to all interfaces).
    Raises :class:`ExportFolderError` when ``root`` holds no export.
    """
    served = root if isinstance(root, ServedDatasets) else ServedDatasets.from_path(root)
    return ServeApp(served, allowed_hosts=allowed_hosts, allow_ip_hosts=allow_ip_hosts)


def run_server(root: Path | ServedDatasets, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until interrupted. Loopback by default; binding elsewhere is an explicit choice.

    The bind host joins the ``Host`` allow-list; a wildcard bind (``0.0.0.0``/``::``) also
    admits IP-literal hosts, so the server is reachable by address but not via a rebinding name.
    """
    binding = Binding(host)
    app = create_app(root, allowed_hosts=binding.allowed_hosts, allow_ip_hosts=binding.wildcard)
    config = uvicorn.Config(app, host=host, port=port, log_config=log_config(), lifespan="on")
    server = uvicorn.Server(config)
    # uvicorn configures logging when the Config is created, so our lines go through its handler.
    base_url = binding.base_url(port)
    for dataset in app.served.datasets:
        log.info(
            "dataset %r (%s cells, %s genes) at %s%s",
            dataset.source.dataset_id,
            dataset.source.n_cells,
            dataset.source.n_genes,
            base_url,
            dataset.url_path,
        )
    log.info("serving on %s/ (catalog: /datasets.json)", base_url)
    server.run()


def run_file(path: Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve an .h5ad, .zarr or .zarr.zip directly until interrupted.

    The gene-major copy (for an X stored by cells) starts building as the server starts, and
    a build still running when the server stops is stopped and its files deleted.
    """
    from cellucid_cloud.serve.direct import DirectExport

    source = DirectExport(path)
    sys.stderr.write(f"serving {path} directly (no export step)\n")
    try:
        source.start()
        run_server(ServedDatasets.single(source), host=host, port=port)
    finally:
        source.close()
