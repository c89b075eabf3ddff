"""Writing a file or a folder under a temporary name beside its target, then moving it into
place in one rename (the same file system), so that readers see the old content or the new,
never part of it, even across a crash.

The temporary name is the caller's: each kind of leftover has its own pattern that its owner
sweeps after a crash (``.incoming-*`` uploads, ``.staging-*`` exports, ``.partial-<pid>``
caches).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Staged", "process_alive", "staged"]


@dataclass(frozen=True, slots=True)
class Staged:
    path: Path
    """Where to write."""
    target: Path

    def publish(self) -> None:
        """Move what was written onto the target (a file replaces a file; a folder takes the
        place of none or of an empty one, else OSError)."""
        os.replace(self.path, self.target)


@contextmanager
def staged(target: Path, temporary: Path) -> Iterator[Staged]:
    """A :class:`Staged` write of ``target`` at ``temporary``; whatever is still there when
    the block ends (it failed, refused the data, or never published) is removed."""
    try:
        yield Staged(temporary, target)
    finally:
        if temporary.is_dir() and not temporary.is_symlink():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (on this machine), so that a leftover named by its
    pid is its owner's work in progress rather than a crash's to sweep."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
