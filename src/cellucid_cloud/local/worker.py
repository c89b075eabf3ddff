"""The local stack's processing worker: one background thread, never the request thread.

Uploads reach it two ways, like the uploads bucket's events on AWS: the upload route hands
over the key of a file it has just finished writing (``<collection_id>/<dataset_id>/<upload
id>.h5ad``, accepted when its URL was issued), and a poller finds files dropped straight into
``DATA_DIR/uploads/<collection_id>/<dataset_id>.h5ad`` once their size and modification time
have held still for one poll (so a file still being copied in is not read half-written); a
drop is identified by its key, size and mtime. Everything found at start-up is submitted
again: the catalog knows which uploads it finished or replaced, and those are skipped without
being read; only unfinished ones (a crash left them waiting or ``processing``) are processed.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path

from cellucid_cloud.catalog.processing import UPLOAD_SUFFIXES, Arrival, Outcome, Processor
from cellucid_cloud.local.prepare_process import ProcessingCancelledError

__all__ = ["UploadWorker"]

log = logging.getLogger(__name__)


class UploadWorker:
    def __init__(self, processor: Processor, uploads_dir: Path, poll_interval: float = 1.0) -> None:
        self.processor = processor
        self.uploads_dir = uploads_dir
        self.poll_interval = poll_interval
        self.outcomes: list[Outcome] = []
        self._queue: queue.Queue[str | Arrival] = queue.Queue()
        self._queued: set[str] = set()
        self._seen: dict[str, tuple[int, int]] = {}
        self._pending: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._process_loop, name="upload-worker", daemon=True),
            threading.Thread(target=self._poll_loop, name="upload-poller", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put("")
        for thread in self._threads:
            thread.join(timeout=30)

    def submit(self, key: str) -> None:
        """Process ``key`` (a file in the uploads folder that is complete)."""
        path = self.uploads_dir / key
        with self._lock:
            try:
                stat = path.stat()
            except FileNotFoundError:
                return
            self._seen[key] = (stat.st_size, stat.st_mtime_ns)
            self._pending.pop(key, None)
            if key in self._queued:
                return
            self._queued.add(key)
        self._queue.put(key)

    def reprocess(self, key: str, upload_id: str, etag: str | None) -> None:
        """Process an upload again (its export options changed)."""
        self._queue.put(Arrival(key, etag=etag, upload_id=upload_id))

    def _process_loop(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if not item:
                continue
            arrival = item if isinstance(item, Arrival) else self._arrival(item)
            if arrival is None:
                continue
            key = arrival.key
            try:
                outcome = self.processor.process(arrival)
            except ProcessingCancelledError:
                return  # shutting down: the next start processes the upload again
            except Exception:
                log.exception("processing %s crashed; its version is marked failed", key)
                continue
            self.outcomes.append(outcome)
            log.info("upload %s: %s %s", key, outcome.status, outcome.reason or "")

    def _arrival(self, key: str) -> Arrival | None:
        """A file of the uploads folder as a put: a drop is known by its size and mtime."""
        with self._lock:
            self._queued.discard(key)
        try:
            stat = (self.uploads_dir / key).stat()
        except FileNotFoundError:
            return None
        return Arrival(
            key,
            put=f"{stat.st_size}-{stat.st_mtime_ns}",
            at=datetime.fromtimestamp(stat.st_mtime_ns / 1e9, UTC),
            sequence=f"{stat.st_mtime_ns:020d}",
        )

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except OSError:
                log.exception("scanning %s failed", self.uploads_dir)
            self._stop.wait(self.poll_interval)

    def poll(self) -> None:
        """Submit files that are new or changed and have held still since the last poll."""
        found = [*self.uploads_dir.glob("*/*"), *self.uploads_dir.glob("*/*/*")]
        for path in sorted(found, key=_put_order):
            if not path.name.endswith(UPLOAD_SUFFIXES) or path.name.startswith("."):
                continue
            key = path.relative_to(self.uploads_dir).as_posix()
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            signature = (stat.st_size, stat.st_mtime_ns)
            with self._lock:
                if self._seen.get(key) == signature:
                    continue
                stable = self._pending.get(key) == signature
                self._pending[key] = signature
            if stable:
                self.submit(key)


def _put_order(path: Path) -> tuple[int, str]:
    """Oldest first, so a restart handles uploads in the order they came."""
    try:
        return (path.stat().st_mtime_ns, path.as_posix())
    except FileNotFoundError:
        return (0, path.as_posix())
