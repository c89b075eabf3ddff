"""The export engine: AnnData in, Cellucid export folder out (DESIGN §3).

``prepare`` and ``PrepareResult`` are imported on first use, so that hosts which only read or
validate settings (the API function, given a curator's export options) do not load AnnData and
its scientific stack.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from .errors import PrepareError
from .settings import EmbeddingChoice, ExportOptions, ExportSettings

if TYPE_CHECKING:
    from .prepare import PrepareResult, prepare

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


def __getattr__(name: str) -> Any:
    if name in ("prepare", "PrepareResult"):
        return getattr(importlib.import_module(".prepare", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
