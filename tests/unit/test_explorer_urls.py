"""Explorer URL parsing: the last path segment is the id, as the data portal resolves it;
tolerant of scheme, host, path prefix, slashes and .cxg; strict about the id."""

from __future__ import annotations

import pytest

from cellucid_cloud.catalog.urls import explorer_id, explorer_url

ID = "0f3c1b7e-6a41-4c0a-9d6e-2b1f5a7c8e9c"  # ends in "c": str.strip(".cxg") would eat it


@pytest.mark.parametrize(
    "url",
    [
        f"https://cellucid.example.org/e/{ID}/",
        f"http://other-host:8080/e/{ID}",
        f"/e/{ID}/",
        f"/e/{ID}.cxg/",
        f"https://h/e/{ID}.cxg",
        f"e/{ID}",
        ID,
        f"https://h/e/{ID}/?tab=genes#x",
        f"//any.example/e/{ID}/",
        f"https://h/cellxgene/e/{ID}.cxg/",
        f"https://h/d/{ID}/",
        f"https://h/x/{ID}/",
        f"https://h/e/a/{ID}/",
        f"http://[::1]:8080/e/{ID}/",
    ],
)
def test_variants_name_the_same_id(url: str) -> None:
    assert explorer_id(url) == ID


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/",
        "https://h/",
        "http://[::1/e/x/",
        f"https://h/e/{ID}/%2F",
        "/e/..%2F..%2Fetc/",
        "/e/%2e%2e/",
        "/e/a%00b/",
        "/e/ünïcode/",
        "/e/.cxg/",
        "/e/" + "a" * 300 + "/",
        "x" * 5000,
    ],
)
def test_anything_else_names_nothing(url: str) -> None:
    assert explorer_id(url) is None


def test_suffix_is_removed_once_not_stripped() -> None:
    assert explorer_id("/e/abc.cxg.cxg/") == "abc.cxg"
    assert explorer_id("/e/xgc/") == "xgc"


def test_explorer_url_round_trips() -> None:
    url = explorer_url("https://cellucid.example.org/", ID)
    assert url == f"https://cellucid.example.org/e/{ID}/"
    assert explorer_id(url) == ID
