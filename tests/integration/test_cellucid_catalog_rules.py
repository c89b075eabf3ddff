"""The Cellucid web app's rules for a catalog hold for every way we serve exports.

The rules are those of the newest loader of the web app that could be read
(``local-demo-source.js``; the issue quotes them) and of Cellucid 0.9.4's own writer and checker
(``cellucid.prepare_data._catalog.generate_datasets_manifest``,
``_generation.prepare``'s ``obs_categorical_dtype`` check):

* ``datasets.json``: ``version`` exactly 1, a non-empty ``datasets`` list, an explicit
  ``default`` naming a listed id, ids unique;
* every ``path`` a canonical relative folder ending in ``/``: no leading ``/``, no empty, ``.``
  or ``..`` segment (also after percent-decoding), no backslash, query or fragment; there is no
  single-dataset fallback any more, so ``./`` is refused;
* ``n_cells``/``n_genes`` equal to the identity's ``stats`` (non-negative safe integers);
* the identity: version 3, ``export_settings.obs_categorical_dtype`` one of uint8, uint16,
  uint32, and ``cellucid_data_version`` a Cellucid release the app knows (ours apart, in
  ``cellucid_cloud_version``).

Checked on ``serve`` of one export folder, ``serve`` of a folder of exports, ``up``, and the
AWS API function's ``datasets.json`` over a real export in the moto exports bucket.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from cellucid_cloud import prepare
from cellucid_cloud.local.demo import seed_demo
from cellucid_cloud.serve import create_app
from tests.catalog_data import CURATOR, METADATA
from tests.cloud import CloudStack, cloud_stack, event, json_reply
from tests.export_data import make_adata
from tests.integration.test_serve_folder import running
from tests.live_app import serving

CATEGORICAL_DTYPES = {"uint8", "uint16", "uint32"}
KNOWN_CELLUCID_VERSIONS = {"0.9.4"}
"""Releases whose export format (identity version 3) we write and the app reads."""
SAFE_INTEGER = (1 << 53) - 1

Identity = Callable[[str], dict[str, Any]]
"""The identity under a catalog ``path``."""


def check_catalog(document: Any, identity_at: Identity) -> None:
    assert type(document) is dict
    assert type(document.get("version")) is int and document["version"] == 1
    datasets = document.get("datasets")
    assert type(datasets) is list and datasets, "the list must not be empty"
    ids = [entry["id"] for entry in datasets]
    assert len(set(ids)) == len(ids)
    assert type(document.get("default")) is str and document["default"] in ids
    for entry in datasets:
        path = entry["path"]
        check_path(path)
        identity = identity_at(path)
        assert identity["id"] == entry["id"]
        for count in ("n_cells", "n_genes"):
            assert type(entry[count]) is int and 0 <= entry[count] <= SAFE_INTEGER
            assert entry[count] == identity["stats"][count], (path, count)
        assert identity["version"] == 3
        assert identity["export_settings"]["obs_categorical_dtype"] in CATEGORICAL_DTYPES
        assert identity["cellucid_data_version"] in KNOWN_CELLUCID_VERSIONS
        assert identity["cellucid_cloud_version"]


def check_path(path: Any) -> None:
    assert type(path) is str and path.endswith("/") and not path.startswith("/"), path
    assert not any(c in path for c in "\\?#") and ":" not in path.split("/")[0], path
    for segments in (path[:-1].split("/"), unquote(path[:-1]).split("/")):
        assert all(s not in {"", ".", ".."} for s in segments), path


def over_http(base: str) -> tuple[Any, Identity]:
    client = httpx.Client(base_url=base + "/")
    response = client.get("datasets.json")
    assert response.status_code == 200, response.text

    def identity_at(path: str) -> dict[str, Any]:
        found = client.get(path + "dataset_identity.json")
        assert found.status_code == 200, path
        return dict(found.json())

    return response.json(), identity_at


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exports")
    prepare(make_adata(120, 9), root / "alpha", dataset_id="alpha", name="Alpha")
    prepare(make_adata(80, 6, seed=1), root / "b dir", dataset_id="beta", name="Beta")
    return root


def test_the_rules_reject_what_the_loader_rejects() -> None:
    for bad in ("./", "/a/", "a", "a/../b/", "a/%2E%2E/", "a//b/", "a\\b/", "http://x/a/"):
        with pytest.raises(AssertionError):
            check_path(bad)
    check_path("exports/0f3c1b7e/")
    with pytest.raises(AssertionError):
        check_catalog({"version": 1, "default": None, "datasets": []}, lambda p: {})


def test_serve_of_one_export_folder(exports: Path) -> None:
    with running(create_app(exports / "alpha")) as base:
        document, identity_at = over_http(base)
        check_catalog(document, identity_at)
        assert [d["path"] for d in document["datasets"]] == ["alpha/"]


def test_serve_of_a_folder_of_exports(exports: Path) -> None:
    with running(create_app(exports)) as base:
        document, identity_at = over_http(base)
        check_catalog(document, identity_at)
        assert [d["path"] for d in document["datasets"]] == ["alpha/", "b%20dir/"]


def test_up(tmp_path: Path) -> None:
    with serving(tmp_path / "data", meta_ttl=0) as live:
        assert httpx.get(f"{live.base_url}/datasets.json").status_code == 404  # nothing yet
        live.stack.worker.start()
        try:
            seed_demo(live.stack, n_cells=300, n_genes=20)
        finally:
            live.stack.worker.stop()
        check_catalog(*over_http(live.base_url))


@pytest.fixture
def stack(moto_server: str) -> Iterator[CloudStack]:
    with cloud_stack(moto_server) as stack:
        yield stack


def test_aws(stack: CloudStack, exports: Path, tmp_path: Path) -> None:
    source = tmp_path / "lung.h5ad"
    make_adata(150, 12).write_h5ad(source)
    cid = stack.catalog.create_collection(CURATOR, METADATA).collection.collection_id
    dataset_id = stack.catalog.add_dataset(CURATOR, cid, "Lung").dataset_id
    stack.s3.upload_file(str(source), stack.uploads_bucket, f"{cid}/{dataset_id}.h5ad")
    assert stack.deliver(stack.receive(2)) == {"batchItemFailures": []}
    stack.catalog.publish(CURATOR, cid)

    reply = stack.meta(event("meta/datasets-json.json"))
    assert reply["statusCode"] == 200, reply

    def identity_at(path: str) -> dict[str, Any]:
        key = path + "dataset_identity.json"
        body = stack.s3.get_object(Bucket=stack.exports_bucket, Key=key)["Body"]
        return dict(json.load(body))

    check_catalog(json_reply(reply), identity_at)


def test_an_export_written_elsewhere_is_listed_under_its_folder(
    exports: Path, tmp_path: Path
) -> None:
    """A folder whose name differs from its id: listed under the folder, served there."""
    shutil.copytree(exports / "alpha", tmp_path / "renamed")
    with running(create_app(tmp_path)) as base:
        document, identity_at = over_http(base)
        check_catalog(document, identity_at)
        assert [(d["id"], d["path"]) for d in document["datasets"]] == [("alpha", "renamed/")]
