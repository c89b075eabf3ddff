"""The real API (tests/live_app.py) with a seeded catalog, for the HTTP robustness tests: a
published collection whose dataset went through the real upload processing, and tokens for
any curator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cellucid_cloud.catalog.models import CollectionMetadata
from cellucid_cloud.local.stack import FIRST_CURATOR, LocalStack
from tests.export_data import make_adata
from tests.live_app import serving

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}


@dataclass(frozen=True)
class Seeded:
    """A published collection with one ready dataset, owned by the stack's first curator."""

    collection_id: str
    dataset_id: str
    dataset_version_id: str


@dataclass(frozen=True)
class SeededApi:
    base_url: str
    stack: LocalStack
    seeded: Seeded

    def token(self, curator_id: str = FIRST_CURATOR) -> str:
        return self.stack.auth.issue_token(curator_id)

    def client(self, curator_id: str | None = None) -> httpx.Client:
        """A keep-alive client; with ``curator_id``, carrying that curator's bearer token."""
        headers = {"Authorization": f"Bearer {self.token(curator_id)}"} if curator_id else {}
        return httpx.Client(base_url=self.base_url, timeout=30, headers=headers)


def seed(stack: LocalStack) -> Seeded:
    view = stack.catalog.create_collection(
        FIRST_CURATOR, CollectionMetadata(name="Seeded lung atlas", **CONTACT)
    )
    cid = view.collection.collection_id
    version = stack.catalog.add_dataset(FIRST_CURATOR, cid, "Lung")
    key = f"{cid}/{version.dataset_id}.h5ad"
    upload = stack.uploads.path(key)
    upload.parent.mkdir(parents=True, exist_ok=True)
    make_adata(n_cells=80, n_genes=20, seed=7).write_h5ad(upload)
    outcome = stack.processor.process(key)
    assert outcome.status == "ready", outcome
    stack.catalog.publish(FIRST_CURATOR, cid)
    return Seeded(cid, version.dataset_id, str(outcome.version_id))


@contextmanager
def seeded_api(tmp: Path) -> Iterator[SeededApi]:
    """Serve a fresh stack under ``tmp`` (meta cache off, so answers follow every change)."""
    with serving(tmp / "data", meta_ttl=0) as served:
        yield SeededApi(served.base_url, served.stack, seed(served.stack))
