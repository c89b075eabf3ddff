"""The events function: viewer registration, events and session bundles (``/_cellucid/...``)
on Powertools' HTTP API resolver.

The routes are :mod:`cellucid_cloud.api.events_http`'s, declared once; this is their adapter
to the resolver, as :mod:`cellucid_cloud.api.events_routes` is to FastAPI for ``up``. The
resolver rather than FastAPI behind Mangum because it starts faster cold (docs/benchmarks.md,
"Events function cold start"), and a cold start is what a viewer's first event waits for.
Query parameters are validated against the declared models and a JSON body with
:func:`~cellucid_cloud.http.validation.json_body`, refused with FastAPI's 422 messages; the
tests send the same HTTP API events to both hosts and compare the answers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.parameters import get_secret

from cellucid_cloud.api.auth import Authenticator, bearer_token
from cellucid_cloud.api.events_http import (
    BINARY_PATHS,
    EVENTS_ROUTES,
    EventsCall,
    EventsHttp,
    EventsRoute,
    FollowEvents,
)
from cellucid_cloud.aws.config import EventsSettings
from cellucid_cloud.aws.resolver import HttpRoutes, lambda_response
from cellucid_cloud.aws.services import aws_ports, site
from cellucid_cloud.core.ports import UploadUrls
from cellucid_cloud.core.services import build_services
from cellucid_cloud.events.service import EventsService
from cellucid_cloud.http.bodies import check_size
from cellucid_cloud.http.validation import json_body

__all__ = ["ANSWER_MARGIN", "POLL_INTERVAL", "events_app", "events_resolver"]

POLL_INTERVAL = 0.25
"""A long poll's read interval: each is a DynamoDB query, so a little slower than ``up``."""
ANSWER_MARGIN = 2.0
"""Seconds a long poll leaves of the invocation to answer in."""


def events_resolver(
    events: EventsService,
    auth: Callable[[], Authenticator],
    session_uploads: UploadUrls,
    *,
    upload_url_expiry: int = 900,
    poll: float = POLL_INTERVAL,
) -> APIGatewayHttpResolver:
    """The declared events routes on one resolver. ``auth`` is called on the first
    registration: reading the signing secret is no part of the cold start of a viewer's
    event."""
    routes = HttpRoutes(exempt_paths=BINARY_PATHS)
    http = EventsHttp(events, auth, session_uploads, upload_url_expiry)

    def read_body(cap: int) -> bytes:
        body = routes.body()
        check_size(len(body), cap)
        return body

    def answer(route: EventsRoute, path: dict[str, str]) -> Response[Any]:
        curator_id = None
        if route.curator:
            curator_id = http.curator(bearer_token(routes.header("authorization")))
        call = EventsCall(
            header=routes.header,
            read_body=read_body,
            query=routes.query(route.query) if route.query is not None else None,
            body=json_body(route.body, routes.body()) if route.body is not None else None,
            curator_id=curator_id,
            path=path,
        )
        answer = getattr(http, route.name)(call)
        if isinstance(answer, FollowEvents):
            left = routes.app.lambda_context.get_remaining_time_in_millis() / 1000
            wait = min(answer.wait, left - ANSWER_MARGIN)
            answer = http.page(*events.follow(answer.viewer, answer.after, wait, poll))
        return lambda_response(answer)

    def handler(route: EventsRoute) -> Callable[..., Response[Any]]:
        def serve(**path: str) -> Response[Any]:
            return answer(route, path)

        serve.__name__ = route.name
        return serve

    for route in EVENTS_ROUTES:
        path = re.sub(r"\{(\w+)\}", r"<\1>", route.path)  # Powertools' path parameters
        routes.route(route.method, path)(handler(route))
    return routes.app


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
