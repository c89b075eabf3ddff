"""anndata's own corpus of files written by older anndata releases (``tests/data/archives`` in
its source distribution), fetched from PyPI once and cached in ``.cache/`` of this repo.

The source distribution is pinned by version and SHA-256: the corpus is a fixed set of files.
If it cannot be fetched the tests that need it fail (they are never skipped).
"""

import hashlib
import json
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path, PurePosixPath

SDIST = "anndata-0.13.4.tar.gz"
SDIST_SHA256 = "fadee3955b4b826dd23d9c0aa296147d8624f8222210b6c8abc3c115a111dce4"
INDEX = "https://pypi.org/simple/anndata/"
CACHE = Path(__file__).resolve().parents[1] / ".cache" / SDIST.removesuffix(".tar.gz")
ARCHIVES = "tests/data/archives/"

FILES = (
    "v0.5.0/adata.h5ad",
    "v0.7.0/adata.h5ad",
    "v0.7.0/adata.zarr.zip",
    "v0.7.8/adata.h5ad",
    "v0.7.8/adata.zarr.zip",
    "v0.11.4/adata.h5ad",
    "v0.11.4/adata.zarr.zip",
    "v0.13.3/adata.h5ad",
    "v0.13.3/adata.zarr.zip",
)
"""Every AnnData file of the corpus (checked: the archive holds exactly these)."""


def _sdist_url() -> str:
    """The file's address from PyPI's JSON simple index (PEP 691)."""
    request = urllib.request.Request(
        INDEX, headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        listing = json.load(answer)
    for entry in listing["files"]:
        if entry["filename"] == SDIST:
            return str(entry["url"])
    raise LookupError(f"{SDIST} is not listed at {INDEX}")


def archives() -> Path:
    """The folder holding ``v*/adata.*``, downloading and unpacking the sdist if needed."""
    if (CACHE / ".complete").is_file():
        return CACHE
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE.parent) as tmp:
        sdist = Path(tmp) / SDIST
        with urllib.request.urlopen(_sdist_url(), timeout=300) as answer, sdist.open("wb") as out:
            shutil.copyfileobj(answer, out)
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != SDIST_SHA256:
            raise ValueError(f"{SDIST}: SHA-256 {digest}, expected {SDIST_SHA256}")
        unpacked = Path(tmp) / "archives"
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                parts = PurePosixPath(member.name).parts
                inner = "/".join(parts[1:])
                if member.isfile() and inner.startswith(ARCHIVES) and ".." not in parts:
                    target = unpacked / inner.removeprefix(ARCHIVES)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = archive.extractfile(member)
                    assert source is not None
                    target.write_bytes(source.read())
        (unpacked / ".complete").write_text(SDIST_SHA256)
        try:
            unpacked.rename(CACHE)
        except OSError:  # another process finished first
            if not (CACHE / ".complete").is_file():
                raise
    return CACHE
