"""Link ingestion's limits at the limit, against file servers that misbehave: bodies whose
length is not declared or is a lie, the redirect budget, a server that trickles or stalls, and
HTTPS to the address that was checked (SNI and the certificate carry the link's name)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cellucid_cloud.storage.link_fetch import MAX_REDIRECTS, LinkError, fetch_link
from tests.link_servers import (
    FILE_SERVER,
    Misbehaving,
    certificates,
    file_server_is_public,
    resolving,
    serving,
)


@pytest.fixture(autouse=True)
def public_file_server(monkeypatch: pytest.MonkeyPatch) -> None:
    file_server_is_public(monkeypatch)


@pytest.fixture
def base() -> Iterator[str]:
    with serving(Misbehaving, FILE_SERVER) as port:
        yield f"http://{FILE_SERVER}:{port}"


def left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_a_body_of_undeclared_length_is_cut_at_the_cap(
    base: str, tmp_path: Path, framing: str
) -> None:
    """No Content-Length (chunked, or read until the server closes): the bytes are counted as
    they arrive; exactly the cap is accepted, one byte more refused and nothing kept."""
    target = tmp_path / "f.h5ad"
    assert fetch_link(f"{base}/{framing}?n=5000", target, max_bytes=5000) == 5000
    assert target.stat().st_size == 5000
    refused = tmp_path / "refused.h5ad"
    with pytest.raises(LinkError, match="larger than 5000 bytes"):
        fetch_link(f"{base}/{framing}?n=5001", refused, max_bytes=5000)
    assert left_in(tmp_path) == ["f.h5ad"]


def test_a_declared_length_over_the_cap_is_refused_before_the_body(
    base: str, tmp_path: Path
) -> None:
    """The server declares 101 bytes, sends 10 and stalls: refused on the header alone (were
    the body read, the stall would end in a timeout instead)."""
    with pytest.raises(LinkError, match="larger than 100 bytes"):
        fetch_link(f"{base}/stall?declared=101", tmp_path / "f.h5ad", max_bytes=100, timeout=5)
    assert left_in(tmp_path) == []


def test_a_lying_length_never_yields_more_than_it_declared(base: str, tmp_path: Path) -> None:
    target = tmp_path / "f.h5ad"
    assert fetch_link(f"{base}/lying?declared=10&sent=100000", target, max_bytes=100) == 10
    with pytest.raises(LinkError, match="could not download"):  # declared more than it sent
        fetch_link(f"{base}/lying?declared=100&sent=10", tmp_path / "g.h5ad", max_bytes=100)
    assert left_in(tmp_path) == ["f.h5ad"]


def test_five_redirects_are_followed_and_a_sixth_is_refused(base: str, tmp_path: Path) -> None:
    assert MAX_REDIRECTS == 5
    assert fetch_link(f"{base}/hops?n=5", tmp_path / "f.h5ad", max_bytes=100) == 4
    with pytest.raises(LinkError, match="more than 5 redirects"):
        fetch_link(f"{base}/hops?n=6", tmp_path / "g.h5ad", max_bytes=100)
    assert left_in(tmp_path) == ["f.h5ad"]


def test_a_stalled_download_times_out(base: str, tmp_path: Path) -> None:
    with pytest.raises(LinkError, match="timed out"):
        fetch_link(f"{base}/stall?declared=100", tmp_path / "f.h5ad", max_bytes=100, timeout=0.5)
    assert left_in(tmp_path) == []


def test_a_trickling_download_ends_at_its_deadline(base: str, tmp_path: Path) -> None:
    """One byte every 50 ms never trips a read timeout; the whole download's deadline (1 s
    here, of the 10 s the trickle would take) ends it."""
    with pytest.raises(LinkError, match="took longer than 1 s"):
        fetch_link(
            f"{base}/trickle?n=200", tmp_path / "f.h5ad", max_bytes=1000, timeout=5, deadline=1
        )
    assert left_in(tmp_path) == []


def test_https_goes_to_the_checked_address_with_the_links_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection goes to the checked IP, and the TLS handshake names the link's host
    (SNI), whose certificate is then verified: without the name, the certificate of
    ``files.test`` does not match and the download is refused."""
    tls = certificates(tmp_path, "files.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    resolving(monkeypatch, "files.test", FILE_SERVER)
    Misbehaving.hosts = []
    with serving(Misbehaving, FILE_SERVER, tls=tls.server) as port:
        target = tmp_path / "f.h5ad"
        assert fetch_link(f"https://files.test:{port}/f", target, max_bytes=100) == 4
    assert target.read_bytes() == b"file"
    assert tls.server_names == ["files.test"]
    assert Misbehaving.hosts == [f"files.test:{port}"]
