"""The Python client: explorer URL lookups with a correct cache, and the curation API.

See ``docs/client.md``. Needs ``httpx``.
"""

from cellucid_cloud.client.curation import CurationClient, UploadGrant
from cellucid_cloud.client.errors import ApiError, DatasetNotFound, NotFoundError, ServerError
from cellucid_cloud.client.resolver import Contact, ExplorerResolver, Resolution
from cellucid_cloud.client.viewer import Viewer
from cellucid_cloud.events.bundle import SessionBundle

__all__ = [
    "ApiError",
    "Contact",
    "CurationClient",
    "DatasetNotFound",
    "ExplorerResolver",
    "NotFoundError",
    "Resolution",
    "ServerError",
    "SessionBundle",
    "UploadGrant",
    "Viewer",
]
