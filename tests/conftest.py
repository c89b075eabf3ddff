"""Fixtures shared by every test directory."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests import aws

settings.register_profile(
    "fuzz", max_examples=int(os.environ.get("CELLUCID_FUZZ_EXAMPLES", "5000")), deadline=None
)
"""``make fuzz`` runs the parser properties with this profile (``--hypothesis-profile=fuzz``)."""


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint URL of one moto server for the whole session (fake credentials set)."""
    with aws.moto_server() as url:
        yield url
