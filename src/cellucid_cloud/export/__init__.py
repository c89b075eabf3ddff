"""The export engine: AnnData in, Cellucid export folder out (DESIGN §3)."""

from .errors import PrepareError
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
