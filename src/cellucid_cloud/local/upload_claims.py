"""Each local upload URL takes one PUT: a body that arrives whole uses it up.

A presigned S3 PUT signs one key, one length and an expiry; here an upload URL's token also has
an id, and the upload route claims it before it writes a byte: a marker file made with
``O_EXCL`` in ``DATA_DIR/upload-claims/``, so two PUTs racing with one URL cannot both have it,
and a restart keeps what was used. A PUT that fails (cut off, too long, too short) gives its
claim back, so the curator can send the file again with the same URL while it is valid. A
marker is kept as long as a token can live (15 minutes), then removed.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from cellucid_cloud.core.ports import Timer
from cellucid_cloud.storage.upload_urls import MAX_UPLOAD_EXPIRY

__all__ = ["UploadClaims"]


class UploadClaims:
    def __init__(self, folder: Path, clock: Timer = time.time) -> None:
        self.folder = folder
        self.clock = clock
        folder.mkdir(mode=0o700, exist_ok=True)

    def claim(self, token_id: str) -> bool:
        """Take the URL with this token id; False when a PUT has it or had it."""
        self._prune()
        try:
            os.close(os.open(self._marker(token_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            return False
        return True

    def release(self, token_id: str) -> None:
        """A PUT with this URL failed: it may be sent again."""
        self._marker(token_id).unlink(missing_ok=True)

    def _marker(self, token_id: str) -> Path:
        if not token_id.isalnum():
            raise ValueError("malformed upload token id")
        return self.folder / token_id

    def _prune(self) -> None:
        """Markers of tokens that have expired (any marker older than a token lives)."""
        cutoff = self.clock() - MAX_UPLOAD_EXPIRY - 60
        for marker in self.folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if marker.stat().st_mtime < cutoff:
                    marker.unlink()
