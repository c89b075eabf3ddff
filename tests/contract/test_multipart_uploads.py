"""Both adapters of multipart uploads (S3 on a moto server, the local stack's over its real
upload route), parts sent over real HTTP to the URLs they hand out."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cellucid_cloud.core.ports import MultipartUploads
from cellucid_cloud.storage.multipart import MiB, MultipartError, Part, PartPlan
from cellucid_cloud.storage.s3 import S3MultipartUploads, s3_client
from tests.aws import empty_bucket
from tests.integration.test_s3_storage import s3_accepts
from tests.live_app import serving

PLAN = PartPlan(size=2 * 5 * MiB + 123, part_size=5 * MiB)  # S3's smallest parts: 3 of them
KEY = "collection-1/dataset-1/upload-1.h5ad"


@dataclass
class Store:
    multipart: MultipartUploads
    read: Callable[[str], bytes | None]
    """The object at a key, None if there is none."""
    kind: str


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        with serving(tmp_path / "data", meta_ttl=0) as served:
            uploads = served.stack.uploads

            def read_file(key: str) -> bytes | None:
                path = uploads.path(key)
                return path.read_bytes() if path.exists() else None

            yield Store(served.stack.multipart, read_file, "local")
    else:
        client = s3_client(endpoint_url=request.getfixturevalue("moto_server"))
        bucket = f"uploads-{uuid.uuid4().hex}"
        client.create_bucket(Bucket=bucket)

        def read_object(key: str) -> bytes | None:
            try:
                return client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except client.exceptions.NoSuchKey:
                return None

        yield Store(S3MultipartUploads(bucket, client), read_object, "s3")
        empty_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)


def file_bytes(plan: PartPlan = PLAN) -> bytes:
    return bytes(i % 251 for i in range(plan.size))


def send(store: Store, multipart_id: str, data: bytes, numbers: list[int]) -> dict[int, str]:
    """PUT the given parts, as a client does; their ETags by number."""
    urls = store.multipart.part_urls(KEY, multipart_id, PLAN.parts(numbers), expires_in=300)
    etags = {}
    for part in urls:
        offset, length = PLAN.part(part.number)
        assert part.size == length
        reply = httpx.put(part.url, content=data[offset : offset + length], headers=part.headers)
        assert reply.status_code == 200, reply.text
        etags[part.number] = reply.headers["etag"]
    return etags


def test_parts_in_any_order_become_one_object_only_at_completion(store: Store) -> None:
    data = file_bytes()
    multipart_id = store.multipart.start_multipart(KEY, PLAN)
    etags = send(store, multipart_id, data, [3, 1])
    etags |= send(store, multipart_id, data, [2])
    assert store.read(KEY) is None
    store.multipart.complete_multipart(KEY, multipart_id, PLAN, etags)
    assert store.read(KEY) == data
    assert store.multipart.abort_multipart(KEY, multipart_id) is False  # completed: kept
    assert store.read(KEY) == data


def test_a_part_sent_again_replaces_the_first(store: Store) -> None:
    data = file_bytes()
    multipart_id = store.multipart.start_multipart(KEY, PLAN)
    etags = send(store, multipart_id, bytes(len(data)), [1, 2, 3])  # zeros first
    etags |= send(store, multipart_id, data, [2])
    etags |= send(store, multipart_id, data, [1, 3])
    store.multipart.complete_multipart(KEY, multipart_id, PLAN, etags)
    assert store.read(KEY) == data


def test_completion_needs_every_part_and_its_etag(store: Store) -> None:
    data = file_bytes()
    multipart_id = store.multipart.start_multipart(KEY, PLAN)
    etags = send(store, multipart_id, data, [1, 2])
    with pytest.raises(MultipartError, match="missing 3"):
        store.multipart.complete_multipart(KEY, multipart_id, PLAN, etags)
    etags |= send(store, multipart_id, data, [3])
    with pytest.raises(MultipartError, match="ETag"):
        store.multipart.complete_multipart(KEY, multipart_id, PLAN, etags | {2: etags[1]})
    assert store.read(KEY) is None
    store.multipart.complete_multipart(KEY, multipart_id, PLAN, etags)  # still possible
    assert store.read(KEY) == data


def test_an_aborted_upload_takes_no_more_parts(store: Store) -> None:
    data = file_bytes()
    multipart_id = store.multipart.start_multipart(KEY, PLAN)
    send(store, multipart_id, data, [1])
    [url] = store.multipart.part_urls(KEY, multipart_id, PLAN.parts([2]), expires_in=300)
    assert store.multipart.abort_multipart(KEY, multipart_id) is True
    assert store.multipart.abort_multipart(KEY, multipart_id) is False  # not an error
    offset, length = PLAN.part(2)
    assert httpx.put(url.url, content=data[offset : offset + length]).status_code >= 400
    assert store.read(KEY) is None


def test_each_part_url_takes_exactly_its_part(store: Store) -> None:
    multipart_id = store.multipart.start_multipart(KEY, PLAN)
    last = store.multipart.part_urls(KEY, multipart_id, PLAN.parts([3]), expires_in=300)[0]
    assert last.size == 123
    if store.kind == "s3":  # moto checks no signature: recompute it as S3 would
        issued = datetime.strptime(
            parse_qs(urlsplit(last.url).query)["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"
        ).replace(tzinfo=UTC)
        exact = {**last.headers, "Content-Length": "123"}
        assert s3_accepts(last.url, "PUT", exact, issued + timedelta(seconds=300))
        assert not s3_accepts(last.url, "PUT", exact, issued + timedelta(seconds=301))
        for length in ("124", "122"):
            assert not s3_accepts(last.url, "PUT", {**exact, "Content-Length": length}, issued)
        other_part = last.url.replace("partNumber=3", "partNumber=2")
        assert not s3_accepts(other_part, "PUT", exact, issued)
        return
    too_long = httpx.put(last.url, content=b"x" * 124)
    too_short = httpx.put(last.url, content=b"x" * 122)
    chunked = httpx.put(last.url, content=iter([b"x" * 100, b"x" * 100]))
    assert (too_long.status_code, too_short.status_code, chunked.status_code) == (400, 400, 413)
    assert httpx.put(last.url, content=b"x" * 123).status_code == 200


def test_the_local_adapter_refuses_unknown_uploads_and_other_keys(tmp_path: Path) -> None:
    with serving(tmp_path / "data", meta_ttl=0) as served:
        multipart = served.stack.multipart
        multipart_id = multipart.start_multipart(KEY, PLAN)
        for key, upload_id in [
            (KEY, "0" * 32),
            (KEY, "../../etc"),
            ("other/key.h5ad", multipart_id),
        ]:
            with pytest.raises(MultipartError, match="no such multipart upload"):
                multipart.part_urls(key, upload_id, PLAN.parts([1]), expires_in=60)
        with pytest.raises(ValueError, match="unsafe"):
            multipart.start_multipart("../outside.h5ad", PLAN)


def test_plans_fit_s3s_limits() -> None:
    small = PartPlan.for_size(1)
    assert (small.count, small.part(1)) == (1, (0, 1))
    big = PartPlan.for_size(20 * 1024**3)
    assert big.part_size == 16 * MiB and big.count == 1280
    assert big.part(1280) == (1279 * 16 * MiB, 16 * MiB)
    assert PLAN.parts([3, 1]) == [Part(3, 10 * MiB, 123), Part(1, 0, 5 * MiB)]
    with pytest.raises(MultipartError, match="no part 4"):
        PLAN.parts([1, 4])
    huge = PartPlan.for_size(5 * 1024**4)  # S3's largest object
    assert huge.count <= 10_000 and huge.part_size % MiB == 0
    with pytest.raises(MultipartError, match="no part 1281"):
        big.part(1281)
    with pytest.raises(MultipartError, match="no such part 4"):
        PLAN.check_complete({1: "a", 2: "b", 3: "c", 4: "d"})
