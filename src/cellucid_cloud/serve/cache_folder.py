"""The cache folder of direct serving: what is derived from an input file, named by its version.

``serve FILE`` keeps two things there: the gene-major copy of X (``gene_copy.py``) and the
built manifests (``manifest_cache.py``). Both are named ``<file name>.<digest of its resolved
path>.<digest of its version>``, the version being (path, size, mtime_ns, BLAKE2b of the first
and last MiB; for a zarr folder, every file's path, size and mtime). What carries another
version's name is never read, and is deleted when a new version's entries are written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from cellucid_cloud.core.files import process_alive

__all__ = ["FileKey", "cache_root", "remove_other_versions"]

FORMAT: Final = 1
_EDGE: Final = 1 << 20
_PARTIAL: Final = re.compile(r"\.partial-(\d+)$")


@dataclass(frozen=True)
class FileKey:
    """What identifies one version of an input file (or zarr folder)."""

    path: str
    size: int
    mtime_ns: int
    content: str

    @classmethod
    def of(cls, path: Path) -> FileKey:
        resolved = path.resolve()
        digest = hashlib.blake2b(digest_size=16)
        if resolved.is_dir():
            size = mtime = 0
            for folder, dirs, files in os.walk(resolved):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(folder, name)
                    st = os.stat(full)
                    size += st.st_size
                    mtime = max(mtime, st.st_mtime_ns)
                    rel = os.path.relpath(full, resolved)
                    digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            return cls(str(resolved), size, mtime, digest.hexdigest())
        with resolved.open("rb") as handle:
            st = os.fstat(handle.fileno())
            digest.update(handle.read(_EDGE))
            if st.st_size > _EDGE:
                handle.seek(max(_EDGE, st.st_size - _EDGE))
                digest.update(handle.read(_EDGE))
        return cls(str(resolved), st.st_size, st.st_mtime_ns, digest.hexdigest())

    def folder_name(self) -> str:
        """``<stem>.<path digest>.<version digest>``: one prefix per file, one name per version."""
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(self.path).name)[:60] or "data"
        where = hashlib.blake2b(self.path.encode(), digest_size=6).hexdigest()
        version = hashlib.blake2b(
            json.dumps([FORMAT, asdict(self)]).encode(), digest_size=10
        ).hexdigest()
        return f"{stem}.{where}.{version}"


def _private_folder(folder: Path) -> bool:
    """Create ``folder`` (0700) if needed; True if it is a real folder of ours we can write."""
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(folder)
    except OSError:
        return False
    return (
        stat.S_ISDIR(st.st_mode)
        and st.st_uid == os.getuid()
        and os.access(folder, os.W_OK | os.X_OK)
    )


def cache_root(path: Path, chosen: Path | None = None) -> Path:
    """``chosen``, else ``$CELLUCID_CACHE_DIR``, else ``.cellucid-cache`` beside the input, else
    a private temp folder; each must be a folder of ours (not a symlink), created 0700."""
    candidates = [Path(tempfile.gettempdir()) / f"cellucid-cloud-{os.getuid()}"]
    chosen = chosen or (
        Path(os.environ["CELLUCID_CACHE_DIR"]) if os.environ.get("CELLUCID_CACHE_DIR") else None
    )
    if chosen is not None:
        candidates = [chosen]
    else:
        candidates.insert(0, path.resolve().parent / ".cellucid-cache")
    for folder in candidates:
        if _private_folder(folder):
            return folder
    raise OSError(f"no cache folder for {path} (tried {', '.join(map(str, candidates))})")


def remove_other_versions(root: Path, key: FileKey) -> None:
    """Delete the entries of other versions of ``key``'s file, and builds (``.partial-<pid>``)
    whose server has died; a running server's build and this version's entries stay."""
    name = key.folder_name()
    prefix = name.rsplit(".", 1)[0] + "."
    for entry in root.iterdir():
        if not entry.name.startswith(prefix):
            continue
        partial = _PARTIAL.search(entry.name)
        if partial is not None:
            if process_alive(int(partial.group(1))):
                continue
        elif entry.name == name or entry.name.startswith(name + "."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
