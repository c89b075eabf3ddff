"""The ``/_cellucid/*`` event routes, declared once and free of any web framework: viewers post
what a person does; token holders follow it.

Each route is an :class:`EventsRoute` (method, path, query and body models, whether a curator
signs in) answered by the :class:`EventsHttp` method of its name. Two thin adapters serve the
declaration: :mod:`cellucid_cloud.api.events_routes` as FastAPI routes (``up``, the API docs)
and :mod:`cellucid_cloud.aws.events` on Powertools' resolver (the events function, which
starts faster cold without FastAPI: docs/benchmarks.md, "Events function cold start"). A host
validates the query and the JSON body, authenticates the curator where the route says so, and
hands the route an :class:`EventsCall`; the route reads the body only when it asks, under the
cap it names, so an unknown viewer is refused before its body arrives.

Status codes as the Cellucid server: unknown or expired viewer 404, wrong token 403, too large
413, malformed 400/422 with the reason, wrong content type 415. Nothing malformed is stored.
Each post authenticates its viewer once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cellucid_cloud.api.auth import Authenticator
from cellucid_cloud.core.errors import InvalidRequestError
from cellucid_cloud.core.ports import UploadUrls
from cellucid_cloud.events.models import StoredEvent, Viewer
from cellucid_cloud.events.service import (
    CURSOR_PATTERN,
    MAX_BUNDLE_BYTES,
    MAX_CURSOR_LENGTH,
    MAX_DIRECT_BUNDLE_BYTES,
    MAX_PARAM_LENGTH,
    MAX_WAIT,
    EventsService,
    ViewerRequest,
)
from cellucid_cloud.events.wire import MAX_EVENT_BYTES, event_json
from cellucid_cloud.http.answers import JSON, NO_STORE, OCTET_STREAM, Answer, json_answer
from cellucid_cloud.http.bodies import require_binary, require_json

__all__ = [
    "BINARY_PATHS",
    "EVENTS_ROUTES",
    "BundleQuery",
    "EventsCall",
    "EventsHttp",
    "EventsRoute",
    "FollowEvents",
    "FollowQuery",
    "SelectionQuery",
    "UploadUrlQuery",
    "ViewerAnswer",
    "ViewerQuery",
]

BINARY_PATHS = ("/_cellucid/selection", "/_cellucid/session_bundle")
"""Bodies bounded by their own rules (a dataset's cell count, 5 MB), so exempt from the 1 MiB
limit of JSON bodies."""

Param = Annotated[str | None, Field(max_length=MAX_PARAM_LENGTH)]


class ViewerQuery(BaseModel):
    """A viewer's credentials, as Cellucid sends them in the query."""

    model_config = ConfigDict(extra="ignore")
    viewerId: Param = None  # noqa: N815 - Cellucid's query names
    viewerToken: Param = None  # noqa: N815


class SelectionQuery(ViewerQuery):
    source: Param = None


class BundleQuery(ViewerQuery):
    requestId: Param = None  # noqa: N815


class UploadUrlQuery(BundleQuery):
    size: Annotated[int | None, Field(ge=1, le=MAX_BUNDLE_BYTES)] = None


class FollowQuery(ViewerQuery):
    after: Annotated[str, Field(max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN)] = "0"
    wait: Annotated[float, Field(ge=0, le=MAX_WAIT)] = 0.0


class ViewerAnswer(BaseModel):
    """``POST /_cellucid/viewers``' answer (the token is shown only here)."""

    viewerId: str  # noqa: N815 - Cellucid's spelling
    viewerToken: str  # noqa: N815
    viewer_url: str
    expires_at: str


def _body(media_type: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {media_type: {"schema": {}}}}}


@dataclass(frozen=True, slots=True)
class EventsRoute:
    """One route: ``name`` is the :class:`EventsHttp` method answering it; ``path`` holds
    ``{name}`` parameters; ``query`` and ``body`` are the models a host validates the query
    string and a JSON body with; ``curator``: the host authenticates a curator's bearer token
    first; ``json_answer``: a success is JSON (else bytes or a redirect). ``docs``: what the
    OpenAPI document says besides (FastAPI route arguments)."""

    name: str
    method: str
    path: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    curator: bool = False
    status: int = 200
    json_answer: bool = True
    docs: Mapping[str, Any] = field(default_factory=dict)


EVENTS_ROUTES = (
    EventsRoute(
        "register",
        "POST",
        "/_cellucid/viewers",
        body=ViewerRequest,
        curator=True,
        status=201,
        docs={"response_model": ViewerAnswer},
    ),
    EventsRoute("post_event", "POST", "/_cellucid/events", docs={"openapi_extra": _body(JSON)}),
    EventsRoute(
        "post_selection",
        "POST",
        "/_cellucid/selection",
        SelectionQuery,
        docs={"openapi_extra": _body(OCTET_STREAM)},
    ),
    EventsRoute(
        "post_bundle",
        "POST",
        "/_cellucid/session_bundle",
        BundleQuery,
        docs={"openapi_extra": _body(OCTET_STREAM)},
    ),
    EventsRoute(
        "bundle_upload_url",
        "POST",
        "/_cellucid/session_bundle/upload-url",
        UploadUrlQuery,
        docs={"response_model": dict[str, Any]},
    ),
    EventsRoute(
        "get_events",
        "GET",
        "/_cellucid/events",
        FollowQuery,
        docs={"response_model": dict[str, Any]},
    ),
    EventsRoute(
        "list_bundles",
        "GET",
        "/_cellucid/session_bundles",
        ViewerQuery,
        docs={"response_model": dict[str, Any]},
    ),
    EventsRoute(
        "get_bundle",
        "GET",
        "/_cellucid/session_bundles/{request_id}",
        ViewerQuery,
        json_answer=False,
        docs={
            "responses": {
                200: {"content": {OCTET_STREAM: {}}, "description": "the bundle (up)"},
                302: {
                    "description": "a presigned GET of the bundle, valid at most 15 minutes (AWS)"
                },
            },
        },
    ),
)
"""Every events route, in the order the API docs list them."""


@dataclass(frozen=True, slots=True)
class EventsCall:
    """One request as a host hands it to a route: the validated query and JSON body, the
    authenticated curator, path parameters, headers, and a reader of the body that refuses
    (413) more than the cap it is given."""

    header: Callable[[str], str | None]
    read_body: Callable[[int], bytes]
    query: BaseModel | None = None
    body: BaseModel | None = None
    curator_id: str | None = None
    path: Mapping[str, str] = field(default_factory=dict)

    def params[Q: BaseModel](self, model: type[Q]) -> Q:
        """The query, as the route declares it."""
        return _declared(self.query, model)

    def json[B: BaseModel](self, model: type[B]) -> B:
        """The JSON body, as the route declares it."""
        return _declared(self.body, model)

    def curator(self) -> str:
        """The curator the host authenticated (a route declared with ``curator=True``)."""
        if self.curator_id is None:
            raise TypeError("the route declares no curator")
        return self.curator_id


def _declared[M: BaseModel](found: BaseModel | None, model: type[M]) -> M:
    if not isinstance(found, model):
        raise TypeError(f"the route declares no {model.__name__}")
    return found


@dataclass(frozen=True, slots=True)
class FollowEvents:
    """A long poll the host waits out its own way (an event loop keeps serving; a Lambda
    invocation stops before its time is up), then answers with :meth:`EventsHttp.page`."""

    viewer: Viewer
    after: int
    wait: float


class EventsHttp:
    """What each route does with an :class:`EventsCall` and answers, over the events service."""

    def __init__(
        self,
        events: EventsService,
        auth: Callable[[], Authenticator],
        session_uploads: UploadUrls | None,
        upload_url_expiry: int = 900,
    ) -> None:
        self.events = events
        self.auth = auth
        """Called on the first registration: reading the signing secret is no part of the
        cold start of a viewer's event."""
        self.session_uploads = session_uploads
        """Upload URLs into the sessions store, for bundles over the direct limit; None where
        bundles are taken directly only."""
        self.upload_url_expiry = upload_url_expiry

    def curator(self, bearer_token: str | None) -> str:
        """The curator a route with ``curator=True`` acts for (401 otherwise)."""
        return self.auth().curator_for_bearer(bearer_token)

    def register(self, call: EventsCall) -> Answer:
        """Register a viewer of a dataset; its token lets a notebook follow the viewer."""
        body = call.json(ViewerRequest)
        registration = self.events.register(call.curator(), body.dataset_id, body.ttl_seconds)
        return json_answer(registration.answer(), 201)

    def post_event(self, call: EventsCall) -> Answer:
        """One JSON event (ready, hover, click, data_mapping, command_error, debug_snapshot,
        pong) carrying viewerId and viewerToken."""
        require_json(call.header("content-type"))
        return _posted(self.events.post_event(call.read_body(MAX_EVENT_BYTES)))

    def post_selection(self, call: EventsCall) -> Answer:
        """The cells a person selected: u32 little-endian, strictly ascending, < n_cells."""
        query = call.params(SelectionQuery)
        require_binary(call.header("content-type"))
        viewer = self.events.viewer(query.viewerId, query.viewerToken)
        body = call.read_body(4 * viewer.n_cells)
        return _posted(self.events.post_selection(viewer, query.source, body))

    def post_bundle(self, call: EventsCall) -> Answer:
        """A ``.cellucid-session`` file (v1 or v2) of at most 5 MB."""
        query = call.params(BundleQuery)
        require_binary(call.header("content-type"))
        viewer = self.events.viewer(query.viewerId, query.viewerToken)
        body = call.read_body(MAX_DIRECT_BUNDLE_BYTES)
        self.events.post_bundle(viewer, query.requestId, body)
        return _posted(None)

    def bundle_upload_url(self, call: EventsCall) -> Answer:
        """A URL for one PUT of a bundle over 5 MB (``size`` in bytes; required on AWS, where
        the URL signs the exact length). The bundle is validated once it has arrived: then
        it is listed, or deleted with a ``session_bundle`` event saying why."""
        query = call.params(UploadUrlQuery)
        if self.session_uploads is None:
            raise InvalidRequestError("this deployment takes session bundles directly only")
        viewer = self.events.viewer(query.viewerId, query.viewerToken)
        grant = self.events.bundle_upload_url(
            self.session_uploads, viewer, query.requestId, query.size, self.upload_url_expiry
        )
        return json_answer(
            {
                "url": grant.url,
                "headers": grant.headers,
                "expires_in": grant.expires_in,
                "max_bytes": grant.max_bytes,
            }
        )

    def get_events(self, call: EventsCall) -> FollowEvents:
        """Events after the cursor in arrival order, long-polling up to ``wait`` seconds."""
        query = call.params(FollowQuery)
        viewer = self.events.viewer(query.viewerId, query.viewerToken)
        return FollowEvents(viewer, int(query.after), query.wait)

    def page(self, events: list[StoredEvent], cursor: int) -> Answer:
        """A read's answer, in the one encoding every event was checked against when it was
        posted (:func:`~cellucid_cloud.events.wire.event_json`), so it always encodes."""
        document = {"events": [e.event for e in events], "cursor": str(cursor)}
        return Answer(200, event_json(document).encode(), {"Content-Type": JSON})

    def list_bundles(self, call: EventsCall) -> Answer:
        query = call.params(ViewerQuery)
        viewer = self.events.viewer(query.viewerId, query.viewerToken)
        return json_answer({"bundles": self.events.bundles(viewer)})

    def get_bundle(self, call: EventsCall) -> Answer:
        """A stored bundle: a redirect to a short-lived URL of the store when it has one (the
        sessions bucket: a Lambda response holds 6 MB at most), else the bytes. Never cached."""
        query = call.params(ViewerQuery)
        viewer = self.events.viewer(query.viewerId, query.viewerToken)
        request_id = call.path["request_id"]
        download = self.events.bundle_download(viewer, request_id)
        if download.url is not None:
            return Answer(302, b"", {"Location": download.url, "Cache-Control": NO_STORE})
        disposition = f'attachment; filename="{download.request_id}.cellucid-session"'
        headers = {"Content-Disposition": disposition, "Cache-Control": NO_STORE}
        return Answer(200, download.data, {"Content-Type": OCTET_STREAM, **headers})


def _posted(cursor: int | None) -> Answer:
    """The answer to a post: the cursor of the stored event, if it made one."""
    cursor_field = {"cursor": str(cursor)} if cursor is not None else {}
    document = {"status": "ok", "delivered": True, **cursor_field}
    return json_answer(document, 200, **{"Cache-Control": NO_STORE})
