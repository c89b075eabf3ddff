"""What an uploaded file must pass before the AnnData reader opens it.

The reader trusts the container: HDF5 resolves external links, external raw storage and
virtual datasets by opening other files on the machine, and zarr reads whatever a zip names,
reads a missing chunk as the fill value and inflates a member to whatever size it claims. For
a curator's own file on their own machine that is fine; an upload to a shared service must not
be able to pull another curator's upload or a server file into its export, nor make the
worker allocate memory its file does not hold. So, before reading:

* HDF5: no external link, no dataset stored in another file or mapped from one (virtual),
  and no dataset compressed with a filter this server cannot decode (said up front, by name,
  rather than as a plugin-folder error in the middle of the export);
* zip: a real zip whose member names are plain relative paths (no ``..``, no absolute or
  backslash names), no symbolic links, and members that together inflate at most
  :data:`MAX_ZIP_EXPANSION`-fold (a zarr chunk is compressed already; zipping gains little);
* both: arrays that store (almost) nothing of what they declare — no codec shrinks data a
  millionfold, so such an array is mostly missing chunks, read as the fill value — may
  together declare no more than the upload's own size (at least :data:`SMALL`). Honest files
  have a few such arrays (all-false masks) of a few bytes per cell; a file of a few kB that
  declares terabytes is refused instead of exhausting memory.
"""

from __future__ import annotations

import json
import math
import stat
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from cellucid_cloud.export import PrepareError

__all__ = ["UploadRefusedError", "check_upload"]

MAX_ZIP_EXPANSION = 100
SMALL = 64 << 20
UNSTORED = 1 << 20
"""An array storing less than 1/UNSTORED of its declared bytes counts as unstored."""
STRING_ITEMSIZE = 16
"""Bytes per element assumed for types numpy cannot size (zarr's variable-length strings)."""


class UploadRefusedError(PrepareError):
    """The upload tries something no AnnData file needs; the message says what."""


def check_upload(path: Path, suffix: str) -> None:
    """Raise :class:`UploadRefusedError` if the upload at ``path`` is unsafe to read. A file
    that is not HDF5 passes: the reader says what is wrong with it."""
    if path.stat().st_size == 0:
        problem: str | None = "the file is empty (0 bytes)"
    elif suffix == ".zarr.zip":
        problem = _zip_problem(path)
    else:
        problem = _hdf5_problem(path)
    if problem is not None:
        raise UploadRefusedError(f"{path}: {problem}")


def _size(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} TiB"


class _Unstored:
    """Arrays that store almost none of what they declare, against the upload's size."""

    def __init__(self, upload_size: int) -> None:
        self.allowed = max(SMALL, upload_size)
        self.total = 0
        self.largest = ("", 0)

    def add(self, name: str, declared: int, stored: int) -> None:
        if declared > UNSTORED * stored:
            self.total += declared
            self.largest = max(self.largest, (name, declared), key=lambda item: item[1])

    def problem(self) -> str | None:
        if self.total <= self.allowed:
            return None
        name, declared = self.largest
        return (
            f"arrays declare {_size(self.total)} they do not store (e.g. /{name}: "
            f"{_size(declared)} of missing chunks, read as the fill value)"
        )


def _hdf5_problem(path: Path) -> str | None:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError:
        return None
    unstored = _Unstored(path.stat().st_size)
    with handle:
        found = handle.visititems_links(lambda name, link: _link_problem(handle, name, link))
        if found is None:
            handle.visititems(lambda name, node: _count(unstored, name, node))
    return found if found is not None else unstored.problem()


def _link_problem(handle: Any, name: str, link: Any) -> str | None:
    import h5py

    if isinstance(link, h5py.ExternalLink):
        return f"/{name} links to {link.filename!r}, outside the upload; embed the data"
    if not isinstance(link, h5py.HardLink):
        return None
    node = handle.get(name)
    if isinstance(node, h5py.Dataset) and node.is_virtual:
        return f"/{name} is a virtual dataset mapped from outside the upload; embed the data"
    if isinstance(node, h5py.Dataset) and node.external:
        return f"/{name} keeps its data in a file outside the upload; embed the data"
    if isinstance(node, h5py.Dataset):
        return _filter_problem(name, node)
    return None


def _filter_problem(name: str, dataset: Any) -> str | None:
    import h5py

    plist = dataset.id.get_create_plist()
    for index in range(plist.get_nfilters()):
        code, _flags, _values, label = plist.get_filter(index)
        if not h5py.h5z.filter_avail(code):
            called = label.decode(errors="replace") if isinstance(label, bytes) else str(label)
            return (
                f"/{name} is compressed with HDF5 filter {code} ({called or 'unnamed'}), which "
                "this server cannot decode; save it with gzip or lzf"
            )
    return None


def _count(unstored: _Unstored, name: str, node: Any) -> None:
    import h5py

    if isinstance(node, h5py.Dataset):
        declared = math.prod(node.shape or ()) * node.dtype.itemsize
        unstored.add(name, declared, node.id.get_storage_size())


def _zip_problem(path: Path) -> str | None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return f"not a zip archive ({exc})"
    with archive:
        members = archive.infolist()
        for member in members:
            problem = _member_problem(member)
            if problem is not None:
                return problem
        inflated = sum(member.file_size for member in members)
        compressed = sum(member.compress_size for member in members)
        if inflated > SMALL + MAX_ZIP_EXPANSION * compressed:
            return f"its members inflate from {_size(compressed)} to {_size(inflated)} (a zip bomb)"
        return _zarr_problem(archive, members, path.stat().st_size)


def _member_problem(member: zipfile.ZipInfo) -> str | None:
    name = member.filename
    if "\\" in name or name.startswith("/") or ".." in PurePosixPath(name).parts:
        return f"unsafe member name {name!r} (a zarr store has only relative names)"
    if stat.S_ISLNK(member.external_attr >> 16):
        return f"member {name!r} is a symbolic link; a zarr store holds only files"
    return None


def _zarr_problem(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], upload_size: int
) -> str | None:
    """Arrays (zarr v2 ``.zarray``, v3 ``zarr.json``) whose chunks in the zip are missing."""
    stored: Counter[str] = Counter()
    declared: dict[str, int] = {}
    for member in members:
        folder, _, leaf = member.filename.rpartition("/")
        if leaf in (".zarray", "zarr.json") and member.file_size <= SMALL:
            size = _declared_bytes(archive.read(member))
            if size is not None:
                declared[folder] = size
            continue
        if folder:
            for parent in (PurePosixPath(folder), *PurePosixPath(folder).parents):
                stored[str(parent)] += member.compress_size
    unstored = _Unstored(upload_size)
    for folder, size in declared.items():
        unstored.add(folder, size, stored[folder])
    return unstored.problem()


def _declared_bytes(metadata: bytes) -> int | None:
    try:
        document = json.loads(metadata)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("node_type", "array") != "array":
        return None
    shape = document.get("shape")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        return None
    dtype = document.get("data_type", document.get("dtype"))
    try:
        itemsize = np.dtype(dtype).itemsize if isinstance(dtype, str) else STRING_ITEMSIZE
    except TypeError:
        itemsize = STRING_ITEMSIZE
    return math.prod(shape) * max(itemsize, 1)
