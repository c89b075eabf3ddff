"""The command-line flags that set export options (``ExportOptions``), declared once:
``prepare`` takes them for one export, ``curate options`` for a dataset's uploads.

Only the flags a user gave count (not their defaults), laid over an options file, laid over
what was set before; the defaults shown in ``--help`` are the host's, taken from the settings
model (:data:`DEFAULTS`) rather than written again here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

import typer

from cellucid_cloud.export.settings import ExportOptions, ExportSettings

__all__ = [
    "DEFAULTS",
    "FLAGS",
    "Compression",
    "DefaultEmbedding",
    "Embedding",
    "ExpressionMatrix",
    "GeneNames",
    "LatentKey",
    "Obs",
    "ObsCategoricalDtype",
    "ObsQuantization",
    "OptionsFile",
    "VarQuantization",
    "export_options",
    "given",
]

DEFAULTS: Final = ExportSettings()
"""Every export setting at its default: what a flag left out means, as ``--help`` shows it."""

OptionsFile = Annotated[
    Path | None,
    typer.Option(
        "--options",
        help="JSON file of export options (as set for an upload); flags win",
        exists=True,
        dir_okay=False,
    ),
]
Compression = Annotated[int, typer.Option(min=0, max=9, help="gzip level, 0 = off")]
VarQuantization = Annotated[int, typer.Option(help="gene bits: 0, 8 or 16")]
ObsQuantization = Annotated[int, typer.Option(help="continuous obs bits: 0, 8 or 16")]
ObsCategoricalDtype = Annotated[str, typer.Option(help="auto, uint8, uint16 or uint32")]
Embedding = Annotated[
    list[str] | None, typer.Option(help="obsm KEY or KEY:0,1[,2]; repeat for several")
]
DefaultEmbedding = Annotated[str | None, typer.Option(help="obsm key or embedding id shown first")]
Obs = Annotated[list[str] | None, typer.Option(help="obs column to export; repeat")]
GeneNames = Annotated[
    str | None, typer.Option(help="var column with gene names ('_index': the index)")
]
ExpressionMatrix = Annotated[
    str | None, typer.Option(help="gene values from X, raw.X or layers/NAME")
]
LatentKey = Annotated[str | None, typer.Option(help="obsm key for outlier distances")]

FLAGS = {
    "compression": "compression",
    "var_quantization": "var_quantization",
    "obs_quantization": "obs_quantization",
    "obs_categorical_dtype": "obs_categorical_dtype",
    "embedding": "embeddings",
    "default_embedding": "default_embedding",
    "obs": "obs_keys",
    "gene_names": "gene_names_column",
    "expression_matrix": "expression_matrix",
    "latent_key": "latent_key",
}
"""The ExportOptions field each flag sets, by the command's parameter name."""


def given(context: typer.Context, param: str) -> bool:
    """Whether the user set ``param`` (on the command line or by environment)."""
    source = context.get_parameter_source(param)
    return source is not None and source.name != "DEFAULT"


def export_options(
    context: typer.Context, options_file: Path | None, over: ExportOptions | None = None
) -> ExportOptions:
    """The options the flags given and the options file set, over ``over``'s; a
    ``PrepareError`` naming the first bad one."""
    from cellucid_cloud.export import EmbeddingChoice, PrepareError
    from cellucid_cloud.export.settings import read_options

    flags: dict[str, Any] = {
        field: context.params[param] for param, field in FLAGS.items() if given(context, param)
    }
    if "embeddings" in flags:
        try:
            flags["embeddings"] = [EmbeddingChoice.parse(text) for text in flags["embeddings"]]
        except ValueError as error:
            raise PrepareError(str(error).splitlines()[-1]) from None
    if "obs_keys" in flags:
        flags["obs_keys"] = tuple(flags["obs_keys"] or ())
    if options_file is not None:
        over = read_options(options_file.read_bytes(), over=over)
    return read_options(flags, over=over)
