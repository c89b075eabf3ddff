"""``up --demo``: a published demo collection with the synthetic dataset, on first start.

Goes through the same path as a curator: a collection and a dataset in the catalog, the file
dropped into the uploads folder, processed by the worker, then published. Later starts find
the published demo and only print its URL. The generated ``.h5ad`` is cached in ``work/``.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time

from cellucid_cloud.catalog.models import CollectionMetadata, DatasetStatus
from cellucid_cloud.catalog.urls import explorer_url
from cellucid_cloud.local.stack import FIRST_CURATOR, LocalStack

__all__ = ["DEMO_COLLECTION", "seed_demo"]

log = logging.getLogger(__name__)

DEMO_COLLECTION = "cellucid-cloud demo"
DEMO_DATASET = "Synthetic PBMC-like (50k cells)"


def seed_demo(stack: LocalStack, n_cells: int = 50_000, n_genes: int = 2_000) -> str:
    """Make sure the demo is published; returns its viewer URL."""
    catalog = stack.catalog
    for collection in stack.repository.collections_of(FIRST_CURATOR):
        view = catalog.version_for(collection.collection_id)
        if view.version.metadata.name == DEMO_COLLECTION and collection.is_published:
            dataset_id = next(iter(view.version.datasets))
            return _announce(stack, dataset_id)
    from cellucid_cloud.demo.synthetic import write_synthetic_h5ad

    cached = stack.data_dir / "work" / f"demo-{n_cells}x{n_genes}-symbols.h5ad"
    if not cached.exists():
        sys.stderr.write(f"generating the demo dataset ({n_cells:,} cells x {n_genes:,} genes)\n")
        write_synthetic_h5ad(
            cached, n_cells, n_genes, with_knn=True, with_velocity=True, symbols_as_names=True
        )
    metadata = CollectionMetadata(
        name=DEMO_COLLECTION,
        description="Synthetic PBMC-like data: 12 cell types, batches, a kNN graph, velocity.",
        contact_name="cellucid-cloud",
        contact_email="demo@example.org",
    )
    view = catalog.create_collection(FIRST_CURATOR, metadata)
    collection_id = view.collection.collection_id
    dataset_id = catalog.add_dataset(FIRST_CURATOR, collection_id, DEMO_DATASET).dataset_id
    key = f"{collection_id}/{dataset_id}.h5ad"
    (stack.data_dir / "uploads" / collection_id).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, stack.data_dir / "uploads" / key)
    sys.stderr.write("preparing the demo dataset...\n")
    stack.worker.submit(key)
    while True:
        version = catalog.dataset_in(catalog.version_for(collection_id), dataset_id)
        if version.status is DatasetStatus.READY:
            break
        if version.status is DatasetStatus.FAILED:
            raise RuntimeError(f"the demo dataset failed: {version.reason}")
        time.sleep(0.5)
    catalog.publish(FIRST_CURATOR, collection_id)
    return _announce(stack, dataset_id)


def _announce(stack: LocalStack, dataset_id: str) -> str:
    url = explorer_url(stack.settings.base_url, dataset_id)
    sys.stderr.write(f"\ndemo ready — open {url}\n\n")
    return url
