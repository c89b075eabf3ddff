"""``cellucid-cloud curate``: collections, datasets, uploads and publishing from a shell."""

from cellucid_cloud.curate.commands import app

__all__ = ["app"]
