"""The export engine: AnnData in, Cellucid export folder out (DESIGN §3).

Every name but ``PrepareError`` is imported on first use: hosts which only read or validate
settings (the API function, given a curator's export options) do not load AnnData and its
scientific stack, and those which only read manifests (``serve``) not even the settings' models.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from .errors import PrepareError

if TYPE_CHECKING:
    from .prepare import PrepareResult, prepare
    from .settings import EmbeddingChoice, ExportOptions, ExportSettings

__all__ = [
    "EmbeddingChoice",
    "ExportOptions",
    "ExportSettings",
    "PrepareError",
    "PrepareResult",
    "prepare",
]


class _Engine(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing the submodule ``prepare`` binds it here; the function keeps the name, as
        # it did when this package imported it eagerly.
        if name == "prepare" and isinstance(value, types.ModuleType):
            value = value.prepare
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Engine


_LAZY = {
    "prepare": ".prepare",
    "PrepareResult": ".prepare",
    "EmbeddingChoice": ".settings",
    "ExportOptions": ".settings",
    "ExportSettings": ".settings",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
