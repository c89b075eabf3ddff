"""Range parsing, ETag matching, content-coding negotiation, request-path splitting and Host
checks of the serve module."""

from __future__ import annotations

import pytest

from cellucid_cloud.serve.http import (
    UNSATISFIABLE,
    accepts_gzip,
    gzip_etag,
    host_allowed,
    host_name,
    if_none_match,
    parse_range,
    split_request_path,
)


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
