"""The ``cellucid-cloud`` command line (DESIGN §8): prepare, serve, up and curate.

Exit codes: 0 ok, 1 error (one line on stderr, never a traceback unless CELLUCID_DEBUG=1),
2 usage. Progress bars are drawn only when stderr is a terminal.
"""

import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from . import option_flags
from .curate import app as curate_app
from .export.collector import collector_paused

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # help paragraphs are rewrapped, not cut where docstrings break
    help="Host interactive single-cell viewers: export AnnData and serve it.",
)
app.add_typer(curate_app, name="curate")


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(1)


@contextmanager
def _errors_as_one_line() -> Iterator[None]:
    from .export import PrepareError

    try:
        yield
    except PrepareError as error:
        _fail(str(error))
    except (typer.Exit, KeyboardInterrupt):
        raise
    except MemoryError:
        _fail("out of memory; lower --memory-budget or use a machine with more memory")
    except OSError as error:
        _fail(f"{error.filename or ''}: {error.strerror or error}".lstrip(": "))
    except Exception as error:
        if os.environ.get("CELLUCID_DEBUG"):
            raise
        _fail(f"unexpected {type(error).__name__}: {error} (set CELLUCID_DEBUG=1 for details)")


@app.command()
def prepare(
    context: typer.Context,
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help=".h5ad, .zarr or .zarr.zip")],
    out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="export folder to create")],
    options_file: option_flags.OptionsFile = None,
    dataset_id: Annotated[str | None, typer.Option(help="portable id; default from INPUT")] = None,
    name: Annotated[
        str | None, typer.Option(help="display name; default uns['title'], else the id")
    ] = None,
    description: Annotated[
        str, typer.Option(help="dataset description")
    ] = option_flags.DEFAULTS.description,
    compression: option_flags.Compression = option_flags.DEFAULTS.compression,
    var_quantization: option_flags.VarQuantization = option_flags.DEFAULTS.var_quantization,
    obs_quantization: option_flags.ObsQuantization = option_flags.DEFAULTS.obs_quantization,
    obs_categorical_dtype: option_flags.ObsCategoricalDtype = (
        option_flags.DEFAULTS.obs_categorical_dtype
    ),
    embedding: option_flags.Embedding = None,
    default_embedding: option_flags.DefaultEmbedding = None,
    obs: option_flags.Obs = None,
    gene_names: option_flags.GeneNames = None,
    expression_matrix: option_flags.ExpressionMatrix = None,
    latent_key: option_flags.LatentKey = None,
    created_at: Annotated[str | None, typer.Option(help="UTC timestamp for the identity")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="worker processes for X's blocks; default threads on all cores"),
    ] = None,
    memory_budget: Annotated[
        int, typer.Option(min=16, help="MiB for gene blocks")
    ] = option_flags.DEFAULTS.memory_budget_mb,
    legacy_read_limit: Annotated[
        int, typer.Option(min=16, help="MiB a file from anndata < 0.7 may take to read")
    ] = option_flags.DEFAULTS.legacy_read_limit_mb,
    force: Annotated[bool, typer.Option(help="replace OUT_DIR if it exists")] = False,
    costs: Annotated[
        Path | None,
        typer.Option(help="write what each block of X cost here (JSON, one block a line)"),
    ] = None,
) -> None:
    """Export an AnnData file to a Cellucid export folder."""
    with _errors_as_one_line():
        from .export import prepare as run_prepare
        from .progress import terminal_progress

        options = option_flags.export_options(context, options_file)
        with terminal_progress() as progress:
            result = run_prepare(
                input_path,
                out_dir,
                options=options,
                force=force,
                progress=progress,
                dataset_id=dataset_id,
                name=name,
                description=description,
                created_at=created_at,
                workers=workers,
                memory_budget_mb=memory_budget,
                legacy_read_limit_mb=legacy_read_limit,
            )
        if costs is not None:
            costs.write_text(
                "".join(json.dumps(asdict(cost)) + "\n" for cost in result.block_costs)
            )
        for warning in result.warnings:
            sys.stderr.write(f"warning: {warning}\n")
        stats = result.identity.stats
        typer.echo(
            f"exported {result.identity.id}: {stats.n_cells:,} cells, {stats.n_genes:,} genes, "
            f"{result.n_files:,} files, {result.n_bytes / 1e6:.1f} MB -> {result.out_dir}"
        )


@app.command()
def serve(
    path: Annotated[Path, typer.Argument(help="export folder, folder of exports, or .h5ad")],
    host: Annotated[str, typer.Option(help="bind address (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8765,
) -> None:
    """Serve exports (or an .h5ad directly) over HTTP for the viewer."""
    with _errors_as_one_line():
        with collector_paused():
            from .export.layout import ExportFolderError
            from .serve import run_file, run_server

        try:
            if _is_anndata(path):
                run_file(path, host=host, port=port)
            else:
                run_server(path, host=host, port=port)
        except ExportFolderError as error:
            _fail(str(error))


@app.command()
def up(
    data_dir: Annotated[
        Path, typer.Option(help="where the catalog, uploads and exports live")
    ] = Path("cellucid-data"),
    host: Annotated[str, typer.Option(help="bind address (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,
    meta_ttl: Annotated[
        float, typer.Option(help="seconds a meta lookup may be reused (0 = no cache)", min=0)
    ] = 60.0,
    allow_private_links: Annotated[
        bool, typer.Option(help="let curators ingest from loopback/private-network URLs")
    ] = False,
    demo: Annotated[
        bool, typer.Option(help="publish a synthetic demo dataset on first start")
    ] = False,
    processing_memory: Annotated[
        float, typer.Option(help="GiB of memory an upload's processing may use", min=0.5)
    ] = 4.0,
    processing_time: Annotated[
        float, typer.Option(help="seconds an upload's processing may take", min=1)
    ] = 900.0,
) -> None:
    """Run the whole system on this machine: API, exports, uploads and processing."""
    with _errors_as_one_line():
        from .local.prepare_process import ProcessLimits
        from .local.run import run_up

        run_up(
            data_dir,
            host=host,
            port=port,
            meta_ttl=meta_ttl,
            allow_private_links=allow_private_links,
            demo=demo,
            processing=ProcessLimits(int(processing_memory * 2**30), processing_time),
        )


def _is_anndata(path: Path) -> bool:
    """An AnnData file or store rather than an export folder (or a folder of them). An export
    folder has an ``obs/`` folder too, but always its ``dataset_identity.json``."""
    name = path.name.lower()
    if path.is_file():
        return True
    if (path / "dataset_identity.json").is_file():
        return False
    return name.endswith(".zarr") or (path.is_dir() and (path / "obs").is_dir())


def main() -> None:
    """Console-script entry point.

    A command that succeeded ends the process at once when nothing of it still runs (no other
    thread, no child process): its files are closed and its workers joined by then, and the
    interpreter's teardown would only spend ~0.2 s freeing the scientific stack's thousand
    modules before the shell prompt comes back (measured on ``prepare``).
    """
    # The commands spread their work over the cores themselves (blocks of X, requests, worker
    # processes); OpenBLAS's own threads would compete for the same cores and spin while idle
    # (~0.15 s of CPU in a 200,000-cell export). Set before numpy and scipy load it; a value
    # the user set is kept, and worker processes inherit it.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        app()
    except SystemExit as done:
        if done.code in (0, None) and _nothing_left_running():
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except OSError:
                raise done from None
            logging.shutdown()
            os._exit(0)
        raise


def _nothing_left_running() -> bool:
    if threading.active_count() > 1:
        return False
    processes = sys.modules.get("multiprocessing")
    return processes is None or not processes.active_children()


if __name__ == "__main__":
    main()
