"""The viewer's JavaScript decoder gives exactly what the Python reader gives, payload by payload,
for every encoding the format declares (``export/format.py``): float32 or quantised values,
every width of categorical codes, gzip or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, Route

from cellucid_cloud.export import prepare
from cellucid_cloud.export.format import GENE_VALUES, OBS_CODES, OBS_VALUES
from cellucid_cloud.export.reader import ExportReader
from tests.e2e.browser import open_viewer
from tests.e2e.conftest import World
from tests.export_data import make_adata


def _variants() -> dict[str, dict[str, Any]]:
    """Export settings that between them write every encoding the format declares for genes,
    continuous obs fields and categorical codes, compressed and not."""
    genes, values, codes = GENE_VALUES.encodings, OBS_VALUES.encodings, OBS_CODES.encodings
    variants = {}
    for i in range(max(len(genes), len(values), len(codes))):
        gene, value, code = (
            genes[i % len(genes)],
            values[(i + 1) % len(values)],
            codes[i % len(codes)],
        )
        variants[f"genes-{gene.ext}-obs-{value.ext}-codes-{code.ext}"] = {
            "compression": 6 * (i % 2),
            "var_quantization": gene.quantization,
            "obs_quantization": value.quantization,
            "obs_categorical_dtype": code.dtype,
        }
    return variants


VARIANTS = _variants()

# Decodes every payload of the export at `base` with the viewer's own module.
_DECODE_ALL = """async (base) => {
  const data = await import("/viewer/data.js");
  const get = async (name) => (await fetch(base + name)).json();
  const identity = await get("dataset_identity.json");
  const obs = await get("obs_manifest.json");
  const vars = await get("var_manifest.json");
  const n = identity.stats.n_cells;
  const bytes = (path) => data.fetchBytes(base + path);
  const out = { embeddings: {}, continuous: {}, categorical: {}, genes: [] };
  out.codesExt = data.CODES_EXT;
  for (const id of Object.keys(identity.embeddings.items)) {
    const spec = data.embeddingSpec(identity, id);
    const values = data.decodeEmbedding(await bytes(spec.path), n, spec.dimension);
    out.embeddings[id] = Array.from(values);
  }
  for (const [, key] of obs._continuousFields) {
    const spec = data.continuousSpec(obs, key);
    const values = data.decodeValues(await bytes(spec.path), spec.ext, spec.bounds, n);
    out.continuous[key] = Array.from(values);
  }
  for (const [, key] of obs._categoricalFields) {
    const spec = data.categoricalSpec(obs, key);
    const codes = data.decodeCodes(await bytes(spec.path), spec.codesDtype, n);
    const plain = Array.from(codes, (c) => (c === spec.missing ? -1 : c));
    out.categorical[key] = [spec.categories, plain];
  }
  for (let g = 0; g < vars.fields.length; g++) {
    const spec = data.geneSpec(vars, g);
    out.genes.push(Array.from(data.decodeValues(await bytes(spec.path), spec.ext, spec.bounds, n)));
  }
  return out;
}"""


def _same(js: list[float], py: np.ndarray) -> None:
    """Equal as float32, NaN where NaN."""
    np.testing.assert_array_equal(np.asarray(js, dtype=np.float32), py)


def _check(decoded: dict[str, Any], reader: ExportReader) -> None:
    assert decoded["codesExt"] == {e.dtype: e.ext for e in OBS_CODES.encodings}
    identity = reader.manifests.identity
    for embedding_id in identity.embeddings.items:
        _same(decoded["embeddings"][embedding_id], reader.embedding(embedding_id).ravel())
    assert decoded["continuous"], "no continuous field was decoded"
    for key, values in decoded["continuous"].items():
        _same(values, reader.continuous(key))
    assert decoded["categorical"]
    for key, (categories, codes) in decoded["categorical"].items():
        expected_categories, expected_codes = reader.categorical(key)
        assert categories == expected_categories
        np.testing.assert_array_equal(np.asarray(codes), expected_codes)
    assert len(decoded["genes"]) == len(reader.gene_names)
    for index, values in enumerate(decoded["genes"]):
        _same(values, reader.gene(index))


def test_decoder_matches_the_python_reader_on_a_hosted_export(page: Page, world: World) -> None:
    open_viewer(page, world.url(f"/e/{world.clusters.dataset_id}/"))
    base = page.evaluate("document.body.dataset.exportUrl")
    decoded = page.evaluate(_DECODE_ALL, base)
    reader = world.clusters.reader()
    assert np.isnan(reader.continuous("score")).sum() == 200
    _check(decoded, reader)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_decoder_matches_the_python_reader_on_every_encoding(
    page: Page, world: World, tmp_path: Path, variant: str
) -> None:
    folder = tmp_path / variant
    prepare(make_adata(n_cells=300, n_genes=12, seed=5), folder, **VARIANTS[variant])
    reader = ExportReader(folder)
    prefix = world.url(f"/_variant/{variant}/")

    def serve(route: Route) -> None:
        relative = route.request.url.removeprefix(prefix)
        route.fulfill(
            body=(folder / relative).read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )

    page.route(f"{prefix}**", serve)
    open_viewer(page, world.url(f"/e/{world.small.dataset_id}/"))
    _check(page.evaluate(_DECODE_ALL, prefix), reader)
