"""What ``cellucid-cloud curate`` prints: results on stdout (tables, or the API's JSON with
``--json``), notes and progress bars on stderr, bars only when stderr is a terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

__all__ = ["collection", "collections", "dataset_line", "datasets", "note", "processing_bar"]

Document = dict[str, Any]

_UNWRAPPED = 10_000
"""Width of a non-terminal stdout: a piped table keeps one line per row."""


def _stdout() -> Console:
    return Console(width=None if sys.stdout.isatty() else _UNWRAPPED, highlight=False)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def note(text: str) -> None:
    """A line for the person at the terminal (stderr), kept out of what scripts read."""
    sys.stderr.write(f"{text}\n")


def as_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    _stdout().print(table)


def _state(document: Document) -> str:
    if document.get("revision_of"):
        return f"published; open revision {document['collection_version_id']}"
    return "published" if document.get("visibility") == "PUBLIC" else "private"


def collections(documents: Sequence[Document]) -> None:
    _table(
        ("collection", "state", "datasets", "name"),
        [
            (d["collection_id"], _state(d), str(len(d.get("datasets", []))), d["name"])
            for d in documents
        ],
    )


def collection(document: Document) -> None:
    out = _stdout()
    out.print(f"{document['name']}", style="bold")
    fields = {
        "collection": document["collection_id"],
        "version": document["collection_version_id"],
        "state": _state(document),
        "contact": f"{document['contact_name']} <{document['contact_email']}>",
        "published": document.get("published_at") or "never",
    }
    if document.get("description"):
        fields["description"] = document["description"]
    for link in document.get("links", []):
        fields[f"link {link.get('name') or link.get('type', '')}".rstrip()] = link["url"]
    width = max(map(len, fields))
    for key, value in fields.items():
        out.print(f"{key + ':':<{width + 1}} {value}")
    if document.get("datasets"):
        out.print()
        datasets(document["datasets"])


def datasets(documents: Sequence[Document]) -> None:
    _table(
        ("dataset", "status", "cells", "name", "explorer URL"),
        [
            (
                d["dataset_id"],
                d["status"],
                "" if d.get("n_cells") is None else f"{d['n_cells']:,}",
                d.get("name") or "",
                d["explorer_url"],
            )
            for d in documents
        ],
    )
    for d in documents:
        if d["status"] == "failed":
            note(f"{d['dataset_id']} failed: {d.get('reason')}")


def dataset_line(document: Document) -> str:
    """One line saying where a dataset stands (the explorer URL once it is ready)."""
    status = document["status"]
    if status == "ready":
        return f"ready: {document['explorer_url']}"
    if status == "failed":
        return f"failed: {document.get('reason') or 'no reason was recorded'}"
    return str(status)


@contextmanager
def transfer_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A byte-progress bar; yields the callback that advances it."""
    console = _stderr()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as bars:
        task = bars.add_task(label, total=total)
        yield lambda sent: bars.advance(task, sent)


@contextmanager
def processing_bar(label: str) -> Iterator[Callable[[Document], None]]:
    """A bar without an end (processing reports no fraction) that shows the dataset's status;
    yields the callback that updates it."""
    console = _stderr()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as bars:
        task = bars.add_task(label, total=None, status="waiting")
        yield lambda document: bars.update(task, status=document.get("status", ""))
