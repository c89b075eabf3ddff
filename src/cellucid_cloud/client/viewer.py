"""Follow a hosted viewer from Python: hooks for what a person does, and their session bundles.

Events arrive by long polling ``GET /_cellucid/events`` (one HTTP request open at a time), in
arrival order, each at most once. Hook payloads are the event without its ``type``, as in
Cellucid: a selection is ``{"cells": [...], "source": "lasso"}``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from cellucid_cloud.client._http import Document, HttpClientOwner, check, json_object, send
from cellucid_cloud.events.bundle import SessionBundle

__all__ = ["Viewer"]

Hook = Callable[[Document], None]


class Viewer(HttpClientOwner):
    def __init__(
        self,
        api_base_url: str,
        viewer_id: str,
        viewer_token: str,
        *,
        viewer_url: str | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.api = api_base_url.rstrip("/")
        self.viewer_id = viewer_id
        self.viewer_url = viewer_url
        self._token = viewer_token
        super().__init__(http, httpx.Timeout(60.0, connect=10.0))
        self._hooks: dict[str, list[Hook]] = {}
        self._cursor = "0"
        self._seen: list[Document] = []
        self._waited: dict[str, int] = {}
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def from_registration(cls, api_base_url: str, registration: Document) -> Viewer:
        """A viewer from ``CurationClient.register_viewer``'s answer."""
        return cls(
            api_base_url,
            str(registration["viewerId"]),
            str(registration["viewerToken"]),
            viewer_url=str(registration["viewer_url"]),
        )

    # -- hooks -------------------------------------------------------------------------------

    def on(self, event_type: str, hook: Hook) -> Hook:
        self._hooks.setdefault(event_type, []).append(hook)
        return hook

    def on_selection(self, hook: Hook) -> Hook:
        return self.on("selection", hook)

    def on_hover(self, hook: Hook) -> Hook:
        return self.on("hover", hook)

    def on_click(self, hook: Hook) -> Hook:
        return self.on("click", hook)

    def on_ready(self, hook: Hook) -> Hook:
        return self.on("ready", hook)

    # -- following ---------------------------------------------------------------------------

    def poll(self, wait: float = 0.0) -> list[Document]:
        """Fetch the events after the last ones seen (waiting up to ``wait`` s for the first)
        and run their hooks; returns them."""
        reply = json_object(
            check(
                send(
                    self._http,
                    "GET",
                    f"{self.api}/_cellucid/events",
                    params={**self._credentials(), "after": self._cursor, "wait": wait},
                )
            )
        )
        events: list[Document] = list(reply["events"])
        with self._lock:
            self._cursor = str(reply["cursor"])
            self._seen.extend(events)
            self._lock.notify_all()
        for event in events:
            payload = {k: v for k, v in event.items() if k != "type"}
            for hook in self._hooks.get(str(event.get("type")), []):
                hook(payload)
        return events

    def start(self, wait: float = 20.0) -> None:
        """Follow the viewer in a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._follow, args=(wait,), name="cellucid-viewer", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _follow(self, wait: float) -> None:
        while not self._stop.is_set():
            try:
                self.poll(wait)
            except Exception:  # a dropped connection: back off, keep following
                self._stop.wait(1.0)

    def wait_for_event(self, event_type: str, timeout: float = 30.0) -> Document:
        """The next event of ``event_type`` not returned by an earlier call (waiting up to
        ``timeout`` seconds); polls itself unless :meth:`start` follows in the background."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                start = self._waited.get(event_type, 0)
                for index in range(start, len(self._seen)):
                    if self._seen[index].get("type") == event_type:
                        self._waited[event_type] = index + 1
                        return self._seen[index]
                self._waited[event_type] = len(self._seen)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {event_type} event within {timeout} s")
                if self._thread is not None:
                    self._lock.wait(min(left, 1.0))
                    continue
            self.poll(wait=min(left, 20.0))

    def wait_for_ready(self, timeout: float = 30.0) -> Document:
        return self.wait_for_event("ready", timeout)

    # -- session bundles ---------------------------------------------------------------------

    def session_bundles(self) -> list[Document]:
        reply = send(
            self._http, "GET", f"{self.api}/_cellucid/session_bundles", params=self._credentials()
        )
        return list(json_object(check(reply))["bundles"])

    def get_session_bundle(self, request_id: str) -> SessionBundle:
        """A stored bundle, parsed: ``.manifest``, ``.chunk_ids()``, ``.decode_chunk(id)``."""
        reply = send(
            self._http,
            "GET",
            f"{self.api}/_cellucid/session_bundles/{request_id}",
            params=self._credentials(),
        )
        return SessionBundle.parse(check(reply).content)

    def _credentials(self) -> dict[str, str]:
        return {"viewerId": self.viewer_id, "viewerToken": self._token}

    def close(self) -> None:
        """Stop listening, then close the HTTP client if this viewer made it."""
        self.stop()
        super().close()
