"""What the identity says about the export, as Cellucid 0.9.4's web app and the collection pages
read it: a concrete categorical dtype, a Cellucid format version the app knows (ours apart),
and the CELLxGENE schema terms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellucid_cloud import __version__, prepare
from tests.export_data import make_adata


def identity(folder: Path) -> dict:
    return json.loads((folder / "dataset_identity.json").read_text())


def test_versions_name_cellucids_format_and_ours_apart(tmp_path: Path) -> None:
    prepare(make_adata(50, 5), tmp_path / "out")
    written = identity(tmp_path / "out")
    assert written["cellucid_data_version"] == "0.9.4"
    assert written["cellucid_cloud_version"] == __version__


@pytest.mark.parametrize(
    ("n_categories", "requested", "expected"),
    [(4, "auto", "uint8"), (300, "auto", "uint16"), (4, "uint32", "uint32")],
)
def test_the_categorical_dtype_is_concrete(
    tmp_path: Path, n_categories: int, requested: str, expected: str
) -> None:
    adata = make_adata(400, 5)
    adata.obs["wide"] = pd.Categorical([f"c{i % n_categories}" for i in range(400)])
    prepare(adata, tmp_path / "out", obs_categorical_dtype=requested)
    assert identity(tmp_path / "out")["export_settings"]["obs_categorical_dtype"] == expected


def test_a_dataset_without_categorical_fields_still_names_a_width(tmp_path: Path) -> None:
    adata = make_adata(50, 5)
    adata.obs = adata.obs[["total_counts"]]
    prepare(adata, tmp_path / "out")
    assert identity(tmp_path / "out")["export_settings"]["obs_categorical_dtype"] == "uint8"


def test_cellxgene_schema_terms_are_collected(tmp_path: Path) -> None:
    adata = make_adata(60, 5)
    rng = np.random.default_rng(0)
    tissue = rng.choice(["lung", "blood"], 60, p=[0.7, 0.3])
    adata.obs["tissue"] = pd.Categorical(tissue)
    adata.obs["tissue_ontology_term_id"] = pd.Categorical(
        np.where(tissue == "lung", "UBERON:0002048", "UBERON:0000178")
    )
    adata.obs["organism"] = pd.Categorical(["Homo sapiens"] * 60)
    adata.obs["assay_ontology_term_id"] = pd.Categorical(["EFO:0009922"] * 60)
    prepare(adata, tmp_path / "out")
    terms = identity(tmp_path / "out")["ontology_terms"]
    assert terms == {
        "organism": [{"label": "Homo sapiens", "ontology_term_id": ""}],
        "tissue": [
            {"label": "lung", "ontology_term_id": "UBERON:0002048"},
            {"label": "blood", "ontology_term_id": "UBERON:0000178"},
        ],
        "assay": [{"label": "EFO:0009922", "ontology_term_id": "EFO:0009922"}],
    }


def test_no_schema_columns_no_terms(tmp_path: Path) -> None:
    prepare(make_adata(50, 5), tmp_path / "out")
    assert "ontology_terms" not in identity(tmp_path / "out")
