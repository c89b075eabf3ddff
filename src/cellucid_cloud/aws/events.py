"""The events function: viewer registration, events and session bundles (``/_cellucid/...``)
on Powertools' HTTP API resolver.

The resolver rather than FastAPI behind Mangum because it starts about twice as fast cold
(docs/benchmarks.md, "Events function cold start"), and a cold start is what a viewer's first
event waits for. The routes only translate HTTP: every rule (content types, size caps,
credentials, the answers) is :mod:`cellucid_cloud.events.service`'s, which the FastAPI routes
that ``up`` serves (:mod:`cellucid_cloud.api.events_routes`) use as well; the tests send the
same HTTP API events to both and compare the answers.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.parameters import get_secret
from pydantic import BaseModel, ConfigDict, Field

from cellucid_cloud.api.auth import Authenticator
from cellucid_cloud.aws.config import EventsSettings
from cellucid_cloud.aws.resolver import HttpRoutes, lambda_response
from cellucid_cloud.aws.services import aws_ports, site
from cellucid_cloud.core.ports import UploadUrls
from cellucid_cloud.core.services import build_services
from cellucid_cloud.events.service import (
    CURSOR_PATTERN,
    MAX_BUNDLE_BYTES,
    MAX_CURSOR_LENGTH,
    MAX_DIRECT_BUNDLE_BYTES,
    MAX_PARAM_LENGTH,
    MAX_WAIT,
    EventsService,
    ViewerRequest,
    delivered,
    events_page,
)
from cellucid_cloud.http.bodies import check_size, require_binary, require_json
from cellucid_cloud.http.validation import json_body

__all__ = ["POLL_INTERVAL", "events_app", "events_resolver"]

BINARY_PATHS = ("/_cellucid/selection", "/_cellucid/session_bundle")
"""Bodies bounded by their own rules (a dataset's cell count, 5 MB), as in the API app."""
POLL_INTERVAL = 0.25
"""A long poll's read interval: each is a DynamoDB query, so a little slower than ``up``."""
ANSWER_MARGIN = 2.0
"""Seconds a long poll leaves of the invocation to answer in."""
NO_STORE = {"Cache-Control": "no-store"}

Param = Annotated[str | None, Field(max_length=MAX_PARAM_LENGTH)]
Answer = Response[Any]


class _Query(BaseModel):
    """Query parameters, constrained as the FastAPI routes declare them."""

    model_config = ConfigDict(extra="ignore")
    viewerId: Param = None  # noqa: N815 - Cellucid's query names
    viewerToken: Param = None  # noqa: N815


class _SelectionQuery(_Query):
    source: Param = None


class _BundleQuery(_Query):
    requestId: Param = None  # noqa: N815


class _UploadUrlQuery(_BundleQuery):
    size: Annotated[int | None, Field(ge=1, le=MAX_BUNDLE_BYTES)] = None


class _FollowQuery(_Query):
    after: Annotated[str, Field(max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN)] = "0"
    wait: Annotated[float, Field(ge=0, le=MAX_WAIT)] = 0.0


def _json(status: int, document: Any, headers: dict[str, str] | None = None) -> Answer:
    return Response(status, "application/json", json.dumps(document), headers or {})


def _bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, as FastAPI's HTTPBearer reads it."""
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def events_resolver(
    events: EventsService,
    auth: Callable[[], Authenticator],
    session_uploads: UploadUrls,
    *,
    upload_url_expiry: int = 900,
    poll: float = POLL_INTERVAL,
) -> APIGatewayHttpResolver:
    """The routes of :mod:`cellucid_cloud.api.events_routes` over the same service. ``auth``
    is called on the first registration: reading the signing secret is no part of the cold
    start of a viewer's event."""
    routes = HttpRoutes(exempt_paths=BINARY_PATHS)
    app = routes.app
    route, body, header, query = routes.route, routes.body, routes.header, routes.query

    @route("POST", "/_cellucid/viewers")
    def register() -> Answer:
        curator_id = auth().curator_for_bearer(_bearer(header("authorization")))
        request = json_body(ViewerRequest, body())
        registration = events.register(curator_id, request.dataset_id, request.ttl_seconds)
        return _json(201, registration.answer())

    @route("POST", "/_cellucid/events")
    def post_event() -> Answer:
        require_json(header("content-type"))
        return _json(200, delivered(events.post_event(body())), NO_STORE)

    @route("POST", "/_cellucid/selection")
    def post_selection() -> Answer:
        params = query(_SelectionQuery)
        require_binary(header("content-type"))
        viewer = events.viewer(params.viewerId, params.viewerToken)
        data = body()
        check_size(len(data), 4 * viewer.n_cells)
        cursor = events.post_selection(params.viewerId, params.viewerToken, params.source, data)
        return _json(200, delivered(cursor), NO_STORE)

    @route("POST", "/_cellucid/session_bundle")
    def post_bundle() -> Answer:
        params = query(_BundleQuery)
        require_binary(header("content-type"))
        events.viewer(params.viewerId, params.viewerToken)
        data = body()
        check_size(len(data), MAX_DIRECT_BUNDLE_BYTES)
        events.post_bundle(params.viewerId, params.viewerToken, params.requestId, data)
        return _json(200, delivered(None), NO_STORE)

    @route("POST", "/_cellucid/session_bundle/upload-url")
    def bundle_upload_url() -> Answer:
        p = query(_UploadUrlQuery)
        grant = events.bundle_upload_url(
            session_uploads, p.viewerId, p.viewerToken, p.requestId, p.size, upload_url_expiry
        )
        return _json(200, grant)

    @route("GET", "/_cellucid/events")
    def get_events() -> Answer:
        params = query(_FollowQuery)
        viewer = events.viewer(params.viewerId, params.viewerToken)
        left = app.lambda_context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN
        page = events.follow(viewer, int(params.after), min(params.wait, left), poll)
        return Response(200, "application/json", events_page(*page))

    @route("GET", "/_cellucid/session_bundles")
    def list_bundles() -> Answer:
        params = query(_Query)
        viewer = events.viewer(params.viewerId, params.viewerToken)
        return _json(200, {"bundles": events.bundles(viewer)})

    @route("GET", "/_cellucid/session_bundles/<request_id>")
    def get_bundle(request_id: str) -> Answer:
        params = query(_Query)
        viewer = events.viewer(params.viewerId, params.viewerToken)
        return lambda_response(events.bundle_download(viewer, request_id))

    return app


@functools.cache
def events_app() -> APIGatewayHttpResolver:
    """The events function's resolver over DynamoDB (the catalog's table) and the sessions
    bucket, built once per container."""
    settings = EventsSettings.from_env()
    ports = aws_ports(settings, sessions_bucket=settings.sessions_bucket)
    assert ports.session_upload_urls is not None

    @functools.cache
    def auth() -> Authenticator:
        return Authenticator(ports.catalog, get_secret(settings.token_secret_arn))

    services = build_services(ports, site(settings))
    return events_resolver(services.events, auth, ports.session_upload_urls)
