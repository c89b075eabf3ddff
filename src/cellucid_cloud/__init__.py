"""cellucid-cloud: serverless and local hosting for interactive single-cell viewers."""

__version__ = "0.1.0"

from .export import ExportSettings, PrepareError, PrepareResult, prepare

__all__ = ["ExportSettings", "PrepareError", "PrepareResult", "__version__", "prepare"]
