"""``cellucid-cloud curate`` as a curator runs it: a real process against a real ``up`` over
HTTP. Exit codes (0 done, 1 refused or failed with one line, 2 usage or configuration), the
output scripts read, and the whole path from a file to a public, then withdrawn, dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.export_data import make_adata
from tests.local_up import Up, free_port, running_up

CONTACT = ["--contact-name", "Ada Lovelace", "--contact-email", "ada@example.org"]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    with running_up(tmp_path_factory.mktemp("curate") / "data", "--meta-ttl", "0") as running:
        yield running


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("files")
    paths = {name: folder / f"{name}.h5ad" for name in ("good", "newer", "bad")}
    make_adata(n_cells=150, n_genes=12, seed=1).write_h5ad(paths["good"])
    make_adata(n_cells=90, n_genes=12, seed=2).write_h5ad(paths["newer"])
    paths["bad"].write_bytes(b"not an HDF5 file\n" * 64)
    return paths


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home without a config file, so nothing of the machine's leaks in."""
    return tmp_path


def curate(
    *args: str | Path, up: Up | None, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CELLUCID_") and key not in {"HOME", "XDG_CONFIG_HOME"}
    }
    environment |= {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    if up is not None:
        environment |= {"CELLUCID_API_URL": up.base_url, "CELLUCID_API_KEY": up.curator_key}
    environment |= env or {}
    return subprocess.run(
        [sys.executable, "-m", "cellucid_cloud.cli", "curate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environment,
    )


def ok(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout.splitlines()


def one_error_line(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The command failed with ``code`` and said why in exactly one line on stderr."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def usage_error(done: subprocess.CompletedProcess[str]) -> str:
    """Click's usage message (exit 2), its box and line breaks taken out."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    return " ".join(done.stderr.replace("│", " ").split())


def meta(up: Up, dataset_id: str) -> dict[str, object]:
    reply = httpx.get(f"{up.base_url}/dp/v1/datasets/meta", params={"url": f"/e/{dataset_id}/"})
    reply.raise_for_status()
    body: dict[str, object] = reply.json()
    return body


def test_a_good_file_becomes_ready_and_is_published(
    up: Up, files: dict[str, Path], home: Path
) -> None:
    [cid] = ok(curate("collections", "create", "Lung", *CONTACT, up=up, home=home))
    uploaded = ok(curate("upload", files["good"], "-c", cid, "--wait", up=up, home=home))
    did = uploaded[0]
    assert uploaded[1:] == [f"ready: {up.base_url}/e/{did}/"]
    assert ok(curate("status", cid, did, up=up, home=home)) == uploaded[1:]
    assert meta(up, did)["collection_visibility"] == "PRIVATE"

    published = curate("publish", cid, up=up, home=home)
    assert did in ok(published)[1]  # the datasets table, under its header
    public = meta(up, did)
    assert (public["collection_visibility"], public["status"]) == ("PUBLIC", "ready")
    listing = "\n".join(ok(curate("collections", "list", up=up, home=home)))
    assert cid in listing and "published" in listing

    # A file dropped into the published collection is not taken: status says so, exit 0.
    dropped = up.data_dir / "uploads" / cid / f"{did}.h5ad"
    dropped.parent.mkdir(parents=True, exist_ok=True)
    dropped.write_bytes(files["newer"].read_bytes())
    with up.curator() as curator:
        wait_for_refusal(curator, f"/curation/v1/collections/{cid}/datasets/{did}")
    status = curate("status", cid, did, up=up, home=home)
    assert ok(status) == uploaded[1:]
    assert status.stderr == (
        f"warning: a newer file was not taken: {cid}/{did}.h5ad: this collection is published; "
        "start a revision before uploading\n"
    )


def wait_for_refusal(curator: httpx.Client, path: str) -> None:
    deadline = time.monotonic() + 60
    while curator.get(path).json()["refused_upload"] is None:
        assert time.monotonic() < deadline, "the dropped file was never looked at"
        time.sleep(0.2)


def test_a_bad_file_exits_1_with_its_reason_on_one_line(
    up: Up, files: dict[str, Path], home: Path
) -> None:
    [cid] = ok(curate("collections", "create", "Broken", *CONTACT, up=up, home=home))
    done = curate("upload", files["bad"], "--collection", cid, "--wait", up=up, home=home)
    [did] = done.stdout.splitlines()  # the dataset's id, printed before waiting
    error = one_error_line(done)
    assert error.startswith(f"error: dataset {did} failed: ")
    assert "not an HDF5" in error
    assert one_error_line(curate("status", cid, did, up=up, home=home)) == error
    refused = one_error_line(curate("publish", cid, up=up, home=home))
    assert refused.startswith("error: HTTP 409: ")


def test_a_large_file_goes_up_in_parts(up: Up, home: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.h5ad"
    make_adata(n_cells=10_000, n_genes=1_000, layout="dense").write_h5ad(big)
    assert big.stat().st_size > 2 * 16 * 1024 * 1024  # three parts
    [cid] = ok(curate("collections", "create", "Big", *CONTACT, up=up, home=home))
    uploaded = ok(curate("upload", big, "-c", cid, "--wait", up=up, home=home))
    assert uploaded[1] == f"ready: {up.base_url}/e/{uploaded[0]}/"
    log = (up.data_dir.parent / f"up-{up.base_url.rsplit(':', 1)[1]}.log").read_text()
    assert f"/datasets/{uploaded[0]}/multipart-upload/" in log and "/complete " in log


def test_export_options_reprocess_the_file(up: Up, files: dict[str, Path], home: Path) -> None:
    [cid] = ok(curate("collections", "create", "Options", *CONTACT, up=up, home=home))
    [did, _] = ok(curate("upload", files["good"], "-c", cid, "--wait", up=up, home=home))
    assert json.loads(curate("options", cid, did, up=up, home=home).stdout) == {}
    first = meta(up, did)["dataset_version_id"]

    changed = curate(
        "options", cid, did, "--obs", "cell_type", "--default-embedding", "X_pca", "--wait",
        up=up, home=home,
    )  # fmt: skip
    assert ok(changed)[-1] == f"ready: {up.base_url}/e/{did}/"
    set_now = {"obs_keys": ["cell_type"], "default_embedding": "X_pca"}
    assert json.loads("\n".join(ok(changed)[:-1])) == set_now
    answer = meta(up, did)
    assert answer["dataset_version_id"] != first  # the same file, processed again
    exported = httpx.get(f"{answer['export_url']}obs_manifest.json").text
    assert "cell_type" in exported and "total_counts" not in exported

    more = curate("options", cid, did, "--compression", "9", up=up, home=home)
    assert json.loads(more.stdout) == {**set_now, "compression": 9}  # the others kept
    bad = one_error_line(curate("options", cid, did, "--embedding", "X_pca:a", up=up, home=home), 2)
    assert "columns must look like KEY:0,1" in bad
    assert json.loads(curate("options", cid, did, "--reset", up=up, home=home).stdout) == {}


def test_revision_replaces_and_withdraw_tombstones(
    up: Up, files: dict[str, Path], home: Path
) -> None:
    [cid] = ok(curate("collections", "create", "Revised", *CONTACT, up=up, home=home))
    [keep, _] = ok(curate("upload", files["good"], "-c", cid, "--wait", up=up, home=home))
    [gone, _] = ok(curate("upload", files["good"], "-c", cid, "--wait", up=up, home=home))
    ok(curate("publish", cid, up=up, home=home))
    first = meta(up, keep)["dataset_version_id"]

    [rid] = ok(curate("revision", cid, up=up, home=home))
    replaced = curate("upload", files["newer"], "-c", rid, "-d", keep, "--wait", up=up, home=home)
    assert ok(replaced)[0] == keep
    shown = ok(curate("datasets", "show", rid, keep, "--json", up=up, home=home))
    assert '"n_cells": 90' in "\n".join(shown)
    ok(curate("publish", rid, up=up, home=home))
    assert meta(up, keep)["dataset_version_id"] != first

    ok(curate("withdraw", cid, gone, up=up, home=home))
    assert meta(up, gone)["tombstoned"] is True
    assert meta(up, keep)["tombstoned"] is False
    datasets = "\n".join(ok(curate("datasets", "list", cid, up=up, home=home)))
    assert keep in datasets and gone not in datasets


def test_api_errors_are_one_line(up: Up, files: dict[str, Path], home: Path) -> None:
    unknown = one_error_line(curate("collections", "show", "no-such-id", up=up, home=home))
    assert unknown.startswith("error: HTTP 404: ")
    wrong_key = curate(
        "collections", "list", up=up, home=home, env={"CELLUCID_API_KEY": "ccak_wrong"}
    )
    assert one_error_line(wrong_key).startswith("error: HTTP 401: ")
    nobody = curate(
        "collections",
        "list",
        up=up,
        home=home,
        env={"CELLUCID_API_URL": f"http://127.0.0.1:{free_port()}"},
    )
    assert "got no answer" in one_error_line(nobody)


def test_usage_errors_exit_2_and_send_nothing(home: Path, files: dict[str, Path]) -> None:
    no_collection = curate("upload", files["good"], up=None, home=home)
    assert "Missing option '--collection'" in usage_error(no_collection)
    not_configured = one_error_line(curate("collections", "list", up=None, home=home), 2)
    assert "CELLUCID_API_URL" in not_configured
    # Wide enough that rich's box never breaks the (temporary, long) path inside a word.
    wide = {"COLUMNS": "1000"}
    missing = curate("upload", home / "nope.h5ad", "-c", "x", up=None, home=home, env=wide)
    assert "nope.h5ad' does not exist" in usage_error(missing)
    folder = curate("upload", home, "-c", "x", up=None, home=home, env=wide)
    assert "is a directory" in usage_error(folder)
    text = home / "notes.txt"
    text.write_text("hello")
    wrong_kind = one_error_line(curate("upload", text, "-c", "x", up=None, home=home), 2)
    assert wrong_kind == f"error: {text}: upload a .h5ad or .zarr.zip file"


def test_the_config_file_is_private(up: Up, home: Path) -> None:
    config = home / ".config" / "cellucid-cloud" / "config.toml"
    saved = curate(
        "--api-url",
        up.base_url,
        "configure",
        up=None,
        home=home,
        env={"CELLUCID_API_KEY": up.curator_key},
    )
    ok(saved)
    assert config.stat().st_mode & 0o777 == 0o600
    assert up.curator_key not in saved.stdout + saved.stderr
    assert ok(curate("collections", "list", "--json", up=None, home=home))[0] in {"[", "[]"}

    config.chmod(0o644)
    refused = one_error_line(curate("collections", "list", up=None, home=home), 2)
    assert "mode 644" in refused and f"chmod 600 {config}" in refused

    elsewhere = home / "other.toml"
    missing = curate("--config", elsewhere, "collections", "list", up=None, home=home)
    assert "no such config file" in one_error_line(missing, 2)
    bad_key = curate("configure", up=up, home=home, env={"CELLUCID_API_KEY": "ccak_wrong"})
    assert one_error_line(bad_key).startswith("error: HTTP 401: ")
    assert config.stat().st_mode & 0o777 == 0o644  # a refused key is not saved
