"""The export format's declarations (``export/format.py``) are what the writer writes and what
the servers and reader parse."""

import re
from pathlib import Path

import pytest

from cellucid_cloud.export import prepare
from cellucid_cloud.export.format import (
    EDGE_SOURCES,
    ENCODINGS,
    FLOAT32,
    GENE_VALUES,
    KINDS,
    OBS_CODES,
    PayloadKind,
)
from cellucid_cloud.export.layout import files_on_disk
from tests.export_data import make_adata


def _pattern(kind: PayloadKind, compression: int) -> re.Pattern[str]:
    """Any path of ``kind``: every field a number, ``{ext}`` one of its encodings."""
    exts = "|".join(e.ext for e in kind.encodings)
    literal = re.escape(kind.manifest_pattern(None, compression))
    literal = literal.replace(re.escape("{ext}"), f"(?:{exts})")
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", r"\\d+", literal) + "$")


@pytest.mark.parametrize("compression", [0, 6])
def test_every_payload_written_is_a_declared_kind(tmp_path: Path, compression: int) -> None:
    adata = make_adata(n_cells=80, n_genes=6, seed=2)
    adata.obsm["velocity_umap"] = adata.obsm["X_umap"] * 0.1
    prepare(adata, tmp_path / "out", compression=compression, var_quantization=0)
    payloads = {p for p in files_on_disk(tmp_path / "out") if not p.endswith(".json")}
    kinds = {
        path: [kind.name for kind in KINDS if _pattern(kind, compression).match(path)]
        for path in payloads
    }
    assert all(len(names) == 1 for names in kinds.values()), kinds
    assert {names[0] for names in kinds.values()} == {kind.name for kind in KINDS}


def test_a_kinds_matcher_reads_the_index_its_paths_name() -> None:
    for encoding in GENE_VALUES.encodings:
        for compression in (0, 6):
            path = GENE_VALUES.path(encoding, compression, index=1234)
            match = GENE_VALUES.matcher(encoding, compression).match(path)
            assert match is not None and match["index"] == "1234"
    assert GENE_VALUES.matcher(FLOAT32).match("var/1.values.u8") is None
    assert GENE_VALUES.matcher(FLOAT32).match("var/1.values.f32.gz") is None
    assert GENE_VALUES.matcher(FLOAT32).match("var/../1.values.f32") is None


def test_a_path_names_an_encoding_its_kind_holds() -> None:
    with pytest.raises(ValueError, match="names their encoding"):
        GENE_VALUES.path(index=0)
    with pytest.raises(ValueError, match="are not uint32"):
        GENE_VALUES.path(ENCODINGS["u32"], index=0)
    assert EDGE_SOURCES.path(compression=6) == "connectivity/edges.src.bin.gz"


def test_narrowest_integer_encodings_keep_the_missing_code_free() -> None:
    """Codes 0..n-1 plus the missing code (the dtype maximum) fit; edge indices use the range."""
    assert OBS_CODES.narrowest(255).dtype == "uint8"  # 255 categories: codes 0-254, 255 missing
    assert OBS_CODES.narrowest(256).dtype == "uint16"
    assert EDGE_SOURCES.narrowest(65535).dtype == "uint16"
    assert EDGE_SOURCES.narrowest(65536).dtype == "uint32"
