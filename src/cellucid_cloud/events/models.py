"""Viewers, their events and their session bundles, as the event store keeps them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["BundleRecord", "StoredEvent", "Viewer"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Viewer(_Record):
    """A registered viewer: whoever holds its token may post and read its events.

    Only the token's SHA-256 is stored; tokens have 256 random bits, so that is a safe form.
    """

    viewer_id: str
    token_hash: str
    curator_id: str
    dataset_id: str
    dataset_version_id: str
    n_cells: int
    created_at: datetime
    expires_at: int
    """Unix seconds; DynamoDB's TTL attribute, and the bound every read checks."""


class StoredEvent(_Record):
    seq: int
    """Position in the viewer's arrival order, from 1."""
    event: dict[str, Any]


class BundleRecord(_Record):
    viewer_id: str
    request_id: str
    key: str
    """Where the bytes are in the sessions store."""
    bytes: int
    version: int
    created_at: datetime
    expires_at: int
