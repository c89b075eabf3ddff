"""Hostile and careless requests against the real API over HTTP: every one gets a 4xx with a
JSON message (never a 5xx), credentials are checked, curators are kept apart, and a publish
race has exactly one winner."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest

from cellucid_cloud.api.auth import AUDIENCE, ISSUER, Authenticator
from cellucid_cloud.catalog.models import utcnow
from cellucid_cloud.local.stack import FIRST_CURATOR
from tests.api_server import CONTACT, SeededApi, seeded_api

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededApi]:
    with seeded_api(tmp_path_factory.mktemp("robustness")) as served:
        yield served


@pytest.fixture
def curator(api: SeededApi) -> Iterator[httpx.Client]:
    with api.client(FIRST_CURATOR) as client:
        yield client


def error_detail(reply: httpx.Response, *statuses: int) -> str:
    """The JSON error message, after checking the status is one of ``statuses``."""
    assert reply.status_code in statuses, (reply.status_code, reply.text)
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["status"] == reply.status_code
    assert isinstance(body["detail"], str) and body["detail"]
    return str(body["detail"])


def new_collection(client: httpx.Client) -> str:
    reply = client.post("/curation/v1/collections", json={"name": "Scratch", **CONTACT})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["collection_id"])


# -- request bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"name": "x", ', b"{'name': 'x'}", b"[1, 2", b"nul", b'{"name": "x"} trailing'],
)
def test_malformed_json_is_a_422_saying_so(curator: httpx.Client, body: bytes) -> None:
    reply = curator.post(
        "/curation/v1/collections", content=body, headers={"Content-Type": "application/json"}
    )
    assert "malformed JSON body" in error_detail(reply, 422)


def test_a_body_that_is_not_utf8_is_a_400(curator: httpx.Client) -> None:
    reply = curator.post(
        "/curation/v1/collections",
        content=b'{"name": "\xff\xfe"}',
        headers={"Content-Type": "application/json"},
    )
    error_detail(reply, 400)


def test_unknown_fields_are_a_422_naming_the_field(api: SeededApi, curator: httpx.Client) -> None:
    reply = curator.post(
        "/curation/v1/collections", json={"name": "Lung", "contact_nmae": "Ada", **CONTACT}
    )
    assert "contact_nmae" in error_detail(reply, 422)
    reply = curator.patch(
        f"/curation/v1/collections/{new_collection(curator)}", json={"titel": "Lung"}
    )
    assert "titel" in error_detail(reply, 422)


def test_explicit_nulls_are_refused(curator: httpx.Client) -> None:
    reply = curator.patch(
        f"/curation/v1/collections/{new_collection(curator)}", json={"name": None}
    )
    assert "null" in error_detail(reply, 422)


def test_oversized_body_with_content_length_is_a_413(curator: httpx.Client) -> None:
    body = json.dumps({"name": "x", "description": "d" * (MiB + 10), **CONTACT}).encode()
    reply = curator.post(
        "/curation/v1/collections", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.request.headers["content-length"] == str(len(body))
    error_detail(reply, 413)


def test_oversized_chunked_body_is_a_413(curator: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "x", "description": "'
        for _ in range(17):
            yield b"d" * (64 * 1024)
        yield b'"}'

    reply = curator.post(
        "/curation/v1/collections", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in reply.request.headers
    assert reply.request.headers["transfer-encoding"] == "chunked"
    error_detail(reply, 413)


def test_a_body_just_under_the_limit_is_read(curator: httpx.Client) -> None:
    reply = curator.post(
        "/curation/v1/collections",
        json={"name": "x", "description": "d" * 19_000, **CONTACT},
    )
    assert reply.status_code == 201, reply.text


# -- ids in paths and the meta url ---------------------------------------------------------------


@pytest.mark.parametrize(
    "collection_id",
    [
        "no-such-collection",
        "..%2F..%2Fetc",
        "a%00b",
        "%E2%98%83",
        "a" * 65,
        "%2e%2e",
        "id%0Awith-newline",
        "x%20y",
    ],
)
def test_bad_collection_ids_are_4xx(
    api: SeededApi, curator: httpx.Client, collection_id: str
) -> None:
    for reply in (
        curator.get(f"/curation/v1/collections/{collection_id}"),
        curator.post(f"/curation/v1/collections/{collection_id}/publish"),
        curator.get(f"/curation/v1/collections/{collection_id}/datasets/{collection_id}"),
        curator.delete(
            f"/curation/v1/collections/{api.seeded.collection_id}/datasets/{collection_id}"
        ),
        httpx.get(f"{api.base_url}/dp/v1/collections/{collection_id}"),
    ):
        error_detail(reply, 400, 403, 404, 409, 422)


@pytest.mark.parametrize(
    "url",
    [
        "/e/..%2F..%2Fetc%2Fpasswd/",
        "/e/abc%2Fdef/",
        "/e/abc%00/",
        "/e/%00",
        "/e/abc%252Fdef/",
        "/e/%2565%2578/",
        "/e/%25%32%46/",
        "/e/%/",
        "/e/%zz/",
        "/e/ünïcödé/",
        "/e/%C3%BC/",
        "/e/\U0001f9ec/",
        "/e/" + "a" * 5000 + "/",
        "https://host/e/" + "%2F" * 1000,
        "\x00",
        " ",
        "//",
        "https://user:pass@host:99999/e/x/",
        "javascript:alert(1)",
        "/e/%ff%fe/",
    ],
)
def test_odd_meta_urls_are_4xx_json(api: SeededApi, url: str) -> None:
    reply = httpx.get(f"{api.base_url}/dp/v1/datasets/meta", params={"url": url})
    error_detail(reply, 404, 422)


def test_odd_raw_query_strings_are_4xx_json(api: SeededApi) -> None:
    for query in ("url=%ff%fe", "url=%", "url=%zz", "url", "url=a&url=b", "url=%00%00"):
        reply = httpx.get(f"{api.base_url}/dp/v1/datasets/meta?{query}")
        error_detail(reply, 404, 422)


def test_the_seeded_dataset_resolves_through_encodings(api: SeededApi) -> None:
    """The negative cases above are not passing merely because nothing resolves."""
    dataset_id = api.seeded.dataset_id
    for url in (f"/e/{dataset_id}/", f"https://x/e/{dataset_id}.cxg", dataset_id):
        reply = httpx.get(f"{api.base_url}/dp/v1/datasets/meta", params={"url": url})
        assert reply.status_code == 200, reply.text
        assert reply.json()["dataset_version_id"] == api.seeded.dataset_version_id


def test_a_wrong_method_is_405_listing_every_method_of_the_path(api: SeededApi) -> None:
    reply = httpx.request("OPTIONS", f"{api.base_url}/curation/v1/collections")
    error_detail(reply, 405)
    assert reply.headers["allow"] == "GET, POST"
    reply = httpx.put(f"{api.base_url}/curation/v1/collections/{api.seeded.collection_id}")
    error_detail(reply, 405)
    assert reply.headers["allow"] == "DELETE, GET, PATCH"


# -- authentication and ownership ----------------------------------------------------------------


def signing_secret(api: SeededApi) -> str:
    return (api.stack.data_dir / "secret").read_text().strip()


def forged_tokens(api: SeededApi) -> dict[str, str]:
    now = int(utcnow().timestamp())
    claims = {"sub": FIRST_CURATOR, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    header, _, signature = api.token().split(".")
    swapped = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "x"}).encode()).rstrip(b"=")
    expired_clock = Authenticator(
        api.stack.repository, signing_secret(api), clock=lambda: utcnow() - timedelta(hours=2)
    )
    return {
        "expired": expired_clock.issue_token(FIRST_CURATOR),
        "other secret": jwt.encode(claims, "s" * 40, algorithm="HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "payload swapped": f"{header}.{swapped.decode()}.{signature}",
        "wrong audience": jwt.encode({**claims, "aud": "x"}, signing_secret(api), "HS256"),
        "no expiry": jwt.encode(
            {k: v for k, v in claims.items() if k != "exp"}, signing_secret(api), "HS256"
        ),
        "garbage": "not.a.token",
    }


def test_curation_without_a_token_is_401(api: SeededApi) -> None:
    cid = api.seeded.collection_id
    with api.client() as anonymous:
        for reply in (
            anonymous.get("/curation/v1/collections"),
            anonymous.post("/curation/v1/collections", json={"name": "x", **CONTACT}),
            anonymous.get(f"/curation/v1/collections/{cid}"),
            anonymous.post(f"/curation/v1/collections/{cid}/publish"),
            anonymous.get("/curation/v1/collections", headers={"Authorization": "Basic eDp5"}),
            anonymous.post("/curation/v1/auth/token"),
            anonymous.post("/curation/v1/auth/token", headers={"x-api-key": "ccak_nope"}),
        ):
            error_detail(reply, 401)


def test_expired_and_forged_tokens_are_401(api: SeededApi) -> None:
    for name, token in forged_tokens(api).items():
        reply = httpx.get(
            f"{api.base_url}/curation/v1/collections/{api.seeded.collection_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reply.status_code == 401, name
        error_detail(reply, 401)
        assert reply.headers["www-authenticate"] == "Bearer"


def test_another_curators_collection_is_403(api: SeededApi) -> None:
    key = api.stack.auth.create_api_key("curator-b")
    with api.client() as anonymous:
        token = anonymous.post("/curation/v1/auth/token", headers={"x-api-key": key})
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    cid, did = api.seeded.collection_id, api.seeded.dataset_id
    with httpx.Client(base_url=api.base_url, headers=headers, timeout=30) as b:
        assert b.get("/curation/v1/collections").json() == []
        for reply in (
            b.get(f"/curation/v1/collections/{cid}"),
            b.patch(f"/curation/v1/collections/{cid}", json={"name": "Mine now"}),
            b.delete(f"/curation/v1/collections/{cid}"),
            b.post(f"/curation/v1/collections/{cid}/revision"),
            b.post(f"/curation/v1/collections/{cid}/publish"),
            b.post(f"/curation/v1/collections/{cid}/datasets", json={"name": "x"}),
            b.get(f"/curation/v1/collections/{cid}/datasets/{did}"),
            b.delete(f"/curation/v1/collections/{cid}/datasets/{did}"),
            b.post(f"/curation/v1/collections/{cid}/datasets/{did}/upload-url"),
        ):
            error_detail(reply, 403)
    unchanged = httpx.get(f"{api.base_url}/dp/v1/collections/{cid}").json()
    assert unchanged["name"] == "Seeded lung atlas"
    assert [d["dataset_id"] for d in unchanged["datasets"]] == [did]


# -- races -----------------------------------------------------------------------------------


def test_two_concurrent_publishes_of_one_revision_one_wins(api: SeededApi, tmp_path: Path) -> None:
    with api.client(FIRST_CURATOR) as curator:
        revision = curator.post(f"/curation/v1/collections/{api.seeded.collection_id}/revision")
        assert revision.status_code == 201, revision.text
    rid = revision.json()["collection_id"]
    start = threading.Barrier(2)
    replies: list[httpx.Response] = []

    def publish() -> None:
        with api.client(FIRST_CURATOR) as client:
            client.get("/_cellucid/health")  # connect before the barrier
            start.wait()
            replies.append(client.post(f"/curation/v1/collections/{rid}/publish"))

    threads = [threading.Thread(target=publish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.status_code for r in replies) == [200, 409], [r.text for r in replies]
    loser = next(r for r in replies if r.status_code == 409)
    error_detail(loser, 409)
    winner = next(r for r in replies if r.status_code == 200).json()
    assert winner["collection_version_id"] == rid
    public = httpx.get(f"{api.base_url}/dp/v1/collections/{api.seeded.collection_id}").json()
    assert public["collection_version_id"] == rid
