"""The one rule for a relative path that names a file: an object key of a folder-backed store,
a file a manifest points to."""

from __future__ import annotations

__all__ = ["is_safe_relative_path"]


def is_safe_relative_path(path: str) -> bool:
    """True for a plain relative POSIX path: no ``.``/``..``/empty segments, no ``\\`` or NUL."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    return all(seg not in ("", ".", "..") for seg in path.split("/"))
