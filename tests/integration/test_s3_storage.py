"""The S3 adapters on a moto server: object headers, multipart, parallel folders, upload URLs.

moto does not check presigned-URL signatures, so their security is checked on the URL's own
parameters (what S3 verifies: algorithm, expiry, the signed headers, the one key).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

import httpx
import pytest

from cellucid_cloud.storage import s3
from cellucid_cloud.storage.object_store import EXPORT_CACHE_CONTROL
from cellucid_cloud.storage.s3 import S3ObjectStore, S3UploadUrls, s3_client
from cellucid_cloud.storage.upload_urls import UploadUrlError
from tests.aws import FAKE_AWS_ENV, empty_bucket

MiB = 1024 * 1024


@pytest.fixture
def bucket(moto_server: str) -> Iterator[str]:
    client = s3_client(endpoint_url=moto_server)
    name = f"s3-{uuid.uuid4().hex}"
    client.create_bucket(Bucket=name)
    yield name
    empty_bucket(client, name)
    client.delete_bucket(Bucket=name)


def test_the_client_signs_v4_and_retries_in_standard_mode(moto_server: str) -> None:
    config = s3_client(endpoint_url=moto_server).meta.config
    assert config.signature_version == "s3v4"
    assert config.retries is not None and config.retries["mode"] == "standard"


def test_export_objects_carry_content_type_and_immutable_caching(
    moto_server: str, bucket: str, tmp_path: Path
) -> None:
    client = s3_client(endpoint_url=moto_server)
    folder = tmp_path / "export"
    (folder / "var").mkdir(parents=True)
    (folder / "obs_manifest.json").write_text("{}")
    (folder / "var" / "0.values.u8.gz").write_bytes(b"\x1f\x8b gz bytes")
    S3ObjectStore(bucket, client).put_folder("exports/v1/", folder)
    manifest = client.head_object(Bucket=bucket, Key="exports/v1/obs_manifest.json")
    gene = client.head_object(Bucket=bucket, Key="exports/v1/var/0.values.u8.gz")
    assert manifest["ContentType"] == "application/json"
    assert gene["ContentType"] == "application/octet-stream"
    assert "ContentEncoding" not in gene  # the browser gunzips .gz payloads itself
    for head in (manifest, gene):
        assert head["CacheControl"] == EXPORT_CACHE_CONTROL


def test_a_folder_of_many_files_goes_up_completely(
    moto_server: str, bucket: str, tmp_path: Path
) -> None:
    folder = tmp_path / "export" / "var"
    folder.mkdir(parents=True)
    for index in range(300):
        (folder / f"{index}.values.u8.gz").write_bytes(index.to_bytes(2, "little") * 10)
    client = s3_client(endpoint_url=moto_server)
    stored = S3ObjectStore(bucket, client).put_folder("exports/v9", folder.parent)
    listing = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="exports/v9/")
    keys = {item["Key"] for page in listing for item in page.get("Contents", [])}
    assert stored == 300 * 20
    assert keys == {f"exports/v9/var/{index}.values.u8.gz" for index in range(300)}


def test_large_files_go_up_and_down_in_parts(
    moto_server: str, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "MULTIPART_THRESHOLD", 5 * MiB)
    monkeypatch.setattr(s3, "MULTIPART_CHUNK", 5 * MiB)
    folder = tmp_path / "upload"
    folder.mkdir()
    data = bytes(range(256)) * (11 * MiB // 256)
    (folder / "big.h5ad").write_bytes(data)
    store = S3ObjectStore(bucket, s3_client(endpoint_url=moto_server))
    store.put_folder("c1", folder)
    copy = tmp_path / "copy.h5ad"
    etag = store.fetch("c1/big.h5ad", copy)
    assert etag.endswith("-3")  # S3's multipart ETag: a digest of the parts' digests, "-" parts
    assert copy.read_bytes() == data


def test_upload_urls_sign_one_key_one_length_and_a_short_expiry(
    moto_server: str, bucket: str
) -> None:
    client = s3_client(endpoint_url=moto_server)
    urls = S3UploadUrls(bucket, client)
    grant = urls.upload_url("c1/d1.h5ad", max_bytes=1000, expires_in=3600, size=11)
    parts = urlsplit(grant.url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert parts.path == f"/{bucket}/c1/d1.h5ad"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert int(query["X-Amz-Expires"]) == grant.expires_in == 900
    assert query["X-Amz-SignedHeaders"].split(";") == ["content-length", "content-type", "host"]
    assert grant.max_bytes == 11
    assert grant.headers == {"Content-Type": "application/octet-stream"}
    reply = httpx.put(grant.url, content=b"eleven byte", headers=grant.headers)
    assert reply.status_code == 200
    assert client.get_object(Bucket=bucket, Key="c1/d1.h5ad")["Body"].read() == b"eleven byte"


def s3_accepts(url: str, method: str, headers: dict[str, str], now: datetime) -> bool:
    """Whether S3 would accept this request on a presigned URL: SigV4 query authentication
    recomputed from the request as sent (the signed headers' values, the path, the method)
    with the test credentials, and the expiry checked at ``now``. moto checks neither."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    signed = params["X-Amz-SignedHeaders"].split(";")
    sent = {name.lower(): value.strip() for name, value in headers.items()}
    sent["host"] = parts.netloc
    if any(name not in sent for name in signed):
        return False
    canonical = "\n".join(
        [
            method,
            parts.path,
            "&".join(
                f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                for k, v in sorted(query)
                if k != "X-Amz-Signature"
            ),
            "".join(f"{name}:{sent[name]}\n" for name in signed),
            ";".join(signed),
            "UNSIGNED-PAYLOAD",
        ]
    )
    access_key, day, region, service, terminal = params["X-Amz-Credential"].split("/")
    assert access_key == FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"] and terminal == "aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            f"{day}/{region}/{service}/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"]).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    issued = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expires = issued + timedelta(seconds=int(params["X-Amz-Expires"]))
    return hmac.compare_digest(signature, params["X-Amz-Signature"]) and now <= expires


def test_an_upload_url_is_valid_for_its_one_length_key_and_15_minutes(
    moto_server: str, bucket: str
) -> None:
    """The signature binds the method, the key, the exact Content-Length and the
    Content-Type; the URL lives 900 s from its signing, not a second more."""
    before = datetime.now(UTC).replace(microsecond=0)
    grant = S3UploadUrls(bucket, s3_client(endpoint_url=moto_server)).upload_url(
        "c1/d1.h5ad", max_bytes=1000, expires_in=86400, size=11
    )
    params = dict(parse_qsl(urlsplit(grant.url).query))
    issued = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= issued <= datetime.now(UTC)
    assert params["X-Amz-Expires"] == "900" and grant.expires_in == 900
    headers = {**grant.headers, "Content-Length": "11"}
    assert s3_accepts(grant.url, "PUT", headers, issued)
    assert s3_accepts(grant.url, "PUT", headers, issued + timedelta(seconds=900))
    assert not s3_accepts(grant.url, "PUT", headers, issued + timedelta(seconds=901))
    for changed in ({"Content-Length": "12"}, {"Content-Length": "10"}, {"Content-Type": "x/y"}):
        assert not s3_accepts(grant.url, "PUT", {**headers, **changed}, issued), changed
    without_length = {k: v for k, v in headers.items() if k != "Content-Length"}
    assert not s3_accepts(grant.url, "PUT", without_length, issued)  # chunked: no length
    assert not s3_accepts(grant.url, "GET", headers, issued)
    other_key = grant.url.replace("/c1/d1.h5ad?", "/c1/d2.h5ad?")
    assert not s3_accepts(other_key, "PUT", headers, issued)


def test_upload_urls_need_the_declared_size_within_the_cap(moto_server: str, bucket: str) -> None:
    urls = S3UploadUrls(bucket, s3_client(endpoint_url=moto_server))
    with pytest.raises(UploadUrlError, match=r'declare the file\'s size in bytes \("size"\)'):
        urls.upload_url("c1/d1.h5ad", max_bytes=1000, expires_in=600)
    with pytest.raises(UploadUrlError, match="file too large: 1001 bytes; the limit is 1000"):
        urls.upload_url("c1/d1.h5ad", max_bytes=1000, expires_in=600, size=1001)
    with pytest.raises(UploadUrlError, match=f"the limit is {5 * 1024**3}$"):
        urls.upload_url("c1/d1.h5ad", max_bytes=10 * 1024**3, expires_in=60, size=6 * 1024**3)
    assert urls.upload_url("c1/d1.h5ad", max_bytes=1000, expires_in=60, size=1).expires_in == 60
