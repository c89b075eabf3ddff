"""Link ingestion refuses what a server must not fetch on a client's behalf."""

from __future__ import annotations

import pytest

from cellucid_cloud.storage.link_fetch import LinkError, check_link, direct_download_url


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        ("http://127.0.0.1:8765/_cellucid/health", "non-public address"),
        ("http://localhost/x.h5ad", "non-public address"),
        ("http://[::1]/x.h5ad", "non-public address"),
        ("http://10.0.0.5/x.h5ad", "non-public address"),
        ("http://169.254.169.254/latest/meta-data/", "non-public address"),
        ("http://192.168.1.1/x.h5ad", "non-public address"),
        ("ftp://example.org/x.h5ad", "must be an http"),
        ("file:///etc/passwd", "must be an http"),
        ("https://user:pw@example.org/x.h5ad", "credentials"),
        ("https://user@8.8.8.8/x.h5ad", "credentials"),
    ],
)
def test_internal_and_odd_links_are_refused(link: str, reason: str) -> None:
    with pytest.raises(LinkError, match=reason):
        check_link(link, allow_private=False)


def test_a_lab_may_allow_its_own_network() -> None:
    check_link("http://127.0.0.1:9000/x.h5ad", allow_private=True)
    with pytest.raises(LinkError):
        check_link("file:///etc/passwd", allow_private=True)


def test_dropbox_share_links_become_downloads() -> None:
    assert (
        direct_download_url("https://www.dropbox.com/s/abc/pbmc.h5ad?dl=0")
        == "https://www.dropbox.com/s/abc/pbmc.h5ad?dl=1"
    )
    assert direct_download_url("https://example.org/a.h5ad") == "https://example.org/a.h5ad"
