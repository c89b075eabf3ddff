"""``cellucid-cloud curate``: the curation API from a shell, through :class:`CurationClient`.

Exit codes: 0 done; 1 the API refused or failed the request, or a dataset failed processing
(one line on stderr: the API's message or the dataset's reason); 2 a usage or configuration
error (nothing was sent). Results go to stdout (ids alone where a script wants to capture
one), notes and progress bars to stderr.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from cellucid_cloud import option_flags
from cellucid_cloud.curate import output
from cellucid_cloud.curate.config import (
    ConfigError,
    Settings,
    default_config_path,
    resolve,
    write_config,
)

if TYPE_CHECKING:
    from cellucid_cloud.client import CurationClient

__all__ = ["app"]

app = typer.Typer(
    no_args_is_help=True,
    help="Curate collections and datasets through the API of a deployment or of `up`.",
)
collections_app = typer.Typer(no_args_is_help=True, help="List, create and show collections.")
datasets_app = typer.Typer(no_args_is_help=True, help="List, create and show datasets.")
app.add_typer(collections_app, name="collections")
app.add_typer(datasets_app, name="datasets")

Json = Annotated[bool, typer.Option("--json", help="print the API's JSON document")]
Wait = Annotated[bool, typer.Option(help="wait until processing has finished")]
Timeout = Annotated[float, typer.Option(min=1, help="seconds to wait for processing")]
CollectionId = Annotated[
    str, typer.Argument(metavar="COLLECTION", help="collection id, or an open revision's id")
]
DatasetId = Annotated[str, typer.Argument(metavar="DATASET", help="dataset id")]

_LINK = re.compile(r"(?:(?P<type>[A-Z][A-Z_]*)=)?(?P<url>.+)")


@dataclass(frozen=True, slots=True)
class _Options:
    api_url: str | None
    api_key: str | None
    config: Path | None


@app.callback()
def curate(
    ctx: typer.Context,
    api_url: Annotated[
        str | None,
        typer.Option(envvar="CELLUCID_API_URL", help="the API's base URL", show_envvar=True),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="CELLUCID_API_KEY",
            help="a curator API key (prefer the variable or the config file: a flag is "
            "visible to other users in the process list)",
            show_envvar=True,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            envvar="CELLUCID_CONFIG",
            help="config file [default: ~/.config/cellucid-cloud/config.toml]",
            show_envvar=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Curate collections and datasets: upload, check, publish, withdraw.

    The API and key come from the flags, else CELLUCID_API_URL and CELLUCID_API_KEY, else the
    config file that `configure` writes (mode 600).
    """
    ctx.obj = _Options(api_url, api_key, config)


# -- plumbing --------------------------------------------------------------------------------


def _usage(message: str) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(2)


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    raise typer.Exit(1)


def _settings(ctx: typer.Context) -> Settings:
    options = ctx.find_object(_Options)
    assert options is not None
    path = options.config or default_config_path()
    if options.config is not None and not path.exists():
        _usage(f"{path}: no such config file")
    try:
        return resolve(options.api_url, options.api_key, path)
    except ConfigError as error:
        _usage(str(error))


@contextmanager
def _session(ctx: typer.Context, settings: Settings | None = None) -> Iterator[CurationClient]:
    """A client for the configured API; any error ends the command with one line."""
    from cellucid_cloud.cli import _errors_as_one_line
    from cellucid_cloud.client import ApiError, CurationClient

    settings = settings or _settings(ctx)
    with _errors_as_one_line():
        try:
            with CurationClient(settings.api_url, settings.api_key) as client:
                yield client
        except ApiError as error:
            _fail(str(error))


def _finished(document: output.Document) -> None:
    """Print where a processed dataset stands; a failed one ends the command with exit 1."""
    if document["status"] == "failed":
        _fail(
            f"dataset {document['dataset_id']} failed: "
            f"{document.get('reason') or 'no reason was recorded'}"
        )
    typer.echo(output.dataset_line(document))
    refused = document.get("refused_upload")
    if refused:
        sys.stderr.write(f"warning: a newer file was not taken: {refused['reason']}\n")


def _wait(client: CurationClient, collection: str, dataset: str, timeout: float) -> None:
    with output.processing_bar(dataset) as show:
        try:
            document = client.wait_until_processed(
                collection, dataset, timeout=timeout, poll=1.0, on_status=show
            )
        except TimeoutError:
            _fail(
                f"dataset {dataset} is still processing after {timeout:g} s; "
                f"`cellucid-cloud curate status {collection} {dataset} --wait` waits again"
            )
    _finished(document)


# -- setup -----------------------------------------------------------------------------------


@app.command()
def configure(
    ctx: typer.Context,
    check: Annotated[bool, typer.Option(help="check the key against the API first")] = True,
) -> None:
    """Save the API URL and key (asked for unless given) in the config file, mode 600."""
    options = ctx.find_object(_Options)
    assert options is not None
    api_url = options.api_url or typer.prompt("API URL")
    api_key = options.api_key or typer.prompt("API key", hide_input=True)
    settings = Settings(api_url.strip().rstrip("/"), api_key.strip())
    if not settings.api_url.startswith(("http://", "https://")):
        _usage(f"the API URL must start with http:// or https://, not {settings.api_url!r}")
    if check:
        with _session(ctx, settings) as client:
            client.list_collections()
    path = options.config or default_config_path()
    write_config(path, settings)
    output.note(f"saved {settings.api_url} and the key in {path} (mode 600)")


# -- collections -----------------------------------------------------------------------------


@collections_app.command("list")
def list_collections(ctx: typer.Context, as_json: Json = False) -> None:
    """Your collections (each as its open revision, if it has one)."""
    with _session(ctx) as client:
        found = client.list_collections()
    if as_json:
        output.as_json(found)
    else:
        output.collections(found)


@collections_app.command("create")
def create_collection(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the collection's title")],
    contact_name: Annotated[str, typer.Option(help="whom to ask about it")],
    contact_email: Annotated[str, typer.Option(help="their email (shown publicly)")],
    description: Annotated[str, typer.Option(help="what it holds")] = "",
    link: Annotated[
        list[str] | None,
        typer.Option(help="[TYPE=]URL, e.g. DOI=https://doi.org/10.1/x; repeat for several"),
    ] = None,
) -> None:
    """Create a private collection; prints its id."""
    links = []
    for text in link or []:
        match = _LINK.fullmatch(text)
        assert match is not None  # the pattern matches any non-empty text
        links.append({"type": match["type"] or "OTHER", "url": match["url"]})
    with _session(ctx) as client:
        collection_id = client.create_collection(
            name, description, contact_name=contact_name, contact_email=contact_email, links=links
        )
    typer.echo(collection_id)


@collections_app.command("show")
def show_collection(ctx: typer.Context, collection: CollectionId, as_json: Json = False) -> None:
    """A collection's details and its datasets."""
    with _session(ctx) as client:
        document = client.get_collection(collection)
    if as_json:
        output.as_json(document)
    else:
        output.collection(document)


# -- datasets --------------------------------------------------------------------------------


@datasets_app.command("list")
def list_datasets(ctx: typer.Context, collection: CollectionId, as_json: Json = False) -> None:
    """A collection's datasets and their status."""
    with _session(ctx) as client:
        found = client.get_collection(collection)["datasets"]
    if as_json:
        output.as_json(found)
    else:
        output.datasets(found)


@datasets_app.command("create")
def create_dataset(
    ctx: typer.Context,
    collection: CollectionId,
    name: Annotated[str, typer.Option(help="its title (default: the file's)")] = "",
) -> None:
    """Add an empty dataset to a private collection or an open revision; prints its id."""
    with _session(ctx) as client:
        typer.echo(client.create_dataset(collection, name))


@datasets_app.command("show")
def show_dataset(
    ctx: typer.Context, collection: CollectionId, dataset: DatasetId, as_json: Json = False
) -> None:
    """A dataset as the collection (or revision) holds it."""
    with _session(ctx) as client:
        document = client.get_dataset(collection, dataset)
    if as_json:
        output.as_json(document)
    else:
        output.datasets([document])


# -- the curator's path ----------------------------------------------------------------------


@app.command()
def upload(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", exists=True, dir_okay=False, readable=True, help=".h5ad or .zarr.zip"
        ),
    ],
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="collection id, or an open revision's id")
    ],
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="the dataset to replace (default: a new one)"),
    ] = None,
    name: Annotated[str, typer.Option(help="a new dataset's title")] = "",
    wait: Wait = False,
    timeout: Timeout = 3600,
) -> None:
    """Upload a file as a new dataset (or a new version of --dataset); prints its id.

    With --wait, shows processing and exits 1 with the reason if it fails.
    """
    if not file.name.lower().endswith((".h5ad", ".zarr.zip")):
        _usage(f"{file}: upload a .h5ad or .zarr.zip file")
    with _session(ctx) as client:
        if dataset is None:
            dataset = client.create_dataset(collection, name)
        typer.echo(dataset)  # first: a failed transfer can be retried with --dataset
        with output.transfer_bar(file.stat().st_size, f"uploading {file.name}") as sent:
            client.upload(collection, dataset, file, progress=sent)
        if wait:
            _wait(client, collection, dataset, timeout)
        else:
            output.note(f"uploaded; `cellucid-cloud curate status {collection} {dataset}`")


@app.command()
def status(
    ctx: typer.Context,
    collection: CollectionId,
    dataset: DatasetId,
    wait: Wait = False,
    timeout: Timeout = 3600,
    as_json: Json = False,
) -> None:
    """Where a dataset stands: waiting, processing, ready (with its URL) or failed.

    A failed dataset exits 1 with its reason.
    """
    with _session(ctx) as client:
        if wait:
            _wait(client, collection, dataset, timeout)
            return
        document = client.get_dataset(collection, dataset)
    if as_json:
        output.as_json(document)
        if document["status"] == "failed":
            raise typer.Exit(1)
        return
    _finished(document)


@app.command()
def options(
    ctx: typer.Context,
    collection: CollectionId,
    dataset: DatasetId,
    options_file: option_flags.OptionsFile = None,
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
    reset: Annotated[bool, typer.Option(help="clear the options set before")] = False,
    wait: Wait = False,
    timeout: Timeout = 3600,
) -> None:
    """Show a dataset's export options, or change them with prepare's flags.

    Flags given change those options and keep the others (--reset clears them first). A file
    already processed is processed again into a new version; with --wait, until it is done.
    Prints the options set, as JSON.
    """
    from cellucid_cloud.export import PrepareError
    from cellucid_cloud.export.settings import read_options

    changing = reset or options_file is not None
    changing = changing or any(option_flags.given(ctx, name) for name in option_flags.FLAGS)
    with _session(ctx) as client:
        current = client.get_export_options(collection, dataset)
        if not changing:
            output.as_json(current)
            return
        try:
            chosen = option_flags.export_options(
                ctx, options_file, over=None if reset else read_options(current)
            )
        except PrepareError as error:
            _usage(str(error))
        document = client.set_export_options(
            collection, dataset, chosen.model_dump(mode="json", exclude_unset=True)
        )
        output.as_json(client.get_export_options(collection, dataset))
        if wait:
            _wait(client, collection, dataset, timeout)
        else:
            output.note(f"dataset {dataset}: {output.dataset_line(document)}")


@app.command()
def revision(ctx: typer.Context, collection: CollectionId) -> None:
    """Open a revision of a published collection; prints the revision's id.

    upload, withdraw and publish then take the revision's id.
    """
    with _session(ctx) as client:
        typer.echo(client.start_revision(collection))


@app.command()
def publish(ctx: typer.Context, collection: CollectionId) -> None:
    """Publish a private collection or a revision (every dataset must be ready)."""
    with _session(ctx) as client:
        document = client.publish(collection)
    output.note(f"published {document['collection_id']}")
    output.datasets(document["datasets"])


@app.command()
def withdraw(ctx: typer.Context, collection: CollectionId, dataset: DatasetId) -> None:
    """Withdraw a dataset from a collection (its URL then says it was withdrawn).

    Given a published collection, at once: a revision without the dataset is opened and
    published. Given a revision, the dataset leaves it and goes when the revision is
    published. Given a private collection, the dataset is deleted.
    """
    from cellucid_cloud.client import ApiError

    with _session(ctx) as client:
        document = client.get_collection(collection)
        if not any(d["dataset_id"] == dataset for d in document["datasets"]):
            _fail(f"no dataset {dataset} in collection {collection}")
        if document["visibility"] != "PUBLIC":
            client.delete_dataset(collection, dataset)
            if document["revision_of"]:
                output.note(f"removed from revision {collection}; publishing it withdraws it")
            else:
                output.note(f"deleted {dataset} (the collection was never published)")
            return
        revision_id = client.start_revision(document["collection_id"])
        try:
            client.delete_dataset(revision_id, dataset)
            client.publish(revision_id)
        except ApiError:
            client.delete_collection(revision_id)  # leave the collection as it was
            raise
        output.note(f"withdrew {dataset}; its URL now says so")
