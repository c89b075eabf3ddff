"""``cellucid-cloud up`` as a user meets it: first start, uploads both ways, bad files,
restarts, and what it refuses."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import httpx

from tests.export_data import make_adata
from tests.local_up import running_up, wait_for_log, wait_for_status

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}


def test_first_start_restart_and_both_upload_paths(tmp_path: Path) -> None:
    data = tmp_path / "data"
    h5ad = tmp_path / "a.h5ad"
    make_adata(n_cells=80, n_genes=20).write_h5ad(h5ad)
    with running_up(data) as up:
        key_file = data / "curator.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "secret").stat().st_mode) == 0o600
        with up.curator() as curator:
            cid = curator.post("/curation/v1/collections", json={"name": "C", **CONTACT}).json()[
                "collection_id"
            ]
            good = curator.post(f"/curation/v1/collections/{cid}/datasets").json()["dataset_id"]
            bad = curator.post(f"/curation/v1/collections/{cid}/datasets").json()["dataset_id"]
            # A direct drop into the uploads folder, like a direct S3 upload.
            target = data / "uploads" / cid / f"{good}.h5ad"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(h5ad, target)
            # A malformed file through an upload URL.
            grant = curator.post(f"/curation/v1/collections/{cid}/datasets/{bad}/upload-url").json()
            assert httpx.put(grant["url"], content=b"not an h5ad file").status_code == 200
            ok = wait_for_status(
                curator, f"/curation/v1/collections/{cid}/datasets/{good}", {"ready", "failed"}
            )
            failed = wait_for_status(
                curator, f"/curation/v1/collections/{cid}/datasets/{bad}", {"ready", "failed"}
            )
        assert ok["status"] == "ready" and ok["n_cells"] == 80
        assert failed["status"] == "failed"
        assert failed["reason"] and "Traceback" not in failed["reason"]
        first_key = up.curator_key

    with running_up(data) as up:  # a restart loses nothing, and makes no new key
        assert up.curator_key == first_key
        with up.curator() as curator:
            # The start-up scan sees both files again and recognises their bytes.
            for key in (f"{cid}/{good}.h5ad", grant["key"]):
                wait_for_log(up, f"upload {key}: skipped already processed")
            again = curator.get(f"/curation/v1/collections/{cid}/datasets/{good}").json()
            # Same version, same state: the same bytes seen again make no new version.
            urls = ("export_url", "explorer_url", "dataset_deployments", "download")
            assert {k: v for k, v in again.items() if k not in urls} == {
                k: v for k, v in ok.items() if k not in urls
            }
            ok = again
        identity = httpx.get(str(ok["export_url"]) + "dataset_identity.json")
        assert identity.status_code == 200
        assert identity.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_upload_urls_are_scoped_capped_and_bodies_bounded(tmp_path: Path) -> None:
    with running_up(tmp_path / "data") as up, up.curator() as curator:
        cid = curator.post("/curation/v1/collections", json={"name": "C", **CONTACT}).json()[
            "collection_id"
        ]
        did = curator.post(f"/curation/v1/collections/{cid}/datasets").json()["dataset_id"]
        grant = curator.post(f"/curation/v1/collections/{cid}/datasets/{did}/upload-url").json()
        assert grant["key"] == f"{cid}/{did}/{grant['upload_id']}.h5ad"
        assert grant["expires_in"] <= 900
        forged = grant["url"][:-3] + ("aaa" if not grant["url"].endswith("aaa") else "bbb")
        assert httpx.put(forged, content=b"x").status_code == 403
        too_big = curator.post(
            f"/curation/v1/collections/{cid}/datasets/{did}/upload-url",
            json={"size": 10**15},
        )
        assert too_big.status_code == 422 and "too large" in too_big.json()["detail"]
        assert httpx.get(f"{up.base_url}/exports/..%2F..%2Fcatalog.sqlite3").status_code in {
            400,
            404,
        }
        assert httpx.get(f"{up.base_url}/exports/x/secret").status_code == 404
        wrong_host = httpx.get(f"{up.base_url}/_cellucid/health", headers={"Host": "evil.test"})
        assert wrong_host.status_code == 421
        anonymous = httpx.post(f"{up.base_url}/curation/v1/collections", json={"name": "x"})
        assert anonymous.status_code == 401
        assert "access-control-allow-origin" not in anonymous.headers


def test_public_reads_carry_cors_for_the_cellucid_web_app(tmp_path: Path) -> None:
    with running_up(tmp_path / "data") as up:
        for path in ("/datasets.json", "/exports/x/dataset_identity.json", "/_cellucid/health"):
            reply = httpx.get(up.base_url + path, headers={"Origin": "https://cellucid.com"})
            assert reply.headers["access-control-allow-origin"] == "*", path
        preflight = httpx.options(
            f"{up.base_url}/exports/x/var/0.values.u8.gz",
            headers={"Origin": "https://cellucid.com", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 204
        assert "Range" in preflight.headers["access-control-allow-headers"]
