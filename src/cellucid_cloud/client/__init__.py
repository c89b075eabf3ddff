"""The Python client: explorer URL lookups with a correct cache, and the curation API.

See ``docs/client.md``. Needs ``httpx``.
"""

from cellucid_cloud.client.curation import (
    AcceptedUpload,
    CurationClient,
    MultipartUpload,
    UploadGrant,
)
from cellucid_cloud.client.errors import ApiError, DatasetNotFound, NotFoundError, ServerError
from cellucid_cloud.client.parts import PartUrl
from cellucid_cloud.client.resolver import Contact, ExplorerResolver, Resolution
from cellucid_cloud.client.viewer import Viewer
from cellucid_cloud.events.bundle import SessionBundle

__all__ = [
    "AcceptedUpload",
    "ApiError",
    "Contact",
    "CurationClient",
    "DatasetNotFound",
    "ExplorerResolver",
    "MultipartUpload",
    "NotFoundError",
    "PartUrl",
    "Resolution",
    "ServerError",
    "SessionBundle",
    "UploadGrant",
    "Viewer",
]
