"""The HTTP rules every host applies (:mod:`cellucid_cloud.http`): range parsing, ETag matching,
content-coding negotiation, request-path splitting, Host checks and bind addresses, and the
422 messages of request validation."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from cellucid_cloud.core.errors import DomainError, InvalidRequestError
from cellucid_cloud.http.codings import accepts_gzip, gzip_etag
from cellucid_cloud.http.conditional import cached_json, if_none_match, if_range
from cellucid_cloud.http.hosts import Binding, host_allowed, host_name, is_wildcard
from cellucid_cloud.http.paths import split_request_path
from cellucid_cloud.http.ranges import UNSATISFIABLE, content_range, parse_range
from cellucid_cloud.http.validation import BodyParseError, json_body


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br, zstd", True),  # what browsers send
        ("GZIP", True),
        ("x-gzip", True),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        ("*", True),
        ("gzip;q=0, *", False),
        ("*;q=0", False),
        ("gzip; q=0.000", False),
        ("gzip;q=abc", False),
        ("identity", False),
        ("br, zstd", False),
        ("deflate", False),
        ("", False),
        (None, False),
    ],
)
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_gzip_etag_is_another_strong_tag() -> None:
    assert gzip_etag('"abc"') == '"abc-gzip"'


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("bytes=0-9", 100, (0, 10)),
        ("bytes=10-", 100, (10, 100)),
        ("bytes=-10", 100, (90, 100)),
        ("bytes=-1000", 100, (0, 100)),
        ("bytes=90-1000", 100, (90, 100)),
        ("bytes=99-99", 100, (99, 100)),
        (" bytes=0-0 ", 100, (0, 1)),
        ("bytes=100-", 100, UNSATISFIABLE),
        ("bytes=100-200", 100, UNSATISFIABLE),
        ("bytes=-0", 100, UNSATISFIABLE),
        ("bytes=0-", 0, UNSATISFIABLE),
        ("bytes=-5", 0, UNSATISFIABLE),
        ("bytes=0-1,5-6", 100, None),  # multi-range: whole file
        ("bytes=9-3", 100, None),  # invalid: ignored
        ("bytes=-", 100, None),
        ("bytes=a-b", 100, None),
        ("items=0-1", 100, None),
        ("bytes=+1-2", 100, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


def test_if_none_match() -> None:
    tag = '"abc"'
    assert if_none_match('"abc"', tag)
    assert if_none_match("*", tag)
    assert if_none_match('"x", "abc"', tag)
    assert if_none_match('W/"abc"', tag)
    assert not if_none_match('"abcd"', tag)
    assert not if_none_match("abc", tag)
    assert not if_none_match("", tag)
    assert not if_none_match(None, tag)


def test_if_range_compares_strongly() -> None:
    """RFC 9110 §13.1.5: only the very tag applies the range; a weak one or a date does not."""
    tag = '"abc"'
    assert if_range(None, tag)
    assert if_range(' "abc" ', tag)
    assert not if_range('W/"abc"', tag)
    assert not if_range('"old"', tag)
    assert not if_range("Wed, 21 Oct 2015 07:28:00 GMT", tag)


def test_cached_json_revalidates_by_the_weak_comparison() -> None:
    """The JSON answers (meta, collections, datasets.json) and the export files (serve, up's
    /exports) share :func:`if_none_match`: a W/ tag a CDN made still gets the 304."""
    fresh = cached_json({"a": 1}, 60, None)
    etag = fresh.headers["ETag"]
    assert fresh.status == 200 and fresh.headers["Cache-Control"] == "public, max-age=60"
    for header in (etag, f"W/{etag}", f'"x", {etag}', "*"):
        revalidated = cached_json({"a": 1}, 60, header)
        assert (revalidated.status, revalidated.body) == (304, b""), header
        assert revalidated.headers["ETag"] == etag
    assert cached_json({"a": 2}, 60, etag).status == 200
    assert cached_json({"detail": "x"}, 60, "*", status=404).status == 404


def test_content_range_names_the_last_byte() -> None:
    assert content_range(0, 10, 100) == "bytes 0-9/100"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", []),
        ("/datasets.json", ["datasets.json"]),
        ("/var/0.values.u8.gz", ["var", "0.values.u8.gz"]),
        ("/a%20dir/x.json", ["a dir", "x.json"]),
        ("/var/", ["var", ""]),
        ("/%c3%a9/x", ["é", "x"]),
    ],
)
def test_split_request_path_accepts(raw: str, expected: list[str]) -> None:
    assert split_request_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "var/x",
        "/../etc/passwd",
        "/a/../b",
        "/./a",
        "/a/.",
        "//etc/passwd",
        "/a//b",
        "/%2e%2e/x",
        "/%2E%2e/x",
        "/.%2e/x",
        "/a%2fb",
        "/a%2Fb",
        "/%252e%252e/x",
        "/%25",
        "/a%5cb",
        "/a\\b",
        "/a%00",
        "/a%0a",
        "/a%7f",
        "/%c0%ae%c0%ae/x",  # overlong UTF-8 dot: invalid, refused
        "/%ff",
    ],
)
def test_split_request_path_refuses(raw: str) -> None:
    assert split_request_path(raw) is None


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8765", "127.0.0.1"),
        ("LocalHost", "localhost"),
        ("[::1]:8765", "[::1]"),
        ("[::1]", "[::1]"),
        ("example.org", "example.org"),
    ],
)
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


def test_host_allowed() -> None:
    allowed = {"127.0.0.1", "localhost", "[::1]"}
    assert host_allowed("localhost:1", allowed, ip_literals=False)
    assert host_allowed("[::1]:1", allowed, ip_literals=False)
    assert not host_allowed(None, allowed, ip_literals=True)
    assert not host_allowed("", allowed, ip_literals=True)
    assert not host_allowed("evil.test", allowed, ip_literals=True)
    assert not host_allowed("10.1.2.3", allowed, ip_literals=False)
    assert host_allowed("10.1.2.3:80", allowed, ip_literals=True)
    assert host_allowed("[fe80::1]:80", allowed, ip_literals=True)
    assert not host_allowed("localhost.evil.test", allowed, ip_literals=True)


@pytest.mark.parametrize(
    ("host", "wildcard"),
    [
        ("0.0.0.0", True),
        ("::", True),
        ("::0", True),
        ("0:0::0", True),
        ("[::]", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("192.168.1.5", False),
        ("localhost", False),
        ("0", False),
    ],
)
def test_a_wildcard_bind_is_any_unspecified_address(host: str, wildcard: bool) -> None:
    """``up`` and ``serve`` read a bind address alike: ``::0`` listens everywhere as ``::``."""
    assert is_wildcard(host) is wildcard
    assert Binding(host).wildcard is wildcard


@pytest.mark.parametrize(
    ("host", "url_host", "base_url"),
    [
        ("127.0.0.1", "127.0.0.1", "http://127.0.0.1:80"),
        ("0.0.0.0", "0.0.0.0", "http://127.0.0.1:80"),
        ("::0", "[::0]", "http://127.0.0.1:80"),
        ("::1", "[::1]", "http://[::1]:80"),
        ("[::1]", "[::1]", "http://[::1]:80"),
        ("example.test", "example.test", "http://example.test:80"),
    ],
)
def test_a_binding_serves_its_host_and_announces_a_browsable_url(
    host: str, url_host: str, base_url: str
) -> None:
    binding = Binding(host)
    assert binding.url_host == url_host
    assert binding.base_url(80) == base_url
    assert binding.allowed_hosts == ["127.0.0.1", "localhost", "[::1]", url_host]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"", 422, "body: Field required"),
        (b"{", 422, "malformed JSON body: Expecting property name enclosed in double quotes"),
        (b'{"name": 1}', 422, "name: Input should be a valid string"),
        (b'{"name": "a", "x": 1, "y": 2}', 422, "x: Extra inputs are not permitted (and 1 more)"),
        (b"[1]", 422, "body: Input should be a valid dictionary"),
        (b"\xff", 400, "There was an error parsing the body"),
        (b"[" * 100_000, 400, "There was an error parsing the body"),
    ],
)
def test_json_bodies_are_refused_as_fastapi_refuses_them(
    body: bytes, status: int, detail: str
) -> None:
    with pytest.raises(DomainError) as refused:
        json_body(_Body, body)
    assert refused.value.status == status
    assert str(refused.value).startswith(detail)
    assert isinstance(refused.value, BodyParseError if status == 400 else InvalidRequestError)


def test_a_json_body_as_its_model() -> None:
    assert json_body(_Body, b'{"name": "a"}') == _Body(name="a")
