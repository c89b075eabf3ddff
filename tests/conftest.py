"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import aws


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint URL of one moto server for the whole session (fake credentials set)."""
    with aws.moto_server() as url:
        yield url
