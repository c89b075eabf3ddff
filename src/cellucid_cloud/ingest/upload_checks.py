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
  zarr metadata wherever zarr reads it: each array's ``.zarray`` or ``zarr.json``, and the
  consolidated copies (v2 ``.zmetadata``, v3 ``consolidated_metadata`` in a group's
  ``zarr.json``), which zarr prefers when present; no ``pickle`` codec (zarr 2 ran it);
* both: what the arrays declare — every array's shape and chunk shapes times its item size,
  which is what reading it may allocate — is bounded by the upload's size: arrays that store
  (almost) nothing of what they declare (no codec shrinks data a millionfold, so such an array
  is mostly missing chunks, read as the fill value) may together declare no more than the
  upload's own size, and all arrays together at most :data:`MAX_DECLARED_RATIO` times it
  (both at least :data:`SMALL`). Deflate, which h5ad files use, inflates at most ~1,030-fold;
  zstd reaches ~32,700-fold and bz2 1.3 million-fold on zeros and more the larger the input,
  so a bound per codec would not bound bz2 at all: the bound is on the declaration.
  A file of a few kB that declares gigabytes is refused with what it declares instead of
  exhausting memory.

Member names are looked at once each, and stored sizes are summed per array over the sorted
names, so a member path 65,535 characters deep costs its length, not its depth squared.
These checks give a clear reason early; the memory and time limits of processing itself (the
Lambda's, ``up``'s child process) are what bound a file the checks do not foresee.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from cellucid_cloud.export import PrepareError

__all__ = ["UploadRefusedError", "check_upload", "hdf5_problem"]

MAX_ZIP_EXPANSION = 100
SMALL = 64 << 20
UNSTORED = 1 << 20
"""An array storing less than 1/UNSTORED of its declared bytes counts as unstored."""
MAX_DECLARED_RATIO = 1000
"""Bytes all arrays together may declare per byte of upload (deflate's worst case, roughly)."""
MAX_DECLARED = 1 << 80
"""Declarations are counted up to this (a shape of 10**400 stays a number we can print)."""
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


class _Declared:
    """What the arrays declare, against the upload's size."""

    def __init__(self, upload_size: int) -> None:
        self.upload_size = upload_size
        self.unstored_allowed = max(SMALL, upload_size)
        self.allowed = max(SMALL, MAX_DECLARED_RATIO * upload_size)
        self.total = self.unstored = 0
        self.largest = self.largest_unstored = ("", 0)

    def add(self, name: str, declared: int, stored: int) -> None:
        declared = min(declared, MAX_DECLARED)
        self.total += declared
        self.largest = max(self.largest, (name, declared), key=lambda item: item[1])
        if declared > UNSTORED * stored:
            self.unstored += declared
            self.largest_unstored = max(
                self.largest_unstored, (name, declared), key=lambda item: item[1]
            )

    def problem(self) -> str | None:
        if self.unstored > self.unstored_allowed:
            name, declared = self.largest_unstored
            return (
                f"arrays declare {_size(self.unstored)} they do not store (e.g. /{name}: "
                f"{_size(declared)} of missing chunks, read as the fill value)"
            )
        if self.total > self.allowed:
            name, declared = self.largest
            return (
                f"its arrays declare {_size(self.total)}, more than {MAX_DECLARED_RATIO:,} times "
                f"the file's {_size(self.upload_size)} (e.g. /{name}: {_size(declared)}); no "
                "real dataset compresses that well"
            )
        return None


def _hdf5_problem(path: Path) -> str | None:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError:
        return None
    with handle:
        return hdf5_problem(handle, path.stat().st_size)


def hdf5_problem(handle: Any, size: int) -> str | None:
    """What is wrong with an opened HDF5 file of ``size`` bytes (also one read from S3 by
    byte ranges), or None."""
    declared = _Declared(size)
    found = handle.visititems_links(lambda name, link: _link_problem(handle, name, link))
    if found is None:
        handle.visititems(lambda name, node: _count(declared, name, node))
    return found if found is not None else declared.problem()


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


def _count(declared: _Declared, name: str, node: Any) -> None:
    import h5py

    if isinstance(node, h5py.Dataset):
        size = math.prod(node.shape or ()) * node.dtype.itemsize
        declared.add(name, size, node.id.get_storage_size())


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
    """What the zarr metadata in the zip declares, against the chunks the zip holds."""
    arrays: dict[str, int] = {}
    """Array folder → the largest allocation any of its metadata declares."""
    for member in members:
        folder, _, leaf = member.filename.rpartition("/")
        if leaf not in _METADATA:
            continue
        if member.file_size > SMALL:
            return f"{member.filename} is {_size(member.file_size)}; zarr metadata is small"
        problem = _metadata_problem(folder, leaf, _json(archive.read(member)), arrays)
        if problem is not None:
            return problem
    names = sorted(members, key=lambda member: member.filename)
    keys = [member.filename for member in names]
    stored = list(itertools.accumulate((member.compress_size for member in names), initial=0))
    declared = _Declared(upload_size)
    for folder, size in arrays.items():
        prefix = f"{folder}/" if folder else ""
        start = bisect.bisect_left(keys, prefix)
        stop = bisect.bisect_left(keys, f"{folder}0") if folder else len(keys)  # "0" follows "/"
        declared.add(folder, size, stored[stop] - stored[start])
    return declared.problem()


_METADATA = (".zarray", "zarr.json", ".zmetadata")


def _json(data: bytes) -> Any:
    """A metadata document, or None if zarr could not parse it either (same parser)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _metadata_problem(folder: str, leaf: str, document: Any, arrays: dict[str, int]) -> str | None:
    """Record the arrays one metadata document declares (an array's own, or the consolidated
    metadata of a group and everything below it); a codec we refuse is a problem."""
    if not isinstance(document, dict):
        return None
    nested: dict[str, Any] = {}
    if leaf == ".zmetadata":
        entries = document.get("metadata")
        for key, entry in entries.items() if isinstance(entries, dict) else ():
            child, _, child_leaf = str(key).rpartition("/")
            if child_leaf == ".zarray":
                nested[child] = entry
    elif leaf == "zarr.json":
        consolidated = document.get("consolidated_metadata")
        entries = consolidated.get("metadata") if isinstance(consolidated, dict) else None
        nested = {str(k): v for k, v in entries.items()} if isinstance(entries, dict) else {}
        nested[""] = document
    else:
        nested[""] = document
    for relative, entry in nested.items():
        name = "/".join(part for part in (folder, relative) if part)
        problem = _array_problem(name, entry)
        if problem is not None:
            return problem
        size = _declared_bytes(entry)
        if size is not None:
            arrays[name] = max(arrays.get(name, 0), size)
    return None


def _array_problem(name: str, entry: Any) -> str | None:
    if "pickle" in _codec_names(entry):
        return f"/{name} uses the pickle codec, which runs code when read; save it with zstd"
    return None


def _codec_names(entry: Any) -> set[str]:
    """Every codec id or name in an array's metadata (v2 compressor and filters, v3 codecs
    and the codecs nested in them)."""
    names: set[str] = set()
    if not isinstance(entry, dict):
        return names
    pending = [entry.get("compressor"), entry.get("filters"), entry.get("codecs")]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for key in ("id", "name"):
                if isinstance(node.get(key), str):
                    names.add(node[key].removeprefix("numcodecs."))
            pending += node.values()
        elif isinstance(node, list):
            pending += node
    return names


def _declared_bytes(document: Any) -> int | None:
    """What reading an array may allocate: its shape, or a chunk shape if that is larger
    (a chunk decodes whole), times its item size; None if ``document`` is no array's."""
    if not isinstance(document, dict) or document.get("node_type", "array") != "array":
        return None
    shapes = [document.get("shape"), document.get("chunks"), *_chunk_shapes(document)]
    sizes = [math.prod(s) for s in shapes if isinstance(s, list) and _counts(s)]
    if not sizes:
        return None
    dtype = document.get("data_type", document.get("dtype"))
    try:
        itemsize = np.dtype(dtype).itemsize if isinstance(dtype, str | list) else 0
    except (TypeError, ValueError):
        itemsize = 0
    return min(max(sizes) * (itemsize or STRING_ITEMSIZE), MAX_DECLARED)


def _counts(shape: list[Any]) -> bool:
    return all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)


def _chunk_shapes(document: dict[str, Any]) -> list[Any]:
    """zarr v3 chunk shapes: the chunk grid's, and those of sharding codecs inside."""
    found: list[Any] = []
    pending: list[Any] = [document.get("chunk_grid"), document.get("codecs")]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            found.append(node.get("chunk_shape"))
            pending += node.values()
        elif isinstance(node, list):
            pending += node
    return found
