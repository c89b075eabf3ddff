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
from typing import Any

import httpx
import jwt
import pytest

from cellucid_cloud.api.auth import AUDIENCE, ISSUER, Authenticator
from cellucid_cloud.catalog.models import CollectionMetadata, utcnow
from cellucid_cloud.local.stack import FIRST_CURATOR
from tests.api_server import CONTACT, SeededApi, seeded_api
from tests.export_data import make_adata
from tests.raw_http import raw_request

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


def test_an_oversized_declared_length_is_refused_before_the_body_is_sent(api: SeededApi) -> None:
    """The 413 answers the headers alone: the server does not wait for a body it will refuse
    (the socket would time out after 5 s if it did)."""
    status, reply = raw_request(
        api.base_url,
        b"POST /curation/v1/collections HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d" % (MiB + 1),
    )
    assert status == 413, reply
    assert f"request body larger than {MiB} bytes".encode() in reply


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


def padded_to(size: int) -> bytes:
    """A valid collection as JSON of exactly ``size`` bytes (trailing whitespace is JSON)."""
    body = json.dumps({"name": "x", **CONTACT}).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


def in_chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_a_413(
    curator: httpx.Client, chunked: bool
) -> None:
    headers = {"Content-Type": "application/json"}
    for size, status in ((MiB, 201), (MiB + 1, 413)):
        body = padded_to(size)
        content = in_chunks(body) if chunked else body
        reply = curator.post("/curation/v1/collections", content=content, headers=headers)
        assert ("content-length" in reply.request.headers) is not chunked
        if status == 413:
            assert error_detail(reply, 413) == f"request body larger than {MiB} bytes"
        else:
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


NAMES_NO_ID = 422
UNKNOWN_ID = 404


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/e/..%2F..%2Fetc%2Fpasswd/", NAMES_NO_ID),  # decodes to a path, not an id
        ("/e/abc%2Fdef/", NAMES_NO_ID),
        ("/e/abc%00/", NAMES_NO_ID),
        ("/e/%00", NAMES_NO_ID),
        ("/e/abc%252Fdef/", NAMES_NO_ID),  # decoded once: "abc%2Fdef"
        ("/e/%2565%2578/", NAMES_NO_ID),
        ("/e/%25%32%46/", NAMES_NO_ID),
        ("/e/%/", NAMES_NO_ID),
        ("/e/%zz/", NAMES_NO_ID),
        ("/e/ünïcödé/", NAMES_NO_ID),  # ids are ASCII letters, digits and ._~-
        ("/e/%C3%BC/", NAMES_NO_ID),
        ("/e/\U0001f9ec/", NAMES_NO_ID),
        ("/e/" + "a" * 5000 + "/", NAMES_NO_ID),  # longer than a URL may be
        ("https://host/e/" + "%2F" * 1000, NAMES_NO_ID),
        ("\x00", NAMES_NO_ID),
        (" ", NAMES_NO_ID),
        ("//", NAMES_NO_ID),
        ("javascript:alert(1)", NAMES_NO_ID),
        ("/e/%ff%fe/", NAMES_NO_ID),
        ("/e/a/b/", UNKNOWN_ID),  # the last segment is the id (the portal's rule): "b"
        ("/x/abc/", UNKNOWN_ID),  # any prefix: "abc"
        ("https://user:pass@host:99999/e/x/", UNKNOWN_ID),  # host and port ignored: id "x"
        ("/e/no-such-dataset/", UNKNOWN_ID),
        ("no-such-dataset.cxg", UNKNOWN_ID),
        ("https://host/e/" + "a" * 200 + "/", UNKNOWN_ID),  # the longest id
        ("https://host/e/" + "a" * 201 + "/", NAMES_NO_ID),
    ],
)
def test_odd_meta_urls_are_404_for_an_unknown_id_and_422_for_no_id(
    api: SeededApi, url: str, status: int
) -> None:
    """docs/api.md: unknown id → 404; a url that names no id, or none at all → 422."""
    for path in ("/dp/v1/datasets/meta", "/dp/v1/meta/datasets"):
        reply = httpx.get(f"{api.base_url}{path}", params={"url": url})
        detail = error_detail(reply, status)
        assert ("url" in detail) if status == NAMES_NO_ID else detail == "no dataset at this URL"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("url=%ff%fe", NAMES_NO_ID),
        ("url=%", NAMES_NO_ID),
        ("url=%zz", NAMES_NO_ID),
        ("url", NAMES_NO_ID),  # empty
        ("", NAMES_NO_ID),  # none at all
        ("url=%00%00", NAMES_NO_ID),
        ("url=a&url=b", UNKNOWN_ID),  # the last one counts, as in FastAPI: id "b"
    ],
)
def test_odd_raw_query_strings_are_404_or_422_as_documented(
    api: SeededApi, query: str, status: int
) -> None:
    error_detail(httpx.get(f"{api.base_url}/dp/v1/datasets/meta?{query}"), status)


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


# -- revalidation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [("/dp/v1/datasets/meta", "url"), ("/dp/v1/meta/datasets", "url"), ("/datasets.json", None)],
)
def test_a_cached_answer_revalidates_with_its_etag(
    api: SeededApi, path: str, params: str | None
) -> None:
    """A browser or CDN sending the ETag back gets a bodiless 304 with the same validators;
    any other tag gets the whole answer. If-None-Match compares weakly (RFC 9110 13.1.2): a
    CDN that compresses the answer hands the browser ``W/"…"``."""
    query = {params: f"/e/{api.seeded.dataset_id}/"} if params else {}
    first = httpx.get(f"{api.base_url}{path}", params=query)
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = httpx.get(f"{api.base_url}{path}", params=query, headers={"If-None-Match": sent})
        assert again.status_code == 304, (sent, again.status_code)
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == first.headers["cache-control"]
    for sent in ('"other"', etag.strip('"'), f'{etag[:-2]}x"'):
        fresh = httpx.get(f"{api.base_url}{path}", params=query, headers={"If-None-Match": sent})
        assert fresh.status_code == 200, sent
        assert fresh.content == first.content


def test_a_changed_catalog_answers_its_old_etag_in_full(api: SeededApi, tmp_path: Path) -> None:
    before = httpx.get(f"{api.base_url}/datasets.json")
    stack = api.stack
    view = stack.catalog.create_collection(
        FIRST_CURATOR, CollectionMetadata(name="Another atlas", **CONTACT)
    )
    cid = view.collection.collection_id
    dataset_id = stack.catalog.add_dataset(FIRST_CURATOR, cid, "Heart").dataset_id
    key = f"{cid}/{dataset_id}.h5ad"
    stack.uploads.path(key).parent.mkdir(parents=True, exist_ok=True)
    make_adata(n_cells=30, n_genes=8, seed=11).write_h5ad(stack.uploads.path(key))
    assert stack.processor.process(key).status == "ready"
    stack.catalog.publish(FIRST_CURATOR, cid)
    after = httpx.get(
        f"{api.base_url}/datasets.json", headers={"If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert len(after.json()["datasets"]) == len(before.json()["datasets"]) + 1


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


# -- deleting ------------------------------------------------------------------------------------


def public_state(api: SeededApi) -> tuple[Any, ...]:
    base, seeded = api.base_url, api.seeded
    collection = httpx.get(f"{base}/dp/v1/collections/{seeded.collection_id}")
    meta = httpx.get(f"{base}/dp/v1/datasets/meta", params={"url": f"/e/{seeded.dataset_id}/"})
    listed = httpx.get(f"{base}/datasets.json")
    assert collection.status_code == meta.status_code == listed.status_code == 200
    return collection.json(), meta.json(), listed.json()


def test_a_published_collection_cannot_be_deleted(api: SeededApi, curator: httpx.Client) -> None:
    """docs/api.md: withdraw its datasets through a revision instead. Neither the canonical id
    (with or without an open revision) nor the published version's id deletes anything;
    discarding the revision leaves the published collection as it was."""
    cid = api.seeded.collection_id
    before = public_state(api)
    published_version = before[0]["collection_version_id"]
    for target in (cid, published_version):
        reply = curator.delete(f"/curation/v1/collections/{target}")
        assert "published" in error_detail(reply, 409)
    revision = curator.post(f"/curation/v1/collections/{cid}/revision")
    assert revision.status_code == 201, revision.text
    rid = revision.json()["collection_id"]
    try:
        for target in (cid, published_version):
            detail = error_detail(curator.delete(f"/curation/v1/collections/{target}"), 409)
            assert rid in detail if target == cid else "published" in detail
        assert public_state(api) == before
    finally:
        assert curator.delete(f"/curation/v1/collections/{rid}").status_code == 204
    assert public_state(api) == before
    assert curator.get(f"/curation/v1/collections/{cid}").status_code == 200


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
