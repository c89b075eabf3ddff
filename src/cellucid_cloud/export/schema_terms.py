"""The CELLxGENE schema's descriptive terms of a dataset: organism, tissue, assay, disease.

When an upload's obs follows the CELLxGENE schema, each of these is a column of labels beside a
``<field>_ontology_term_id`` column. The export records the distinct (label, ontology id) pairs
in its identity (``ontology_terms``), so the collection pages list them without opening the
export. A column that is missing leaves its field out; a label column alone gives terms with an
empty id; an id column alone gives the id as the label.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from .manifests import OntologyTermInfo

__all__ = ["MAX_TERMS", "SCHEMA_TERM_FIELDS", "schema_terms"]

SCHEMA_TERM_FIELDS: Final = ("organism", "tissue", "assay", "disease")
MAX_TERMS: Final = 200
"""At most this many terms per field (the most frequent): bounds the identity's size."""


def schema_terms(obs: pd.DataFrame) -> dict[str, list[OntologyTermInfo]]:
    """The terms of every schema field the obs carries, most frequent first."""
    found: dict[str, list[OntologyTermInfo]] = {}
    for field in SCHEMA_TERM_FIELDS:
        labels = obs[field] if field in obs.columns else None
        id_key = f"{field}_ontology_term_id"
        ids = obs[id_key] if id_key in obs.columns else None
        shown = labels if labels is not None else ids
        if shown is None:
            continue
        terms = _pairs(shown, ids)
        if terms:
            found[field] = terms
    return found


def _pairs(labels: pd.Series, ids: pd.Series | None) -> list[OntologyTermInfo]:
    """Distinct (label, id) pairs over the cells, by count (then first seen order of the
    categories); cells without a label are skipped. Works on category codes, so a million
    cells cost a few integer passes."""
    label_cat = pd.Categorical(labels.astype("string"))
    id_cat = pd.Categorical(ids.astype("string")) if ids is not None else None
    label_codes = np.asarray(label_cat.codes, dtype=np.int64)
    # An id code of 0 means "no id"; category i is i + 1.
    id_codes = (
        np.asarray(id_cat.codes, dtype=np.int64) + 1
        if id_cat is not None
        else np.zeros_like(label_codes)
    )
    width = len(id_cat.categories) + 1 if id_cat is not None else 1
    present = label_codes >= 0
    keys, counts = np.unique(label_codes[present] * width + id_codes[present], return_counts=True)
    order = sorted(range(len(keys)), key=lambda i: (-int(counts[i]), int(keys[i])))
    terms = []
    for i in order[:MAX_TERMS]:
        label_code, id_code = divmod(int(keys[i]), width)
        term_id = str(id_cat.categories[id_code - 1]) if id_cat is not None and id_code else ""
        label = str(label_cat.categories[label_code])
        terms.append(OntologyTermInfo(label=label, ontology_term_id=term_id))
    return terms
