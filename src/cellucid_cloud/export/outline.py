"""What an export holds besides its genes: the plan, every other payload and the manifests.

Everything that can be refused (embeddings, obs, names, graph) is read and checked by
:func:`plan_export` and :func:`outline_export` before their payloads are written; the genes are
written beside them by the gene writer (``prepare.py``), and :func:`describe_export` waits for
them last. Shared by ``prepare``, direct serving (``on_demand.py``) and the distributed export.
"""

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from .. import __version__
from .centroids import CategoryGroups, centroids, outlier_quantiles
from .connectivity import Edges, edge_pairs
from .embeddings import (
    Defaults,
    Embedding,
    VectorField,
    choose_defaults,
    select_embeddings,
    select_vector_fields,
)
from .errors import PrepareError
from .format import (
    EDGE_DESTINATIONS,
    EDGE_SOURCES,
    EDGE_WEIGHTS,
    EMBEDDING,
    GENE_VALUES,
    OBS_CODES,
    OBS_OUTLIERS,
    OBS_VALUES,
    VECTORS,
    Encoding,
)
from .gene_encoder import GeneBounds
from .gene_names import GeneNames, gene_names
from .layout import ExportManifests
from .manifests import (
    CELLUCID_DATA_VERSION,
    CONNECTIVITY_MANIFEST_FILE,
    IDENTITY_FILE,
    OBS_MANIFEST_FILE,
    VAR_MANIFEST_FILE,
    CategoricalFieldEntry,
    CategoricalSchema,
    ConnectivityManifest,
    ContinuousSchema,
    DatasetIdentity,
    EmbeddingItem,
    EmbeddingsInfo,
    EmbeddingSource,
    ExportSettingsInfo,
    GeneNameSet,
    ObsFieldInfo,
    ObsManifest,
    ObsSchemas,
    Stats,
    ValueFieldEntry,
    VarManifest,
    VarSchema,
    VectorFieldInfo,
    VectorFieldsInfo,
    dump_json,
)
from .obs_fields import (
    CategoricalField,
    ContinuousField,
    ObsField,
    category_colours,
    select_obs_fields,
)
from .payloads import Payloads
from .progress import Progress, no_progress
from .quantize import Bits, bits_of, finite_bounds, quantize
from .schema_terms import schema_terms
from .settings import ExportSettings, dataset_id_from_name, usable_cores
from .source import AnnDataSource, default_created_at


def _outlier_encoding(settings: ExportSettings) -> Encoding:
    chosen = settings.outlier_quantization
    return OBS_OUTLIERS.for_quantization(settings.obs_quantization if chosen is None else chosen)


def _latent(source: AnnDataSource, settings: ExportSettings, default: Embedding) -> tuple[str, Any]:
    key = settings.latent_key or ("X_pca" if "X_pca" in source.obsm else None)
    if key is None:
        return default.id, default.coordinates
    if key not in source.obsm:
        raise PrepareError(f"latent space obsm[{key!r}] does not exist")
    values = np.asarray(source.obsm[key], dtype=np.float32)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    if values.ndim != 2 or not np.isfinite(values).all():
        raise PrepareError(f"latent space obsm[{key!r}] must be a finite per-cell matrix")
    return key, values


@dataclass(frozen=True)
class _Categorical:
    """A categorical field's obs manifest entry with its centroids left empty: they cost a
    pass over every embedding (:meth:`ExportOutline.obs_manifest`)."""

    entry: CategoricalFieldEntry
    groups: CategoryGroups

    def centroids_in(self, embedding: Embedding, settings: ExportSettings) -> list[dict[str, Any]]:
        return centroids(
            self.groups,
            embedding.coordinates,
            self.entry.categories,
            settings.centroid_outlier_quantile,
            settings.centroid_min_points,
        )


def _write_obs(
    fields: Sequence[ObsField],
    settings: ExportSettings,
    latent: Any,
    payloads: Payloads,
) -> tuple[list[ValueFieldEntry], list[_Categorical]]:
    encoding = OBS_VALUES.for_quantization(settings.obs_quantization)
    continuous: list[ValueFieldEntry] = []
    categorical: list[_Categorical] = []
    for obs_field in fields:
        if isinstance(obs_field, ContinuousField):
            values = obs_field.values
            if encoding.is_float:
                if np.isnan(values).any():
                    raise PrepareError(
                        f"obs field {obs_field.key!r} has {int(np.isnan(values).sum())} missing "
                        "(NaN) values, which float32 output cannot mark; use --obs-quantization "
                        "8 or 16 (missing values get the missing code)"
                    )
                payloads.add(
                    OBS_VALUES, values.astype(encoding.array_dtype), encoding, index=obs_field.index
                )
                continuous.append(ValueFieldEntry(obs_field.index, obs_field.key))
            else:
                low, high = finite_bounds(values)
                codes = quantize(values, low, high, cast(Bits, encoding.bits))
                payloads.add(OBS_VALUES, codes, encoding, index=obs_field.index)
                continuous.append(ValueFieldEntry(obs_field.index, obs_field.key, low, high))
            continue
        categorical.append(_write_categorical(obs_field, settings, latent, payloads))
    return continuous, categorical


def _write_categorical(
    obs_field: CategoricalField, settings: ExportSettings, latent: Any, payloads: Payloads
) -> _Categorical:
    outliers = _outlier_encoding(settings)
    codes = obs_field.codes_encoding(settings.obs_categorical_dtype)
    payloads.add(OBS_CODES, obs_field.encoded_codes(codes), codes, index=obs_field.index)
    groups = CategoryGroups.of(obs_field.codes, len(obs_field.categories))
    entry = CategoricalFieldEntry(
        obs_field.index, obs_field.key, obs_field.categories, codes.dtype, codes.max_value, {}
    )
    if outliers.is_float:
        payloads.add_later(
            OBS_OUTLIERS,
            lambda: outlier_quantiles(groups, latent, settings.centroid_min_points).astype(
                outliers.array_dtype
            ),
            outliers,
            index=obs_field.index,
        )
    else:
        quantiles = outlier_quantiles(groups, latent, settings.centroid_min_points)
        low, high = finite_bounds(quantiles)
        quantised = quantize(quantiles, low, high, cast(Bits, outliers.bits))
        payloads.add(OBS_OUTLIERS, quantised, outliers, index=obs_field.index)
        entry = replace(entry, outlier_low=low, outlier_high=high)
    return _Categorical(entry, groups)


def _obs_schemas(settings: ExportSettings, continuous: bool, categorical: bool) -> ObsSchemas:
    values = OBS_VALUES.for_quantization(settings.obs_quantization)
    return ObsSchemas(
        continuous=ContinuousSchema.of(values, settings.compression) if continuous else None,
        categorical=(
            CategoricalSchema.of(_outlier_encoding(settings), settings.compression)
            if categorical
            else None
        ),
    )


def var_manifest(
    settings: ExportSettings, names: GeneNames, bounds: GeneBounds | None, n_cells: int
) -> VarManifest:
    """The var manifest; ``bounds`` are only needed (and only used) for quantised genes."""
    bits = bits_of(settings.var_quantization)
    if bits is None or bounds is None:
        fields = [ValueFieldEntry(i, name) for i, name in enumerate(names.names)]
    else:
        fields = [
            ValueFieldEntry(i, name, float(low), float(high))
            for i, (name, low, high) in enumerate(
                zip(names.names, bounds.minimum, bounds.maximum, strict=True)
            )
        ]
    return VarManifest(
        n_points=n_cells,
        compression=settings.compression or None,
        quantization=bits,
        varSchema=VarSchema.of(
            GENE_VALUES.for_quantization(settings.var_quantization), settings.compression
        ),
        fields=fields,
        gene_name_sets=[
            GeneNameSet(
                source=names.source,
                filled_from_index=names.filled_from_index,
                renamed=names.renamed,
                names=None,
            ),
            *(
                GeneNameSet(source=alt.source, filled_from_index=0, renamed=[], names=alt.names)
                for alt in names.alternatives
            ),
        ],
    )


def _embeddings_info(
    embeddings: Sequence[Embedding], defaults: Defaults, files: dict[str, str]
) -> EmbeddingsInfo:
    return EmbeddingsInfo(
        default_dimension=defaults.default.dimension,
        defaults=defaults.by_dimension,
        items={
            e.id: EmbeddingItem(
                label=e.label,
                dimension=e.dimension,
                file=files[e.id],
                source=EmbeddingSource(key=e.key, columns=list(e.columns)),
            )
            for e in embeddings
        },
    )


def _vector_fields_info(
    fields: Sequence[VectorField], embeddings: Sequence[Embedding], payloads: Payloads
) -> VectorFieldsInfo | None:
    if not fields:
        return None
    index_of = {e.id: e.index for e in embeddings}
    infos = {}
    for vector_field in fields:
        files = {
            embedding_id: payloads.add(
                VECTORS, vectors, field=vector_field.index, embedding=index_of[embedding_id]
            )
            for embedding_id, vectors in vector_field.by_embedding.items()
        }
        infos[vector_field.id] = VectorFieldInfo(label=vector_field.id, files=files)
    return VectorFieldsInfo(default_field=fields[0].id, fields=infos)


def _write_edges(
    edges: Edges, n_cells: int, settings: ExportSettings, payloads: Payloads
) -> ConnectivityManifest:
    return ConnectivityManifest(
        n_cells=n_cells,
        n_edges=int(edges.sources.size),
        max_neighbors=edges.max_neighbors,
        index_bytes=edges.index.bits // 8,
        index_dtype=edges.index.dtype,
        sourcesPath=payloads.add(EDGE_SOURCES, edges.sources),
        destinationsPath=payloads.add(EDGE_DESTINATIONS, edges.destinations),
        weightsPath=payloads.add(EDGE_WEIGHTS, edges.weights),
        compression=settings.compression or None,
    )


@dataclass(frozen=True)
class ExportPlan:
    """What is decided before any payload is built; shared by prepare and direct serving."""

    src: AnnDataSource
    settings: ExportSettings
    embeddings: list[Embedding]
    defaults: Defaults
    vector_fields: list[VectorField]
    names: GeneNames | None
    dataset_id: str
    warnings: list[str]


def plan_export(src: AnnDataSource, settings: ExportSettings) -> ExportPlan:
    """Choose embeddings, vector fields and gene names, refusing bad input early."""
    if src.n_cells == 0:
        raise PrepareError("the AnnData has no cells: there is nothing to show")
    warnings: list[str] = []
    embeddings = select_embeddings(src.obsm, src.n_cells, settings.embeddings)
    defaults = choose_defaults(
        embeddings, settings.default_embedding, src.uns_text("default_embedding"), warnings
    )
    has_genes = src.matrix is not None and src.n_genes > 0
    return ExportPlan(
        src=src,
        settings=settings,
        embeddings=embeddings,
        defaults=defaults,
        vector_fields=select_vector_fields(src.obsm, src.n_cells, embeddings),
        names=gene_names(src.var, settings.gene_names_column, warnings) if has_genes else None,
        dataset_id=settings.dataset_id or dataset_id_from_name(src.stem),
        warnings=warnings,
    )


@dataclass(frozen=True)
class ExportOutline:
    """Every manifest of an export but the var manifest, with the obs manifest's centroids
    left for :meth:`obs_manifest`: they are most of the manifests' cost (a pass over every
    embedding per categorical field) and the identity does not need them, so a server can
    answer the identity first."""

    identity: DatasetIdentity
    connectivity: ConnectivityManifest | None
    plan: ExportPlan
    latent_key: str
    continuous: list[ValueFieldEntry]
    categorical: list[_Categorical]
    colours: dict[str, list[str]]

    def obs_manifest(self, *, centroids: bool = True) -> ObsManifest:
        """The obs manifest; without ``centroids`` every field has none, which leaves the
        files it declares unchanged (a server can list them before computing centroids)."""
        settings = self.plan.settings
        return ObsManifest(
            n_points=self.plan.src.n_cells,
            centroid_outlier_quantile=settings.centroid_outlier_quantile,
            latent_key=self.latent_key,
            compression=settings.compression or None,
            obsSchemas=_obs_schemas(settings, bool(self.continuous), bool(self.categorical)),
            continuousFields=self.continuous,
            categoricalFields=(
                self._with_centroids()
                if centroids
                else [pending.entry for pending in self.categorical]
            ),
            category_colors=self.colours or None,
        )

    def _with_centroids(self) -> list[CategoricalFieldEntry]:
        """Every field's entry with its centroids, one (field, embedding) pair at a time on a
        thread per core: numpy leaves the GIL for most of each pair (0.33 -> 0.21 s for 4
        fields x 4 embeddings at 200,000 cells, on 2 cores), and a server's first frame waits
        for them."""
        settings, embeddings = self.plan.settings, self.plan.embeddings
        pairs = [(pending, embedding) for pending in self.categorical for embedding in embeddings]
        threads = max(1, min(len(pairs), usable_cores()))
        with ThreadPoolExecutor(threads) as pool:
            found = iter(pool.map(lambda pair: pair[0].centroids_in(pair[1], settings), pairs))
        return [
            replace(pending.entry, centroids={e.id: next(found) for e in embeddings})
            for pending in self.categorical
        ]


def outline_export(
    plan: ExportPlan, payloads: Payloads, report: Progress = no_progress
) -> ExportOutline:
    """Build every payload but the genes into ``payloads``; return the identity, the
    connectivity manifest and what the obs manifest is made of (see :class:`ExportOutline`)."""
    src, settings, n_cells = plan.src, plan.settings, plan.src.n_cells
    obs_fields = select_obs_fields(src.obs, settings.obs_keys, plan.warnings)
    latent_key, latent = _latent(src, settings, plan.defaults.default)
    edges = edge_pairs(src.connectivities, n_cells) if src.connectivities is not None else None
    embedding_files = {
        e.id: payloads.add(EMBEDDING, e.coordinates, index=e.index, dimension=e.dimension)
        for e in plan.embeddings
    }
    vector_info = _vector_fields_info(plan.vector_fields, plan.embeddings, payloads)
    report("obs fields", 0, len(obs_fields))
    continuous, categorical = _write_obs(obs_fields, settings, latent, payloads)
    report("obs fields", len(obs_fields), len(obs_fields))
    connectivity = _write_edges(edges, n_cells, settings, payloads) if edges else None
    colours = category_colours(obs_fields, src.uns, plan.warnings)
    identity = DatasetIdentity(
        id=plan.dataset_id,
        name=settings.name or src.uns_text("title") or plan.dataset_id,
        description=settings.description,
        created_at=settings.created_at or default_created_at(src),
        cellucid_data_version=CELLUCID_DATA_VERSION,
        cellucid_cloud_version=__version__,
        expression_matrix=src.expression_matrix if plan.names else None,
        stats=Stats(
            n_cells=n_cells,
            n_genes=len(plan.names.names) if plan.names else 0,
            n_obs_fields=len(obs_fields),
            n_categorical_fields=len(categorical),
            n_continuous_fields=len(continuous),
            has_connectivity=connectivity is not None,
            n_edges=connectivity.n_edges if connectivity else None,
        ),
        embeddings=_embeddings_info(plan.embeddings, plan.defaults, embedding_files),
        obs_fields=[ObsFieldInfo(key=str(f.key), kind="continuous") for f in continuous]
        + [
            ObsFieldInfo(key=f.entry.key, kind="category", n_categories=len(f.entry.categories))
            for f in categorical
        ],
        export_settings=ExportSettingsInfo(
            compression=settings.compression or None,
            var_quantization=bits_of(settings.var_quantization),
            obs_continuous_quantization=bits_of(settings.obs_quantization),
            obs_categorical_dtype=_categorical_dtype(settings, categorical),
        ),
        vector_fields=vector_info,
        ontology_terms=schema_terms(src.obs) or None,
    )
    return ExportOutline(identity, connectivity, plan, latent_key, continuous, categorical, colours)


def describe_export(
    plan: ExportPlan,
    payloads: Payloads,
    genes: Callable[[], VarManifest | None],
    report: Progress = no_progress,
) -> ExportManifests:
    """Build every payload but the genes into ``payloads`` and return the manifests.

    ``genes`` is called last, so gene work started before this call runs beside it.
    """
    outline = outline_export(plan, payloads, report)
    obs = outline.obs_manifest()
    var = genes()
    payloads.wait()
    return ExportManifests(outline.identity, obs, var, outline.connectivity)


def _categorical_dtype(settings: ExportSettings, categorical: list[_Categorical]) -> str:
    """The identity's ``obs_categorical_dtype``: one of the widths Cellucid 0.9.4 writes and
    accepts. Under 'auto' each field's codes are as narrow as fit (its manifest tuple names its
    own width), and the identity names the widest one used."""
    if settings.obs_categorical_dtype != "auto":
        return settings.obs_categorical_dtype
    used = {OBS_CODES.encoding(field.entry.codes_dtype) for field in categorical}
    return max(used, key=OBS_CODES.encodings.index, default=OBS_CODES.encodings[0]).dtype


def manifest_documents(manifests: ExportManifests) -> dict[str, bytes]:
    """The JSON files of an export, keyed by file name."""
    documents = {
        IDENTITY_FILE: dump_json(manifests.identity, indent=2),
        OBS_MANIFEST_FILE: dump_json(manifests.obs) if manifests.obs else None,
        VAR_MANIFEST_FILE: dump_json(manifests.var) if manifests.var else None,
        CONNECTIVITY_MANIFEST_FILE: (
            dump_json(manifests.connectivity) if manifests.connectivity else None
        ),
    }
    return {name: data for name, data in documents.items() if data is not None}
