"""The export engine: AnnData in, Cellucid export folder out (DESIGN §3)."""

from .errors import PrepareError
from .prepare import PrepareResult, prepare
from .settings import EmbeddingChoice, ExportSettings

__all__ = ["EmbeddingChoice", "ExportSettings", "PrepareError", "PrepareResult", "prepare"]
