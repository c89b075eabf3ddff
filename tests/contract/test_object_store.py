"""The contract every object store adapter keeps (a folder locally, S3 on AWS)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cellucid_cloud.core.ports import ObjectStore
from cellucid_cloud.storage.filesystem import FilesystemObjectStore

FILES = {
    "dataset_identity.json": b'{"version":3,"id":"d1"}',
    "var/0.values.u8.gz": bytes(range(256)) * 3,
    "obs/1.codes.u8": b"\x00\x01\x02\xff",
    "deep/er/still/nested.bin": b"nested",
}


def make_folder(root: Path, files: dict[str, bytes] = FILES) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_put_folder_stores_every_file_under_the_prefix(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    stored = object_store.put_folder("exports/v1/", make_folder(tmp_path / "export"))
    assert stored == sum(len(data) for data in FILES.values())
    for name, data in FILES.items():
        copy = tmp_path / "copy"
        etag = object_store.fetch(f"exports/v1/{name}", copy)
        assert copy.read_bytes() == data
        assert etag == md5(data)


def test_deleting_a_prefix_removes_that_folder_and_nothing_beside_it(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    """A failed attempt's prefix goes; the next attempt's (``exports/v1-2/``) and a prefix
    that only starts alike stay."""
    for prefix in ("exports/v1/", "exports/v1-2/", "exports/v10/"):
        object_store.put_folder(prefix, make_folder(tmp_path / prefix))
    object_store.delete_prefix("exports/v1/")
    assert not object_store.exists("exports/v1/")
    assert not object_store.exists("exports/v1/dataset_identity.json")
    assert object_store.exists("exports/v1-2/dataset_identity.json")
    assert object_store.exists("exports/v10/deep/er/still/nested.bin")
    object_store.delete_prefix("exports/never-stored/")
    object_store.put_folder("exports/v1/", make_folder(tmp_path / "again"))  # a new prefix again


def test_an_existing_prefix_is_never_overwritten(object_store: ObjectStore, tmp_path: Path) -> None:
    object_store.put_folder("exports/v1/", make_folder(tmp_path / "first"))
    other = make_folder(tmp_path / "second", {"dataset_identity.json": b"{}"})
    for prefix in ("exports/v1/", "exports/v1"):
        with pytest.raises(FileExistsError, match="never overwritten"):
            object_store.put_folder(prefix, other)
    copy = tmp_path / "copy"
    object_store.fetch("exports/v1/dataset_identity.json", copy)
    assert copy.read_bytes() == FILES["dataset_identity.json"]


def test_a_prefix_without_trailing_slash_means_the_same_folder(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    object_store.put_folder("exports/v2", make_folder(tmp_path / "export"))
    assert object_store.exists("exports/v2/obs/1.codes.u8")
    assert not object_store.exists("exports/v2obs/1.codes.u8")


def test_etag_identifies_content(object_store: ObjectStore, tmp_path: Path) -> None:
    object_store.put_folder("a/", make_folder(tmp_path / "a", {"x.h5ad": b"one"}))
    object_store.put_folder("b/", make_folder(tmp_path / "b", {"x.h5ad": b"one"}))
    object_store.put_folder("c/", make_folder(tmp_path / "c", {"x.h5ad": b"two"}))
    etags = [object_store.fetch(f"{p}/x.h5ad", tmp_path / f"{p}.copy") for p in "abc"]
    assert etags[0] == etags[1] != etags[2]
    assert '"' not in etags[0]


def test_fetching_a_missing_key_raises_file_not_found(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        object_store.fetch("nope/missing.h5ad", tmp_path / "copy")


def test_exists_for_objects_and_prefixes(object_store: ObjectStore, tmp_path: Path) -> None:
    object_store.put_folder("exports/v1/", make_folder(tmp_path / "export"))
    assert object_store.exists("exports/v1/dataset_identity.json")
    assert object_store.exists("exports/v1/deep/er/still/nested.bin")
    assert object_store.exists("exports/v1/")
    assert not object_store.exists("exports/v2/")
    assert not object_store.exists("exports/v1/missing.json")


def test_uri_names_the_key_and_no_path_of_the_server(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    """The meta answer shows it to everyone (issue 15, finding 10): an S3 URI, or locally the
    path the server serves the key at, never where the files are on its disk."""
    file_uri = object_store.uri("exports/v1/dataset_identity.json")
    prefix_uri = object_store.uri("exports/v1/")
    assert file_uri.endswith("/exports/v1/dataset_identity.json")
    assert prefix_uri.endswith("/exports/v1/")
    assert file_uri.startswith(("s3://", "/exports/"))
    assert str(tmp_path) not in file_uri and "file:" not in file_uri


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs/path", "a//b", "a\\b", "./a"])
def test_the_filesystem_refuses_keys_that_leave_its_root(tmp_path: Path, key: str) -> None:
    store = FilesystemObjectStore(tmp_path / "bucket")
    folder = make_folder(tmp_path / "export")
    with pytest.raises(ValueError, match="unsafe object key"):
        store.put_folder(key, folder)
    with pytest.raises(ValueError, match="unsafe object key"):
        store.fetch(key, tmp_path / "copy")
    with pytest.raises(ValueError, match="unsafe object key"):
        store.exists(key)
