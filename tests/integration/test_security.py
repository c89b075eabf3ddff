"""Security properties of the local stack over real HTTP: curator authentication on every
route the OpenAPI document lists, private collections kept out of every public answer,
traversal and Host-header attacks on the static paths, viewer tokens compared in constant
time, and upload URLs bound to one key, a short expiry and a size cap.

Most tests share one in-thread stack (tests/live_app.py) so they can reach its secret, its
files and its modules; the wildcard-bind tests start the real commands as subprocesses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import httpx
import jwt
import psutil
import pytest

from cellucid_cloud.api.auth import AUDIENCE, ISSUER, Authenticator
from cellucid_cloud.catalog.models import CollectionMetadata, utcnow
from cellucid_cloud.events.service import MAX_DIRECT_BUNDLE_BYTES
from cellucid_cloud.local.stack import FIRST_CURATOR, LocalStack
from cellucid_cloud.portal import STATIC_DIR as PORTAL_DIR
from cellucid_cloud.storage import link_fetch
from cellucid_cloud.storage.local_upload_urls import AUDIENCE as UPLOAD_AUDIENCE
from cellucid_cloud.storage.local_upload_urls import LocalUploadUrls
from cellucid_cloud.viewer import STATIC_DIR
from tests.api_server import CONTACT, SeededApi, seeded_api
from tests.export_data import make_adata
from tests.link_servers import FILE_SERVER, file_server_is_public, serving
from tests.local_up import free_port, running_up
from tests.raw_http import raw_get, raw_request, raw_request_unfinished
from tests.session_bundles import make_bundle

MiB = 1024 * 1024
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Private:
    """Everything the public must never learn, with the ids each one is reached by."""

    draft_id: str
    """A never-published collection of the first curator, with a ready dataset."""
    draft_version_id: str
    draft_dataset_id: str
    draft_dataset_version_id: str
    revision_id: str
    """An open revision of the public collection: a re-uploaded and an added dataset."""
    revised_version_id: str
    added_dataset_id: str
    added_version_id: str
    other_id: str
    """Another curator's draft collection, with a dataset waiting for its upload."""
    other_dataset_id: str
    viewer_id: str
    viewer_token: str

    def ids(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if k != "viewer_token"}


@dataclass(frozen=True)
class World:
    api: SeededApi
    private: Private

    @property
    def stack(self) -> LocalStack:
        return self.api.stack

    def secret(self) -> str:
        return (self.stack.data_dir / "secret").read_text().strip()

    def bearer(self, curator_id: str = FIRST_CURATOR) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api.token(curator_id)}"}


def ready_version(stack: LocalStack, version_id: str, dataset_id: str, seed: int) -> str:
    """Upload and process a small file for ``dataset_id`` in collection version
    ``version_id``; the ready dataset version's id."""
    key = f"{version_id}/{dataset_id}.h5ad"
    path = stack.uploads.path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_adata(n_cells=40, n_genes=10, seed=seed).write_h5ad(path)
    outcome = stack.processor.process(key)
    assert outcome.status == "ready", outcome
    return str(outcome.version_id)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with seeded_api(tmp_path_factory.mktemp("security")) as api:
        stack, public = api.stack, api.seeded
        catalog = stack.catalog
        metadata = CollectionMetadata(name="Private heart atlas", **CONTACT)
        draft = catalog.create_collection(FIRST_CURATOR, metadata)
        draft_id = draft.collection.collection_id
        draft_dataset = catalog.add_dataset(FIRST_CURATOR, draft_id, "Heart")
        draft_version = ready_version(stack, draft_id, draft_dataset.dataset_id, seed=2)
        revision = catalog.start_revision(FIRST_CURATOR, public.collection_id)
        revision_id = revision.version.version_id
        revised = ready_version(stack, revision_id, public.dataset_id, seed=3)
        added = catalog.add_dataset(FIRST_CURATOR, revision_id, "Added")
        added_version = ready_version(stack, revision_id, added.dataset_id, seed=4)
        other = catalog.create_collection("curator-b", metadata)
        other_dataset = catalog.add_dataset("curator-b", other.collection.collection_id, "B")
        with api.client(FIRST_CURATOR) as curator:
            viewer = curator.post("/_cellucid/viewers", json={"dataset_id": draft_version})
        assert viewer.status_code == 201, viewer.text
        private = Private(
            draft_id=draft_id,
            draft_version_id=draft.version.version_id,
            draft_dataset_id=draft_dataset.dataset_id,
            draft_dataset_version_id=draft_version,
            revision_id=revision_id,
            revised_version_id=revised,
            added_dataset_id=added.dataset_id,
            added_version_id=added_version,
            other_id=other.collection.collection_id,
            other_dataset_id=other_dataset.dataset_id,
            viewer_id=viewer.json()["viewerId"],
            viewer_token=viewer.json()["viewerToken"],
        )
        yield World(api, private)


def state(stack: LocalStack) -> tuple[list[str], list[str], list[tuple[str, int]]]:
    """Everything a request could change: both databases, row by row, and every stored file."""
    dumps = []
    for name in ("catalog.sqlite3", "events.sqlite3"):
        uri = f"file:{stack.data_dir / name}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as db:
            dumps.append(list(db.iterdump()))
    files = sorted(
        (str(p.relative_to(stack.data_dir)), p.stat().st_size)
        for p in stack.data_dir.rglob("*")
        if p.is_file() and ".sqlite3" not in p.name
    )
    return dumps[0], dumps[1], files


# -- curator authentication on every route ---------------------------------------------------

MULTIPART = "/curation/v1/collections/{collection_id}/datasets/{dataset_id}/multipart-upload"
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/curation/v1/collections"): {"name": "Injected", **CONTACT},
    ("PATCH", "/curation/v1/collections/{collection_id}"): {"name": "Renamed"},
    ("POST", "/curation/v1/collections/{collection_id}/datasets"): {"name": "Injected"},
    ("PUT", "/curation/v1/collections/{collection_id}/datasets/{dataset_id}"): {
        "link": "https://example.org/lung.h5ad"
    },
    ("POST", "/curation/v1/collections/{collection_id}/datasets/{dataset_id}/upload-url"): {
        "format": "h5ad"
    },
    ("PUT", "/curation/v1/collections/{collection_id}/datasets/{dataset_id}/export-options"): {
        "obs_keys": ["cell_type"]
    },
    ("POST", f"{MULTIPART}"): {"size": 10},
    ("POST", f"{MULTIPART}/{{upload_id}}/part-urls"): {"parts": [1]},
    ("POST", f"{MULTIPART}/{{upload_id}}/complete"): {
        "parts": [{"part_number": 1, "etag": "not-the-part"}]
    },
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str

    def request(
        self,
        world: World,
        headers: dict[str, str],
        collection_id: str,
        dataset_id: str,
        upload_id: str = "2c4e6a8b-1d3f-4a5b-9c7d-0e1f2a3b4c5d",
    ) -> httpx.Response:
        url = self.path.format(
            collection_id=collection_id, dataset_id=dataset_id, upload_id=upload_id
        )
        body = BODIES.get((self.method, self.path))
        if (self.method, self.path) == ("POST", "/_cellucid/viewers"):
            body = {"dataset_id": dataset_id}
        return httpx.request(
            self.method, world.api.base_url + url, json=body, headers=headers, timeout=30
        )


def protected_operations(base_url: str) -> list[Operation]:
    """Every operation of the served OpenAPI document under ``/curation/`` (but the token
    exchange) or declaring a security requirement: a new route is covered as it appears."""
    document = httpx.get(f"{base_url}/openapi.json").json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            curation = path.startswith("/curation/") and path != "/curation/v1/auth/token"
            if curation:
                assert operation.get("security") == [{"HTTPBearer": []}], (method, path)
            if curation or operation.get("security"):
                found.append(Operation(method.upper(), path))
    return found


def bad_credentials(world: World) -> dict[str, dict[str, str]]:
    """Authorization headers that must all be refused, by what is wrong with them."""
    secret = world.secret()
    now = int(utcnow().timestamp())
    claims = {"sub": FIRST_CURATOR, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    valid = world.api.token()
    header, payload, signature = valid.split(".")
    swapped = json.loads(base64.urlsafe_b64decode(payload + "=="))
    swapped_payload = base64.urlsafe_b64encode(json.dumps({**swapped, "sub": "curator-b"}).encode())
    clock_moved_back = Authenticator(
        world.stack.repository, secret, clock=lambda: utcnow() - timedelta(hours=2)
    )
    upload_token = world.stack.upload_urls.upload_url(
        f"{world.private.draft_id}/{world.private.draft_dataset_id}.h5ad",
        max_bytes=10,
        expires_in=600,
    )
    tokens = {
        "expired (issued two hours ago)": clock_moved_back.issue_token(FIRST_CURATOR),
        "expired a second ago": jwt.encode(
            {**claims, "iat": now - 601, "exp": now - 1}, secret, algorithm="HS256"
        ),
        "signed with another secret": jwt.encode(claims, "x" * 43, algorithm="HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "alg HS512 with the right secret": jwt.encode(claims, secret, algorithm="HS512"),
        "another audience": jwt.encode({**claims, "aud": "viewer"}, secret, algorithm="HS256"),
        "an upload URL's token": parse_qs(urlsplit(upload_token.url).query)["token"][0],
        "another issuer": jwt.encode({**claims, "iss": "evil"}, secret, algorithm="HS256"),
        "payload swapped, signature kept": f"{header}.{swapped_payload.decode().rstrip('=')}."
        + signature,
        "signature stripped": f"{header}.{payload}.",
        "not a JWT": "not.a.token",
    }
    headers = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
    headers["missing"] = {}
    headers["scheme only"] = {"Authorization": "Bearer"}
    headers["valid token, Basic scheme"] = {"Authorization": f"Basic {valid}"}
    headers["valid token, no scheme"] = {"Authorization": valid}
    headers["API key as bearer"] = {"Authorization": f"Bearer {world.stack.curator_key}"}
    return headers


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_every_protected_route_refuses_missing_expired_and_forged_tokens(world: World) -> None:
    operations = protected_operations(world.api.base_url)
    assert Operation("POST", "/_cellucid/viewers") in operations
    assert len([o for o in operations if o.path.startswith("/curation/")]) >= 12
    private = world.private
    before = state(world.stack)
    for operation in operations:
        for name, headers in bad_credentials(world).items():
            reply = operation.request(
                world, headers, private.draft_id, private.draft_dataset_version_id
            )
            assert reply.status_code == 401, (operation, name, reply.text)
            assert reply.headers["www-authenticate"] == "Bearer", (operation, name)
            assert reply.json()["status"] == 401
    assert state(world.stack) == before


def test_the_same_requests_with_a_valid_token_are_not_refused(world: World) -> None:
    """The battery above is not 401 by accident: the requests themselves are sound."""
    with world.api.client(FIRST_CURATOR) as curator:
        created = curator.post("/curation/v1/collections", json={"name": "Scratch", **CONTACT})
        cid = created.json()["collection_id"]
        did = curator.post(f"/curation/v1/collections/{cid}/datasets").json()["dataset_id"]
        started = curator.post(
            MULTIPART.format(collection_id=cid, dataset_id=did), json={"size": 10}
        )
        upload_id = started.json()["upload_id"]
    # Deletions last, the dataset's before its collection's.
    operations = sorted(
        protected_operations(world.api.base_url),
        key=lambda o: (o.method == "DELETE", -len(o.path)),
    )
    for operation in operations:
        target = world.api.seeded.dataset_id if operation.path == "/_cellucid/viewers" else did
        reply = operation.request(world, world.bearer(), cid, target, upload_id)
        assert reply.status_code not in (401, 403, 404), (operation, reply.text)


def test_another_curators_token_is_403_on_every_collection_route(world: World) -> None:
    private = world.private
    before = state(world.stack)
    for operation in protected_operations(world.api.base_url):
        if "{collection_id}" not in operation.path:
            continue
        reply = operation.request(
            world, world.bearer("curator-b"), private.draft_id, private.draft_dataset_id
        )
        assert reply.status_code == 403, (operation, reply.text)
    assert state(world.stack) == before


# -- private collections stay out of public answers ------------------------------------------


def test_private_ids_are_uuid4(world: World) -> None:
    for name, value in world.private.ids().items():
        parsed = uuid.UUID(value)
        assert str(parsed) == value, name
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122, name
    assert len(world.private.viewer_token) >= 43  # 256 bits, base64url


def public_walk(base_url: str, start: list[str], budget: int = 400) -> dict[str, bytes]:
    """GET every public path reachable from ``start``: each URL of this server and each id
    found in an answer is followed (as a collection, an explorer URL and an export)."""
    seen_ids: set[str] = set()
    queue = list(start)
    answers: dict[str, bytes] = {}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while queue:
            path = queue.pop(0)
            if path in answers:
                continue
            assert len(answers) < budget, "the walk did not end"
            reply = client.get(path)
            headers = "\n".join(f"{k}: {v}" for k, v in reply.headers.items())
            answers[path] = headers.encode() + b"\n\n" + reply.content
            if not reply.headers.get("content-type", "").startswith(("application/json", "text/")):
                continue
            text = reply.text
            for found in re.findall(re.escape(base_url) + r"(/[^\"'\s<>]*)", text):
                queue.append(found)
            for href in re.findall(r'href="(/[^"]*)"', text):
                queue.append(href)
            for found_id in set(UUID.findall(text)) - seen_ids:
                seen_ids.add(found_id)
                queue += [
                    f"/dp/v1/collections/{found_id}",
                    f"/dp/v1/datasets/meta?url={quote(f'/e/{found_id}/')}",
                    f"/dp/v1/meta/datasets?url={found_id}",
                    f"/exports/{found_id}/dataset_identity.json",
                ]
    return answers


def test_no_public_answer_names_a_private_collection_or_dataset(world: World) -> None:
    public = world.api.seeded
    answers = public_walk(
        world.api.base_url,
        [
            "/",
            "/datasets.json",
            "/_cellucid/datasets",
            "/_cellucid/health",
            "/_cellucid/info",
            "/openapi.json",
            "/docs",
            f"/e/{public.dataset_id}/",
            f"/dp/v1/collections/{public.collection_id}",
        ],
    )
    # The walk reached the public collection, its dataset's meta answer and its export.
    assert f"/dp/v1/collections/{public.collection_id}" in answers
    assert f"/dp/v1/datasets/meta?url={quote(f'/e/{public.dataset_id}/')}" in answers
    assert f"/exports/{public.dataset_version_id}/dataset_identity.json" in answers
    secrets = {**world.private.ids(), "viewer_token": world.private.viewer_token}
    for path, answer in answers.items():
        for name, value in secrets.items():
            assert value.encode() not in answer, f"{path} leaks {name}"
        assert b"Private heart atlas" not in answer, path
    listed = httpx.get(f"{world.api.base_url}/datasets.json").json()["datasets"]
    assert [d["id"] for d in listed] == [public.dataset_id]
    assert listed[0]["path"] == f"exports/{public.dataset_version_id}/"


def test_private_datasets_answer_only_their_own_ids(world: World) -> None:
    private, base = world.private, world.api.base_url

    def meta(url: str) -> httpx.Response:
        return httpx.get(f"{base}/dp/v1/datasets/meta", params={"url": url})

    own = meta(f"/e/{private.draft_dataset_version_id}/")
    assert own.status_code == 200 and own.json()["collection_visibility"] == "PRIVATE"
    assert meta(f"/e/{private.added_version_id}/").json()["collection_visibility"] == "PRIVATE"
    draft = httpx.get(f"{base}/dp/v1/collections/{private.draft_version_id}").json()
    assert draft["visibility"] == "PRIVATE"
    # A never-published collection's canonical id shows nothing of it.
    assert httpx.get(f"{base}/dp/v1/collections/{private.draft_id}").status_code == 404
    # Anything else, however close, is unknown.
    version = private.draft_dataset_version_id
    for guess in (
        "Heart",
        "Private heart atlas",
        version[:8],
        version[:-1],
        version[:-1] + ("0" if version[-1] != "0" else "1"),
        version.replace("-", ""),
        "*",
        "%",
    ):
        assert meta(f"/e/{guess}/").status_code in (404, 422), guess
        assert httpx.get(f"{base}/dp/v1/collections/{quote(guess)}").status_code == 404, guess
    # The public collection's own id shows the published version, never its open revision.
    public = httpx.get(f"{base}/dp/v1/collections/{world.api.seeded.collection_id}").json()
    assert public["collection_version_id"] != private.revision_id
    assert [d["dataset_version_id"] for d in public["datasets"]] == [
        world.api.seeded.dataset_version_id
    ]


def test_api_keys_are_stored_only_as_their_hash(world: World) -> None:
    key = world.stack.curator_key
    catalog = "\n".join(state(world.stack)[0])
    assert hashlib.sha256(key.encode()).hexdigest() in catalog
    assert key not in catalog
    assert key.removeprefix("ccak_") not in catalog


# -- CORS only where the Cellucid web app reads ------------------------------------------------

PUBLIC_READS = (
    "/dp/",
    "/datasets.json",
    "/_cellucid/health",
    "/_cellucid/info",
    "/_cellucid/datasets",
)


def test_cors_is_granted_to_public_reads_only(world: World) -> None:
    """Another origin may read exports and the catalog (no credentials are involved), never
    call curation, register viewers, post or follow events, or upload."""
    origin = {"Origin": "https://attacker.example"}
    preflight = {**origin, "Access-Control-Request-Method": "POST"}
    base, private = world.api.base_url, world.private
    document = httpx.get(f"{base}/openapi.json").json()
    paths = [*document["paths"], "/_cellucid/upload"]
    for path in paths:
        url = base + path.format(
            collection_id=private.draft_id,
            dataset_id=private.draft_dataset_id,
            request_id="r",
            upload_id="u",
        )
        public = path.startswith(PUBLIC_READS)
        for reply in (
            httpx.get(url, headers=origin),
            httpx.post(url, headers=origin),
            httpx.options(url, headers=preflight),
        ):
            granted = reply.headers.get("access-control-allow-origin")
            assert granted == ("*" if public else None), (path, reply.request.method)
            assert "access-control-allow-credentials" not in reply.headers, path
    export = f"{base}/exports/{world.api.seeded.dataset_version_id}/dataset_identity.json"
    assert httpx.get(export, headers=origin).headers["access-control-allow-origin"] == "*"


# -- traversal and Host-header attacks on the static paths -----------------------------------

TRAVERSALS = [
    "../../secret",
    "../../../../../../etc/passwd",
    "%2e%2e/%2e%2e/secret",
    "%2E%2E/%2E%2E/curator.key",
    ".%2e/.%2e/secret",
    "%252e%252e/%252e%252e/secret",
    "%252e%252e%252fsecret",
    "..%2f..%2fsecret",
    "..%2F..%2Fcatalog.sqlite3",
    "..%5c..%5csecret",
    "..%5C..%5Ccurator.key",
    "..\\..\\secret",
    "\\..\\..\\secret",
    "%00",
    "dataset_identity.json%00",
    "dataset_identity.json%00.png",
    "..%00/secret",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/secret",
    "./dataset_identity.json",
    "/../../secret",
    "index.html/..",
]


def static_prefixes(world: World) -> list[str]:
    return [
        f"/exports/{world.api.seeded.dataset_version_id}/",
        "/exports/",
        "/viewer/",
        f"/e/{world.api.seeded.dataset_id}/",
        "/e/",
        "/portal/",
        "/collections/",
    ]


def canaries(world: World) -> list[bytes]:
    """Bytes that only a traversal could serve: the stack's secrets, the catalog database,
    the system's password file, the viewer package's Python source."""
    data = world.stack.data_dir
    return [
        (data / "secret").read_bytes().strip(),
        (data / "curator.key").read_bytes().strip(),
        b"SQLite format 3",
        b"root:x:0:0",
        b"def viewer_routes",
        b"def portal_routes",
    ]


def test_traversal_is_refused_on_exports_viewer_and_explorer_paths(world: World) -> None:
    """Only a page may answer 200: the viewer under /e/, the collection page (or the index, for
    /collections/ itself) under /collections/."""
    pages = {
        "/e/": [(STATIC_DIR / "index.html").read_bytes()],
        "/collections/": [(PORTAL_DIR / n).read_bytes() for n in ("collection.html", "index.html")],
    }
    for prefix in static_prefixes(world):
        for attack in TRAVERSALS:
            target = prefix + attack
            status, reply = raw_get(world.api.base_url, target)
            head, _, body = reply.partition(b"\r\n\r\n")
            for canary in canaries(world):
                assert canary not in body, target
            if status == 200:  # only the viewer page, which every explorer URL gets
                allowed = [p for start, ps in pages.items() if prefix.startswith(start) for p in ps]
                assert body in allowed, target
            elif status == 308:
                location = re.search(rb"(?im)^location: (.*)$", head)
                assert location is not None, target
                assert_same_origin(world.api.base_url, target, location.group(1).decode().strip())
            else:
                assert status in (400, 404), (target, reply[:300])


def assert_same_origin(base_url: str, target: str, location: str) -> None:
    assert "\\" not in location and not location.startswith(("/", "//")), location
    resolved = urlsplit(urljoin(base_url + target, location))
    assert (resolved.scheme, resolved.netloc) == tuple(urlsplit(base_url)[:2]), location


@pytest.mark.parametrize(
    "segment", ["\\\\evil.example", "%5C%5Cevil.example", "%2F%2Fevil.example", "/evil.example"]
)
def test_the_explorer_redirect_stays_on_this_origin(world: World, segment: str) -> None:
    status, reply = raw_get(world.api.base_url, f"/e/{segment}")
    location = re.search(rb"(?im)^location: (.*)$", reply)
    if status == 308:
        assert location is not None
        assert_same_origin(world.api.base_url, f"/e/{segment}", location.group(1).decode().strip())
    else:
        assert status in (400, 404) and location is None, reply[:300]


HOSTILE_HOSTS = [
    "evil.example",
    "evil.example:{port}",
    "127.0.0.1.evil.example",
    "localhost.evil.example:{port}",
    "localhost.",
    "10.0.0.1",
    "192.168.1.5:{port}",
    "[fe80::1]",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "0x7f.1",
    "",
]


def test_other_host_names_are_421_on_every_kind_of_path(world: World) -> None:
    base, seeded = world.api.base_url, world.api.seeded
    port = base.rsplit(":", 1)[1]
    paths = [
        "/",
        "/datasets.json",
        f"/dp/v1/datasets/meta?url={seeded.dataset_id}",
        "/curation/v1/collections",
        "/_cellucid/health",
        f"/exports/{seeded.dataset_version_id}/dataset_identity.json",
        "/viewer/index.html",
        f"/e/{seeded.dataset_id}/",
        "/docs",
    ]
    for path in paths:
        for host in ("127.0.0.1", f"127.0.0.1:{port}", "localhost", f"[::1]:{port}"):
            status, _ = raw_get(base, path, host=host)
            assert status in (200, 401), (path, host, status)
        for host in HOSTILE_HOSTS:
            status, reply = raw_get(base, path, host=host.format(port=port))
            assert status == 421, (path, host, reply[:300])
            assert b"DNS-rebinding" in reply
    # Without a Host header, or with two, nothing is served either.
    status, _ = raw_request(base, b"GET /datasets.json HTTP/1.0")
    assert status == 421
    status, _ = raw_request(base, b"GET /datasets.json HTTP/1.1")
    assert status == 400
    for first, second in (("127.0.0.1", "evil.example"), ("evil.example", "127.0.0.1")):
        status, _ = raw_request(
            base, f"GET /datasets.json HTTP/1.1\r\nHost: {first}\r\nHost: {second}".encode()
        )
        assert status == 400, (first, second)


def wait_until_serving(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "the server exited"
        try:
            httpx.get(f"{base_url}/_cellucid/health", timeout=1)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


def assert_ip_literals_only(base_url: str) -> None:
    for host in ("192.168.1.5", "192.168.1.5:8765", "[fe80::1]:80", "10.0.0.1"):
        assert raw_get(base_url, "/_cellucid/health", host=host)[0] == 200, host
    for host in ("rebind.example", "rebind.example:8765", "localhost.rebind.example"):
        assert raw_get(base_url, "/_cellucid/health", host=host)[0] == 421, host


def listening(pid: int) -> set[str]:
    return {
        c.laddr.ip
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }


def test_up_and_serve_listen_on_loopback_only_by_default(tmp_path: Path, world: World) -> None:
    with running_up(tmp_path / "up") as up:
        assert listening(up.process.pid) == {"127.0.0.1"}
    export = world.stack.data_dir / "exports" / world.api.seeded.dataset_version_id
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "cellucid_cloud.cli", "serve", str(export), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", serve)
        assert listening(serve.pid) == {"127.0.0.1"}
    finally:
        serve.terminate()
        serve.wait(30)


def test_a_wildcard_bind_admits_ip_literal_hosts_but_no_other_names(
    tmp_path: Path, world: World
) -> None:
    """``up --host 0.0.0.0`` and ``serve --host 0.0.0.0``: reachable by address, not by a
    rebinding name; bound to loopback (the default), an address is refused too."""
    assert raw_get(world.api.base_url, "/_cellucid/health", host="192.168.1.5")[0] == 421
    with running_up(tmp_path / "up", "--host", "0.0.0.0") as up:
        assert_ip_literals_only(up.base_url)
    export = world.stack.data_dir / "exports" / world.api.seeded.dataset_version_id
    port = free_port()
    wildcard = ["--host", "0.0.0.0", "--port", str(port)]
    serve = subprocess.Popen(
        [sys.executable, "-m", "cellucid_cloud.cli", "serve", str(export), *wildcard],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", serve)
        assert_ip_literals_only(f"http://127.0.0.1:{port}")
        assert httpx.get(f"http://127.0.0.1:{port}/dataset_identity.json").status_code == 200
    finally:
        serve.terminate()
        serve.wait(30)


# -- link ingestion --------------------------------------------------------------------------


class _Redirecting(BaseHTTPRequestHandler):
    """``/to?<url>`` redirects to ``<url>``; anything else is ``body``. Records the ``Host``
    header of every request it gets."""

    body = b"file"
    hosts: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hosts.append(self.headers.get("Host", ""))
        path, _, target = self.path.partition("?")
        if path == "/to":
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Internal(_Redirecting):
    body = b"internal secret"
    hosts: ClassVar[list[str]] = []


@pytest.fixture
def public_file_server(monkeypatch: pytest.MonkeyPatch) -> None:
    file_server_is_public(monkeypatch)


@pytest.mark.usefixtures("public_file_server")
def test_every_redirect_hop_of_a_link_is_checked_again(tmp_path: Path) -> None:
    """A redirect from the (public) file server to loopback or to the cloud metadata address
    is refused before anything is fetched from there."""
    with serving(_Redirecting, FILE_SERVER) as port:
        base = f"http://{FILE_SERVER}:{port}"
        target = tmp_path / "fetched.h5ad"
        assert link_fetch.fetch_link(f"{base}/to?{base}/f", target, max_bytes=100) == 4
        for inside in (f"http://localhost:{port}/f", "http://169.254.169.254/latest/meta-data/"):
            target = tmp_path / "refused.h5ad"
            with pytest.raises(link_fetch.LinkError, match="non-public address"):
                link_fetch.fetch_link(f"{base}/to?{inside}", target, max_bytes=100)
            assert not target.exists()
        with pytest.raises(link_fetch.LinkError, match="larger than 3 bytes"):
            link_fetch.fetch_link(f"{base}/f", tmp_path / "big.h5ad", max_bytes=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fetched.h5ad"]


@pytest.mark.usefixtures("public_file_server")
def test_a_link_is_fetched_from_the_address_that_was_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: ``files.test`` resolves to the public file server when the link is
    checked and to an internal server on the same port ever after. The download comes from
    the checked address, with the link's host in ``Host``; the internal server hears
    nothing."""
    real = socket.getaddrinfo
    answers = iter([FILE_SERVER])

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "files.test":
            return real(next(answers, "127.0.0.1"), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    _Redirecting.hosts, _Internal.hosts = [], []
    with serving(_Redirecting, FILE_SERVER) as port, serving(_Internal, "127.0.0.1", port):
        target = tmp_path / "fetched.h5ad"
        assert link_fetch.fetch_link(f"http://files.test:{port}/f", target, max_bytes=100) == 4
    assert target.read_bytes() == b"file"
    assert _Redirecting.hosts == [f"files.test:{port}"]
    assert _Internal.hosts == []


# -- viewer tokens ---------------------------------------------------------------------------


def test_viewer_tokens_are_compared_in_constant_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, base = world.private, world.api.base_url
    stored = hashlib.sha256(private.viewer_token.encode()).hexdigest()
    calls: list[tuple[Any, Any]] = []
    original = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    same_length = "A" * len(private.viewer_token)
    assert same_length != private.viewer_token
    for wrong in (same_length, "A", "A" * 199, private.viewer_token[:-1]):
        calls.clear()
        creds = {"viewerId": private.viewer_id, "viewerToken": wrong}
        replies = [
            httpx.post(
                f"{base}/_cellucid/events", json={"type": "pong", "requestId": "r", "t": 1, **creds}
            ),
            httpx.get(f"{base}/_cellucid/events", params=creds),
            httpx.post(
                f"{base}/_cellucid/selection",
                params={**creds, "source": "lasso"},
                content=b"\x01\x00\x00\x00",
                headers={"Content-Type": "application/octet-stream"},
            ),
            httpx.get(f"{base}/_cellucid/session_bundles", params=creds),
        ]
        assert [r.status_code for r in replies] == [403] * 4, [r.text for r in replies]
        wrong_hash = hashlib.sha256(wrong.encode()).hexdigest()
        assert calls.count((stored, wrong_hash)) == 4, calls
    calls.clear()
    right = {"viewerId": private.viewer_id, "viewerToken": private.viewer_token}
    assert httpx.get(f"{base}/_cellucid/events", params=right).status_code == 200
    assert (stored, stored) in calls
    with closing(sqlite3.connect(world.stack.data_dir / "events.sqlite3")) as db:
        rows = repr(db.execute("SELECT * FROM viewers").fetchall())
    assert stored in rows and private.viewer_token not in rows


def test_curator_tokens_live_one_hour_on_the_servers_clock(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with world.api.client() as anonymous:
        key = world.stack.auth.create_api_key(FIRST_CURATOR, "lifetime")
        reply = anonymous.post("/curation/v1/auth/token", headers={"x-api-key": key})
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == reply.json()["expires_in"] == 3600
    issued = datetime.fromtimestamp(claims["iat"], UTC)
    route = f"{world.api.base_url}/curation/v1/collections"
    bearer = {"Authorization": f"Bearer {token}"}
    for age, status in ((3599, 200), (3600, 401)):
        at = issued + timedelta(seconds=age)
        monkeypatch.setattr(world.stack.auth, "clock", lambda at=at: at)
        assert httpx.get(route, headers=bearer).status_code == status, age


def test_viewers_live_24_hours_by_default_and_7_days_at_most(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/security.md: viewers expire (24 h default, at most 7 days), on the server's clock."""
    now = 1_900_000_000.0
    clock = [now]
    monkeypatch.setattr(world.stack.events, "clock", lambda: clock[0])
    dataset = world.api.seeded.dataset_id

    def register(**ttl: int) -> httpx.Response:
        with world.api.client(FIRST_CURATOR) as curator:
            return curator.post("/_cellucid/viewers", json={"dataset_id": dataset, **ttl})

    def lives_until(reply: httpx.Response) -> float:
        assert reply.status_code == 201, reply.text
        return datetime.fromisoformat(reply.json()["expires_at"]).timestamp() - now

    assert lives_until(register()) == 24 * 3600
    assert lives_until(register(ttl_seconds=7 * 24 * 3600)) == 7 * 24 * 3600
    assert lives_until(register(ttl_seconds=60)) == 60
    for refused in (7 * 24 * 3600 + 1, 59):
        reply = register(ttl_seconds=refused)
        assert reply.status_code == 422, (refused, reply.text)
        assert "ttl must be between 60 and 604800 seconds" in reply.text
    viewer = register().json()
    creds = {"viewerId": viewer["viewerId"], "viewerToken": viewer["viewerToken"]}
    for age, status in ((24 * 3600 - 1, 200), (24 * 3600, 404)):
        clock[0] = now + age
        reply = httpx.get(f"{world.api.base_url}/_cellucid/events", params=creds)
        assert reply.status_code == status, (age, reply.text)


def bundle_of(size: int) -> bytes:
    """A valid session bundle of exactly ``size`` bytes (one stored binary chunk)."""
    guess = make_bundle(2, chunks=[("c/1", bytes(size - 1000), "none")])
    exact = make_bundle(2, chunks=[("c/1", bytes(size - 1000 + size - len(guess)), "none")])
    assert len(exact) == size
    return exact


def new_viewer(world: World) -> dict[str, str]:
    """A viewer of the 40-cell draft dataset of its own: tests that move the events clock may
    have expired (and swept) the world's viewer."""
    with world.api.client(FIRST_CURATOR) as curator:
        reply = curator.post(
            "/_cellucid/viewers", json={"dataset_id": world.private.draft_dataset_version_id}
        )
    assert reply.status_code == 201, reply.text
    return {"viewerId": reply.json()["viewerId"], "viewerToken": reply.json()["viewerToken"]}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_viewer_posts_are_capped_at_the_limit(world: World, chunked: bool) -> None:
    """An event of exactly 1 MiB, a selection of every cell (4 bytes each) and a bundle of
    exactly the direct limit (4.5 MB) are taken; one byte (one cell) more is a 413, declared
    or streamed."""
    base, creds = world.api.base_url, new_viewer(world)
    n_cells = 40
    event = json.dumps({"type": "pong", "requestId": "r", "t": 1, **creds}).encode()
    cases = [
        ("/_cellucid/events", {}, "application/json", event + b" " * (MiB - len(event)), 1),
        ("/_cellucid/selection", {"source": "lasso"}, None, struct.pack("<40I", *range(40)), 4),
        (
            "/_cellucid/session_bundle",
            {"requestId": "b"},
            None,
            bundle_of(MAX_DIRECT_BUNDLE_BYTES),
            1,
        ),
    ]
    assert n_cells * 4 == len(cases[1][3])
    for path, params, media, body, step in cases:
        query = params if path.endswith("events") else {**params, **creds}
        headers = {"Content-Type": media or "application/octet-stream"}
        for content, status in ((body + b" " * step, 413), (body, 200)):
            halves = [content[: len(content) // 2], content[len(content) // 2 :]]
            reply = httpx.post(
                f"{base}{path}",
                params=query,
                content=iter(halves) if chunked else content,
                headers=headers,
            )
            assert reply.status_code == status, (path, len(content), reply.text)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_binary_viewer_posts_over_the_limit_are_refused_before_the_rest_arrives(
    world: World, chunked: bool
) -> None:
    """A selection or bundle one byte over its limit, by its declared length alone or by the
    bytes streamed so far (a chunked body never finished), is a 413 at once: the route does
    not read on."""
    creds = "&".join(f"{k}={v}" for k, v in new_viewer(world).items())
    for path, cap in (
        ("/_cellucid/selection?source=lasso&", 160),
        ("/_cellucid/session_bundle?requestId=r&", MAX_DIRECT_BUNDLE_BYTES),
    ):
        head = (
            f"POST {path}{creds} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/octet-stream\r\n"
        ).encode()
        if chunked:
            head += b"Transfer-Encoding: chunked"
            body = b"%x\r\n%s\r\n" % (cap + 1, b"\x00" * (cap + 1))
        else:
            head += b"Content-Length: %d" % (cap + 1)
            body = b""
        status, reply = raw_request_unfinished(world.api.base_url, head, body)
        assert status == 413, (path, reply[:300])


# -- upload URLs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadTargets:
    url: str
    token: str
    key: str
    other_key: str


@pytest.fixture
def targets(world: World) -> UploadTargets:
    with world.api.client(FIRST_CURATOR) as curator:
        cid = curator.post("/curation/v1/collections", json={"name": "Uploads", **CONTACT}).json()[
            "collection_id"
        ]
        a = curator.post(f"/curation/v1/collections/{cid}/datasets").json()["dataset_id"]
        b = curator.post(f"/curation/v1/collections/{cid}/datasets").json()["dataset_id"]
        grant = curator.post(f"/curation/v1/collections/{cid}/datasets/{a}/upload-url")
    assert grant.status_code == 200, grant.text
    url = grant.json()["url"]
    token = parse_qs(urlsplit(url).query)["token"][0]
    return UploadTargets(url, token, grant.json()["key"], f"{cid}/{b}.h5ad")


def uploaded(world: World) -> list[str]:
    root = world.stack.data_dir / "uploads"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def put(world: World, token: str, content: Any, path: str = "/_cellucid/upload") -> httpx.Response:
    return httpx.put(
        f"{world.api.base_url}{path}",
        params={"token": token},
        content=content,
        headers={"Content-Type": "application/octet-stream"},
    )


def test_an_upload_token_writes_its_own_key_and_no_other(
    world: World, targets: UploadTargets
) -> None:
    header, payload, signature = targets.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["key"] == targets.key and claims["aud"] == UPLOAD_AUDIENCE
    before = uploaded(world)

    def forged(changes: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps({**claims, **changes}).encode())
        return f"{header}.{body.decode().rstrip('=')}.{signature}"

    secret = world.secret()
    refused = {
        "key changed, signature kept": forged({"key": targets.other_key}),
        "cap raised, signature kept": forged({"max": 10**12}),
        "expiry moved, signature kept": forged({"exp": claims["exp"] + 86400}),
        "signed with another secret": jwt.encode(
            {**claims, "key": targets.other_key}, "x" * 43, algorithm="HS256"
        ),
        "alg none": jwt.encode({**claims, "key": targets.other_key}, None, algorithm="none"),
        "a curator's bearer token": world.api.token(),
        "a key outside the uploads folder": jwt.encode(
            {**claims, "key": "../secret"}, secret, algorithm="HS256"
        ),
        "an absolute key": jwt.encode(
            {**claims, "key": str(world.stack.data_dir / "secret")}, secret, algorithm="HS256"
        ),
        "empty": "",
    }
    for name, token in refused.items():
        reply = put(world, token, b"PAYLOAD")
        assert reply.status_code == 403, (name, reply.text)
    assert uploaded(world) == before
    assert b"PAYLOAD" not in (world.stack.data_dir / "secret").read_bytes()
    # Other paths and extra parameters cannot redirect a genuine token.
    for path in (
        f"/_cellucid/upload/{targets.other_key}",
        f"/_cellucid/upload/..%2F{quote(targets.other_key, safe='')}",
        f"/_cellucid/upload%2F..%2Fuploads%2F{quote(targets.other_key, safe='')}",
    ):
        assert put(world, targets.token, b"PAYLOAD", path).status_code in (404, 405), path
    assert uploaded(world) == before
    extra = f"&key={quote(targets.other_key)}&path={quote(targets.other_key)}"
    assert httpx.put(targets.url + extra + "&token=", content=b"PAYLOAD").status_code == 403
    assert httpx.put(targets.url + extra, content=b"PAYLOAD").status_code == 200
    assert uploaded(world) == sorted([*before, targets.key])
    assert world.stack.uploads.path(targets.key).read_bytes() == b"PAYLOAD"


def test_upload_urls_expire_within_15_minutes(world: World, targets: UploadTargets) -> None:
    claims = jwt.decode(targets.token, options={"verify_signature": False})
    assert 0 < claims["exp"] - claims["iat"] <= 900
    assert claims["exp"] <= time.time() + 900
    signer = world.stack.upload_urls
    asked_for_a_day = signer.upload_url(targets.key, max_bytes=10, expires_in=86400)
    assert asked_for_a_day.expires_in == 900
    long_claims = jwt.decode(
        parse_qs(urlsplit(asked_for_a_day.url).query)["token"][0],
        options={"verify_signature": False},
    )
    assert long_claims["exp"] - long_claims["iat"] == 900
    past = LocalUploadUrls(world.api.base_url, world.secret(), clock=lambda: time.time() - 901)
    expired = past.upload_url(targets.key, max_bytes=10**6, expires_in=900)
    before = uploaded(world)
    reply = httpx.put(expired.url, content=b"late")
    assert reply.status_code == 403 and "expired" in reply.json()["detail"]
    assert uploaded(world) == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_the_upload_cap_is_enforced_at_the_limit(
    world: World, targets: UploadTargets, chunked: bool
) -> None:
    """One byte over the cap → 413 and nothing kept, whether the length is declared or the
    body streams (counted as it arrives); exactly the cap is written."""
    grant = world.stack.upload_urls.upload_url(targets.key, max_bytes=1024, expires_in=60)
    token = parse_qs(urlsplit(grant.url).query)["token"][0]
    before = uploaded(world)

    def body(size: int) -> Any:
        if not chunked:
            return b"x" * size
        return iter([b"x" * 512, b"x" * 512, b"x" * (size - 1024)])

    refused = put(world, token, body(1025))
    assert refused.status_code == 413, refused.text
    assert refused.json()["detail"] == "the upload is limited to 1024 bytes"
    assert uploaded(world) == before
    assert not list((world.stack.data_dir / "uploads").rglob(".incoming-*"))
    assert put(world, token, body(1024)).status_code == 200
    assert world.stack.uploads.path(targets.key).stat().st_size == 1024


def test_an_over_cap_upload_is_refused_before_its_body_is_sent(
    world: World, targets: UploadTargets
) -> None:
    """The declared length alone gets the 413 (the socket would time out after 5 s if the
    route waited for the body)."""
    grant = world.stack.upload_urls.upload_url(targets.key, max_bytes=1024, expires_in=60)
    path = urlsplit(grant.url)
    status, reply = raw_request(
        world.api.base_url,
        f"PUT {path.path}?{path.query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 1025".encode(),
    )
    assert status == 413, reply


def test_an_upload_url_works_until_its_last_second_on_the_servers_clock(
    world: World, targets: UploadTargets, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = world.stack.upload_urls
    issued = 1_900_000_000
    monkeypatch.setattr(signer, "clock", lambda: issued)
    grant = signer.upload_url(targets.key, max_bytes=100, expires_in=900)
    before = uploaded(world)
    monkeypatch.setattr(signer, "clock", lambda: issued + 900)
    late = httpx.put(grant.url, content=b"late")
    assert late.status_code == 403 and "expired" in late.json()["detail"]
    assert uploaded(world) == before
    monkeypatch.setattr(signer, "clock", lambda: issued + 899)
    assert httpx.put(grant.url, content=b"in time").status_code == 200
    assert world.stack.uploads.path(targets.key).read_bytes() == b"in time"
