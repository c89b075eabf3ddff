"""Regressions for what ``make fuzz`` (tests/fuzz.py) found, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx

from cellucid_cloud.catalog.models import MAX_URL_LENGTH
from cellucid_cloud.local.stack import FIRST_CURATOR
from tests.api_server import CONTACT
from tests.live_app import serving


def test_a_link_that_normalising_makes_too_long_is_refused_not_stored(tmp_path: Path) -> None:
    """``https://<host>`` of exactly the length limit is valid as sent, but is stored with a
    trailing slash: it was accepted, and every later read of the collection answered 500."""
    url = "https://" + ".".join(["a" * 60] * 40)
    url = url[:MAX_URL_LENGTH].rstrip(".")
    assert len(url) == MAX_URL_LENGTH and "/" not in url.removeprefix("https://")
    links = [{"name": "lab", "type": "OTHER", "url": url}]
    with serving(tmp_path / "data", meta_ttl=0) as served:
        token = served.stack.auth.issue_token(FIRST_CURATOR)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=served.base_url, headers=headers, timeout=30) as curator:
            created = curator.post("/curation/v1/collections", json={"name": "C", **CONTACT})
            cid = created.json()["collection_id"]
            patched = curator.patch(f"/curation/v1/collections/{cid}", json={"links": links})
            assert patched.status_code == 422, patched.text
            refused = curator.post(
                "/curation/v1/collections", json={"name": "D", **CONTACT, "links": links}
            )
            assert refused.status_code == 422, refused.text
            assert "at most 2083 characters" in refused.json()["detail"]
            listed = curator.get("/curation/v1/collections")
            assert listed.status_code == 200 and len(listed.json()) == 1
            # Every read of it still answers (the draft shows publicly by its version id only).
            document = curator.get(f"/curation/v1/collections/{cid}")
            assert document.status_code == 200
            version_id = document.json()["collection_version_id"]
            assert curator.get(f"/dp/v1/collections/{version_id}").status_code == 200
