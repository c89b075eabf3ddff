"""Adapters of the catalog repository port, each built fresh for one contract test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cellucid_cloud.catalog.repository import CatalogRepository
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository

ADAPTERS = ["sqlite"]


@pytest.fixture(params=ADAPTERS)
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CatalogRepository]:
    if request.param == "sqlite":
        repo = SqliteCatalogRepository(tmp_path / "catalog.sqlite3")
        yield repo
        repo.close()
