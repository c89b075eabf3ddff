"""ExplorerResolver's cache against the real app over real HTTP, on a clock the test moves.

The server's own meta cache is set to an hour so that its ``max-age`` never caps ours, except
where the cap is the point; server hits are counted at the client's transport.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cellucid_cloud.client import (
    ApiError,
    CurationClient,
    DatasetNotFound,
    ExplorerResolver,
    NotFoundError,
    ServerError,
)
from tests.live_app import ManualClock, RecordingTransport, Served, reserve_socket, serving

META = "/dp/v1/datasets/meta"
HOUR = 3600.0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path / "data", meta_ttl=HOUR, meta_miss_ttl=HOUR) as live:
        yield live


@pytest.fixture
def transport() -> Iterator[RecordingTransport]:
    with RecordingTransport() as recording:
        yield recording


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def resolver_for(
    base_url: str, transport: RecordingTransport, clock: ManualClock, **options: float
) -> ExplorerResolver:
    return ExplorerResolver(
        base_url, clock=clock, http=httpx.Client(transport=transport, timeout=10), **options
    )


def new_dataset(live: Served) -> tuple[str, str]:
    """A private collection with one (empty) dataset: (collection id, dataset id)."""
    with CurationClient(live.base_url, live.stack.curator_key) as curator:
        collection_id = curator.create_collection(
            "Lung", contact_name="Ada Lovelace", contact_email="ada@example.org"
        )
        return collection_id, curator.create_dataset(collection_id, "A")


def draft_version_id(live: Served, collection_id: str) -> str:
    """The private id of a never-published collection's draft (its public id shows nothing)."""
    with CurationClient(live.base_url, live.stack.curator_key) as curator:
        return str(curator.get_collection(collection_id)["collection_version_id"])


def test_resolution_describes_the_dataset(served: Served) -> None:
    collection_id, dataset_id = new_dataset(served)
    with ExplorerResolver(served.base_url) as resolver:
        found = resolver.resolve(f"https://elsewhere.example/e/{dataset_id}.cxg/")
    assert found.dataset_id == dataset_id
    # Private: the collection is named by its draft's own (private) id, as the portal does.
    assert found.collection_id == draft_version_id(served, collection_id)
    assert found.collection_visibility == "PRIVATE"
    assert found.explorer_url == f"{served.base_url}/e/{dataset_id}/"
    assert found.dataset_version_id is not None
    assert (found.export_url, found.explorer_s3_uri) == (None, None)  # nothing processed yet
    assert (found.tombstoned, found.contact) == (False, None)


def test_hits_expire_a_fixed_time_after_the_fetch_however_often_read(
    served: Served, transport: RecordingTransport, clock: ManualClock
) -> None:
    _, dataset_id = new_dataset(served)
    url = f"{served.base_url}/e/{dataset_id}/"
    resolver = resolver_for(served.base_url, transport, clock, ttl=10)
    first = resolver.resolve(url)
    start = clock.now
    for step in range(1, 100):
        clock.now = start + step * 0.1  # read all through the TTL: a sliding expiry would
        assert resolver.resolve(url) == first  # never let the entry die
    assert transport.count(META) == 1
    clock.now = start + 10
    assert resolver.resolve(url) == first
    assert transport.count(META) == 2
    clock.now = start + 19.99
    resolver.resolve(url)
    assert transport.count(META) == 2
    clock.now = start + 20
    resolver.resolve(url)
    assert transport.count(META) == 3


def test_unknown_urls_are_cached_only_for_miss_ttl(
    served: Served, transport: RecordingTransport, clock: ManualClock
) -> None:
    resolver = resolver_for(served.base_url, transport, clock, ttl=60, miss_ttl=5)
    url = "/e/no-such-dataset/"
    start = clock.now
    with pytest.raises(DatasetNotFound) as missing:
        resolver.resolve(url)
    assert (missing.value.status, missing.value.detail) == (404, "no dataset at this URL")
    clock.now = start + 4.99
    with pytest.raises(DatasetNotFound):
        resolver.resolve(url)
    assert transport.count(META) == 1
    clock.now = start + 5
    with pytest.raises(DatasetNotFound):
        resolver.resolve(url)
    assert transport.count(META) == 2


def test_server_errors_are_raised_and_never_cached(
    served: Served, transport: RecordingTransport, clock: ManualClock
) -> None:
    _, dataset_id = new_dataset(served)
    url = f"/e/{dataset_id}/"
    resolver = resolver_for(served.base_url, transport, clock, ttl=10)
    transport.fail_next = [503]
    with pytest.raises(ServerError) as failed:
        resolver.resolve(url)
    assert (failed.value.status, failed.value.detail) == (503, "injected failure")
    assert resolver.resolve(url).dataset_id == dataset_id  # asked again, not a cached error
    assert transport.count(META) == 2
    # An expired answer is not served in place of an error either.
    clock.now += 10
    transport.fail_next = [500]
    with pytest.raises(ServerError):
        resolver.resolve(url)
    assert resolver.resolve(url).dataset_id == dataset_id
    assert transport.count(META) == 4


def test_no_answer_is_a_server_error_and_not_cached(tmp_path: Path, clock: ManualClock) -> None:
    sock = reserve_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with ExplorerResolver(base_url, clock=clock) as resolver:
        with pytest.raises(ServerError) as refused:
            resolver.resolve("/e/some-dataset/")
        assert refused.value.status is None
        assert isinstance(refused.value.__cause__, httpx.ConnectError)
        # Asked again once the server is up: the answer is the server's, not the failure.
        with serving(tmp_path / "data", meta_ttl=HOUR, sock=sock), pytest.raises(DatasetNotFound):
            resolver.resolve("/e/some-dataset/")


def test_a_timeout_is_a_server_error() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections, never answers
        base_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with (
            ExplorerResolver(base_url, http=httpx.Client(timeout=0.2)) as resolver,
            pytest.raises(ServerError) as timed_out,
        ):
            resolver.resolve("/e/some-dataset/")
    assert timed_out.value.status is None
    assert isinstance(timed_out.value.__cause__, httpx.TimeoutException)


def test_refused_urls_raise_api_errors_and_are_not_cached(
    served: Served, transport: RecordingTransport, clock: ManualClock
) -> None:
    resolver = resolver_for(served.base_url, transport, clock)
    for _ in range(2):
        with pytest.raises(ApiError) as refused:
            resolver.resolve("https://example.org/not/an/explorer/url%2F")
        assert refused.value.status == 422
        assert not isinstance(refused.value, (ServerError, NotFoundError))
    assert transport.count(META) == 2


def test_the_servers_max_age_caps_the_lifetime(
    tmp_path: Path, transport: RecordingTransport, clock: ManualClock
) -> None:
    with serving(tmp_path / "data", meta_ttl=0) as uncached:
        _, dataset_id = new_dataset(uncached)
        resolver = resolver_for(uncached.base_url, transport, clock, ttl=60)
        resolver.resolve(f"/e/{dataset_id}/")
        resolver.resolve(f"/e/{dataset_id}/")
    assert transport.count(META) == 2  # max-age=0: the server's answer is not to be reused


def test_a_cdn_age_shortens_the_lifetime(
    served: Served, transport: RecordingTransport, clock: ManualClock
) -> None:
    """A shared cache in front of the API that held the answer for a while says so in ``Age``:
    the answer then has only ``max-age - Age`` left, here 7 s."""
    _, dataset_id = new_dataset(served)

    def aged(response: httpx.Response) -> None:
        max_age = int(response.headers["cache-control"].rpartition("max-age=")[2])
        response.headers["age"] = str(max_age - 7)

    http = httpx.Client(transport=transport, event_hooks={"response": [aged]})
    resolver = ExplorerResolver(served.base_url, ttl=60, clock=clock, http=http)
    start = clock.now
    resolver.resolve(f"/e/{dataset_id}/")
    clock.now = start + 6.99
    resolver.resolve(f"/e/{dataset_id}/")
    assert transport.count(META) == 1
    clock.now = start + 7
    resolver.resolve(f"/e/{dataset_id}/")
    assert transport.count(META) == 2


def test_ttl_zero_disables_the_cache(
    served: Served, transport: RecordingTransport, clock: ManualClock
) -> None:
    _, dataset_id = new_dataset(served)
    resolver = resolver_for(served.base_url, transport, clock, ttl=0)
    for _ in range(3):
        resolver.resolve(f"/e/{dataset_id}/")
    assert transport.count(META) == 3


def test_threads_share_one_cache(
    served: Served, transport: RecordingTransport, clock: ManualClock
) -> None:
    _, dataset_id = new_dataset(served)
    resolver = resolver_for(served.base_url, transport, clock, ttl=60)
    expected = resolver.resolve(f"/e/{dataset_id}/")
    answers: list[object] = []

    def reader() -> None:
        answers.extend(resolver.resolve(f"/e/{dataset_id}/") for _ in range(200))

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [expected] * 1600
    assert transport.count(META) == 1


def test_collection_document(served: Served) -> None:
    collection_id, dataset_id = new_dataset(served)
    private_id = draft_version_id(served, collection_id)
    with ExplorerResolver(served.base_url) as resolver:
        document = resolver.collection(private_id)
        assert (document["id"], document["collection_id"]) == (private_id, collection_id)
        assert document["visibility"] == "PRIVATE"
        [entry] = document["datasets"]
        assert entry["id"] == entry["dataset_id"] == dataset_id
        assert entry["explorer_url"] == f"{served.base_url}/e/{dataset_id}/"
        for unknown in ("no-such-collection", collection_id):  # unpublished: its public id
            with pytest.raises(NotFoundError) as missing:
                resolver.collection(unknown)
            assert missing.value.status == 404
