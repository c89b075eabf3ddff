"""The data directory is ``up``'s alone (issue 15, finding 9): mode 700, and every file in it
600 — databases, uploads, exports, session bundles, keys — from the first start, and after a
start on a data directory an older version (or a person) left readable to others."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from cellucid_cloud.client import CurationClient
from cellucid_cloud.local.stack import LocalStack, StackSettings
from tests.export_data import make_adata
from tests.local_up import Up, running_up
from tests.session_bundles import make_bundle

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}


def use_everything(up: Up, h5ad: Path) -> None:
    """Make ``up`` write every kind of file it has: a processed upload and its export, the
    catalog, a viewer with events and a session bundle."""
    with CurationClient(up.base_url, up.curator_key) as curator:
        collection = curator.create_collection(name="Private", **CONTACT)
        dataset = curator.create_dataset(collection)
        curator.upload(collection, dataset, h5ad)
        assert curator.wait_until_processed(collection, dataset, poll=0.2)["status"] == "ready"
        viewer = curator.register_viewer(dataset)
    creds = {"viewerId": viewer["viewerId"], "viewerToken": viewer["viewerToken"]}
    posted = httpx.post(
        f"{up.base_url}/_cellucid/session_bundle",
        params={**creds, "requestId": "r1"},
        content=make_bundle(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert posted.status_code == 200, posted.text


def readable_by_others(data: Path) -> list[str]:
    """Every entry of ``data`` (itself included) whose mode lets group or others in."""
    found = []
    for root, folders, files in os.walk(data):
        for path in [Path(root), *(Path(root) / name for name in [*folders, *files])]:
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & 0o077:
                found.append(f"{oct(stat.S_IMODE(mode))} {path.relative_to(data.parent)}")
    return sorted(set(found))


def kinds(data: Path) -> set[str]:
    """Which kinds of files the data directory holds (so the check above saw them all)."""
    names = {path.relative_to(data).parts[0] for path in data.rglob("*") if path.is_file()}
    suffixes = {path.suffix for path in data.rglob("*") if path.is_file()}
    return names | suffixes


def test_everything_up_writes_is_private(tmp_path: Path) -> None:
    h5ad = tmp_path / "cells.h5ad"
    make_adata(n_cells=50, n_genes=8).write_h5ad(h5ad)
    data = tmp_path / "data"
    with running_up(data) as up:
        use_everything(up, h5ad)
        assert {"catalog.sqlite3", "events.sqlite3", "secret", "curator.key"} <= kinds(data)
        assert {"uploads", "exports", "sessions", ".h5ad", ".json", ".cellucid-session"} <= kinds(
            data
        )
        assert readable_by_others(data) == []
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_a_data_dir_left_readable_is_tightened_at_start(tmp_path: Path) -> None:
    h5ad = tmp_path / "cells.h5ad"
    make_adata(n_cells=50, n_genes=8).write_h5ad(h5ad)
    data = tmp_path / "data"
    with running_up(data) as up:
        use_everything(up, h5ad)
    for path in [data, *data.rglob("*")]:  # as an older up (umask 022) left it
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert readable_by_others(data)
    with running_up(data) as up:
        assert readable_by_others(data) == []
        use_everything(up, h5ad)
        assert readable_by_others(data) == []
    logs = "".join(path.read_text() for path in tmp_path.glob("up-*.log"))
    assert "tightened the permissions" in logs


def test_the_keys_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """``secret`` and ``curator.key`` are created 600 by the stack itself, not only through
    ``up``'s umask, so a stack built by any other caller keeps them private too."""
    data = tmp_path / "data"
    previous = os.umask(0o022)
    try:
        stack = LocalStack(StackSettings(data_dir=data, base_url="http://127.0.0.1:9"))
    finally:
        os.umask(previous)
    stack.links.close()
    assert (data / "catalog.sqlite3").stat().st_mode & 0o044  # the loose umask took effect
    for name in ("secret", "curator.key"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
