"""cellucid-cloud: serverless and local hosting for interactive single-cell viewers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .export.errors import PrepareError
    from .export.prepare import PrepareResult, prepare
    from .export.settings import ExportOptions, ExportSettings

__all__ = [
    "ExportOptions",
    "ExportSettings",
    "PrepareError",
    "PrepareResult",
    "__version__",
    "package_version",
    "prepare",
]


def package_version() -> str:
    """The installed distribution's version, as the servers report it (``0+unknown`` from a
    source tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cellucid-cloud")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> Any:
    """The export engine's names, imported on first use: hosts that never prepare (the API
    function) do not load AnnData and its scientific stack."""
    if name in __all__:
        from . import export

        return getattr(export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
