"""The API function's parts, built from its settings once per container.

The builder is cached at module level: a warm invocation reuses the clients, the meta cache
and the signing secret. Building reaches no AWS service: the boto3 clients are made, and the
signing secret read, on first use, so that a SnapStart snapshot taken after the build holds
no credentials and no secret; after a restore, the hooks registered here reseed ``random`` and
drop the caches (docs/deploy.md, "SnapStart"). Nothing here imports the export stack
(AnnData, h5py…), which only the prepare function ships. Viewer events and session bundles are
the events function's (:mod:`cellucid_cloud.aws.events`), so this app is built without them
(``ApiContext.events`` is None).
"""

from __future__ import annotations

import functools
from typing import cast

from aws_lambda_powertools.utilities.parameters import get_secret
from mangum import Mangum
from mangum.types import ASGI

from cellucid_cloud.api.app import build_api
from cellucid_cloud.api.auth import Authenticator
from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.aws.config import ApiSettings
from cellucid_cloud.aws.links import SqsLinkIngest
from cellucid_cloud.aws.services import aws_ports, site
from cellucid_cloud.aws.snapstart import after_restore, reseed_random
from cellucid_cloud.core.services import build_services

__all__ = ["api_context", "api_handler"]


def api_context(settings: ApiSettings) -> ApiContext:
    """The API's parts (the token-signing secret is read from Secrets Manager when first
    needed)."""
    ports = aws_ports(settings)
    services = build_services(ports, site(settings))
    queue = SqsLinkIngest(settings.prepare_queue_url)
    auth = Authenticator(ports.catalog, functools.partial(get_secret, settings.token_secret_arn))
    after_restore(reseed_random)
    after_restore(services.meta.forget)
    after_restore(auth.forget)
    return ApiContext(
        catalog=services.catalog,
        meta=services.meta,
        auth=auth,
        uploads=ports.upload_urls,
        multipart=ports.multipart,
        links=queue,
        reprocessing=queue,
        downloads=ports.downloads,
        mode="aws",
        max_upload_bytes=settings.max_upload_bytes,
        allow_private_links=settings.allow_private_links,
    )


@functools.cache
def api_handler() -> Mangum:
    """The API function's ASGI adapter (HTTP API payload format 2.0; no lifespan events)."""
    app = build_api(api_context(ApiSettings.from_env()))
    # Starlette types an ASGI app's result as Awaitable, Mangum as Coroutine: the same app.
    return Mangum(cast(ASGI, app), lifespan="off")
