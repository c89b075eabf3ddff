"""``up --demo`` publishes its demo once, through the same path as a curator's upload."""

from __future__ import annotations

from pathlib import Path

from cellucid_cloud.local.demo import seed_demo
from cellucid_cloud.local.stack import LocalStack, StackSettings


def test_the_demo_is_published_once(tmp_path: Path) -> None:
    stack = LocalStack(StackSettings(data_dir=tmp_path, base_url="http://127.0.0.1:9"))
    stack.worker.start()
    try:
        url = seed_demo(stack, n_cells=300, n_genes=20)
        answer = stack.meta.lookup(url).value
        assert answer is not None
        assert answer.collection_visibility == "PUBLIC" and answer.export_url
        assert seed_demo(stack, n_cells=300, n_genes=20) == url
        assert len(stack.repository.published_collections()) == 1
    finally:
        stack.worker.stop()
