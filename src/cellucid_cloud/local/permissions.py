"""The data directory is the server's alone: other local users must not read private datasets,
their uploads, exports, sessions, databases or keys.

``up`` creates the data directory with mode 700 and runs with umask 077, so everything it
writes there (SQLite files and their journals, uploads, exports, session bundles, scratch) is
600, and folders 700; the exports are served by this process, which needs no one else to read
them. A data directory that already exists with a looser mode (made by an older version, or
by hand) is tightened at start, with everything in it, and the start says how many entries it
changed. Files a user later copies into ``uploads/`` by hand keep their mode, but no one else
can reach them through the 700 directory.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_UMASK", "private_data_dir"]

PRIVATE_UMASK = 0o077
"""What ``up`` sets for its whole process (children inherit it)."""

log = logging.getLogger(__name__)


def private_data_dir(data: Path) -> int:
    """Create ``data`` (mode 700) or tighten an existing one and everything in it; how many
    entries were changed. Symbolic links are left alone (their mode means nothing)."""
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not stat.S_IMODE(data.stat().st_mode) & 0o077:
        return 0
    changed = 0
    for root, folders, files in os.walk(data):
        for name in [*folders, *files]:
            changed += _tighten(Path(root) / name)
    changed += _tighten(data)
    log.warning("tightened the permissions of %s: %d entries are now private", data, changed)
    return changed


def _tighten(path: Path) -> int:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & 0o077:
        return 0
    path.chmod(stat.S_IMODE(mode) & 0o700)
    return 1
