"""The catalog's records: collections and their versions, datasets and their versions.

Shaped after the cellxgene "layers" schema (research notes, part 2 §2), which separates a
*canonical* id (permanent, public) from *version* ids (one per revision or upload):

* a :class:`Collection` points at its published version and at its one open (unpublished)
  version: the draft of a never-published collection, or the revision of a published one;
* a :class:`CollectionVersion` holds the metadata and the dataset list of that version, mapping
  each canonical dataset id to the dataset version it contains;
* a :class:`Dataset` holds the answer its canonical explorer URL gives (the mapped version, or
  the tombstone and contact), so the meta lookup is one key read;
* a :class:`DatasetVersion` is one upload: its processing status and its immutable export.

Every id is a random UUID4: ids of unpublished versions are capabilities (private URLs).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
)

__all__ = [
    "MAX_URL_LENGTH",
    "SCHEMA_FIELDS",
    "Alias",
    "ApiKeyRecord",
    "Collection",
    "CollectionMetadata",
    "CollectionVersion",
    "Contact",
    "Dataset",
    "DatasetStats",
    "DatasetStatus",
    "DatasetVersion",
    "Link",
    "OntologyTerm",
    "PublishedCatalog",
    "StagedMapping",
    "StoredRecord",
    "Upload",
    "UploadRefusal",
    "Visibility",
    "new_id",
    "utcnow",
]

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]


def new_id() -> str:
    """A random UUID4: 122 random bits, unguessable, so it can serve as a private link."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoredRecord(Record):
    """A record the repository stores under ``(KIND, key)``, with an optimistic revision.

    ``rev`` is the revision the record was read at (0 for a new record); a write succeeds only
    if the stored revision still equals it, and stores ``rev + 1``.
    """

    KIND: ClassVar[str]
    KEY_FIELD: ClassVar[str]
    rev: int = 0

    @property
    def key(self) -> str:
        return str(getattr(self, self.KEY_FIELD))


class Visibility(StrEnum):
    PRIVATE = "PRIVATE"
    PUBLIC = "PUBLIC"


class DatasetStatus(StrEnum):
    WAITING = "waiting"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


MAX_URL_LENGTH = 2083
"""HttpUrl's own limit, which it applies to its input only."""


def _storable(url: HttpUrl) -> HttpUrl:
    """Normalising can lengthen a URL (``https://host`` becomes ``https://host/``): refuse one
    that HttpUrl would refuse when the stored record is read back."""
    if len(str(url)) > MAX_URL_LENGTH:
        raise ValueError(f"URL should have at most {MAX_URL_LENGTH} characters")
    return url


class Link(Record):
    name: Annotated[str, StringConstraints(max_length=400)] = ""
    type: Annotated[str, StringConstraints(max_length=100)] = "OTHER"
    url: Annotated[HttpUrl, AfterValidator(_storable)]


class Contact(Record):
    name: ShortText
    email: EmailStr


class CollectionMetadata(Record):
    name: ShortText
    description: LongText = ""
    contact_name: ShortText
    contact_email: EmailStr
    links: Annotated[list[Link], Field(max_length=100)] = []

    @property
    def contact(self) -> Contact:
        return Contact(name=self.contact_name, email=self.contact_email)


class Collection(StoredRecord):
    KIND: ClassVar[str] = "collection"
    KEY_FIELD: ClassVar[str] = "collection_id"
    collection_id: str
    owner: Annotated[str, StringConstraints(min_length=1)]
    published_version_id: str | None = None
    open_version_id: str | None = None
    created_at: datetime
    published_at: datetime | None = None
    revised_at: datetime | None = None

    @property
    def is_published(self) -> bool:
        return self.published_version_id is not None


class CollectionVersion(StoredRecord):
    KIND: ClassVar[str] = "collection_version"
    KEY_FIELD: ClassVar[str] = "version_id"
    version_id: str
    collection_id: str
    metadata: CollectionMetadata
    datasets: dict[str, str] = {}
    """Canonical dataset id → the dataset version this collection version contains."""
    withdrawn: tuple[str, ...] = ()
    """The datasets publishing this version withdrew (its predecessor had them): the next
    publish settles them too, should this one have stopped before settling them."""
    created_at: datetime
    published_at: datetime | None = None


class OntologyTerm(Record):
    """A CELLxGENE schema value: its label and, when the file carries it, the ontology id."""

    # The public documents list terms: every field is written, so the response schemas say so.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    label: str
    ontology_term_id: str = ""
    """Empty when the file has the label column but not the ontology id column."""


SCHEMA_FIELDS = ("organism", "tissue", "assay", "disease")
"""The CELLxGENE schema fields a dataset's stats keep (the collection pages show them)."""


class DatasetStats(Record):
    name: str
    n_cells: int
    n_genes: int
    bytes: int
    """Size of the export."""
    source_bytes: int | None = None
    """Size of the uploaded original: what a download of the dataset transfers."""
    organism: tuple[OntologyTerm, ...] = ()
    """The CELLxGENE schema's descriptive terms, when the upload's obs follows the schema
    (collected at export time: the collection pages show them without opening the export)."""
    tissue: tuple[OntologyTerm, ...] = ()
    assay: tuple[OntologyTerm, ...] = ()
    disease: tuple[OntologyTerm, ...] = ()


class DatasetVersion(StoredRecord):
    KIND: ClassVar[str] = "dataset_version"
    KEY_FIELD: ClassVar[str] = "version_id"
    version_id: str
    dataset_id: str
    collection_id: str
    name: str = ""
    """The title the curator gave; the export's name (else the upload's file name)."""
    status: DatasetStatus = DatasetStatus.WAITING
    reason: str | None = None
    retryable: bool = False
    """A failure of ours, not of the file (an internal error): the upload's next delivery, or
    the local stack's next start, claims the version again."""
    attempts: int = 0
    """How many times processing was claimed; each claim writes to its own export prefix."""
    upload_id: str | None = None
    """The upload this version is made from (:class:`Upload`); None until one is accepted."""
    collection_version_id: str | None = None
    """The collection version this version was made in (accepted into, or re-processed in)."""
    export_options: dict[str, Any] = {}
    """The curator's export options for this version (``ExportOptions`` in its stored form:
    only the fields set). A new upload inherits them; changing them re-processes the upload
    into a new version."""
    file_name: str | None = None
    """The curator's name for the uploaded file (reasons name it)."""
    accepted_at: datetime | None = None
    """When the upload (or the change of options) that made this version was accepted: of two
    versions of a dataset, the one accepted later wins (``docs/catalog.md``)."""
    sequence: str = ""
    """The store's order among puts accepted at the same instant (S3's sequencer)."""
    expires_at: datetime | None = None
    """The file must arrive before this, or the version fails (an abandoned upload URL)."""
    source: str | None = None
    """The object key of the upload this version was made from."""
    source_etag: str | None = None
    export_prefix: str | None = None
    """Object-store prefix of the finished export (``exports/<version_id>/``) once ready."""
    stats: DatasetStats | None = None
    created_at: datetime
    updated_at: datetime


class Upload(StoredRecord):
    """One accepted upload: an object in the uploads store that is never rewritten.

    An upload URL gets its own key, ``<collection_id>/<dataset_id>/<upload_id>.h5ad``, and this
    record when the URL is issued. A file dropped straight into the uploads store at
    ``<collection_id>/<dataset_id>.h5ad`` gets it when its put is first seen, keyed by the put
    (a redelivery or a restart finds the same record). ``versions`` are the dataset versions
    made from the file: the upload's own, then one per change of export options.
    """

    KIND: ClassVar[str] = "upload"
    KEY_FIELD: ClassVar[str] = "upload_id"
    upload_id: str
    object_key: str
    """Where the file is (or will be) in the uploads store."""
    collection_id: str
    collection_version_id: str
    dataset_id: str
    file_name: str
    accepted_at: datetime
    sequence: str = ""
    versions: tuple[str, ...] = ()
    refused: str | None = None
    """Why the upload was not taken (a put no open version could receive, or one older than
    the version it would replace); then ``versions`` is empty."""
    size: int | None = None
    """The file's size, when the curator declared it (a multipart upload's parts are cut
    from it)."""
    multipart_id: str | None = None
    """The uploads store's id of the multipart upload the file is being sent by."""


class UploadRefusal(StoredRecord):
    """The newest upload of a dataset that was refused when it arrived (a file dropped into a
    published collection with no open revision): no version shows it, so the dataset's
    curation document does, until a newer upload is accepted."""

    KIND: ClassVar[str] = "upload_refusal"
    KEY_FIELD: ClassVar[str] = "dataset_id"
    dataset_id: str
    upload_id: str
    file_name: str
    reason: str
    at: datetime
    """When the refused file was put (the upload's ``accepted_at``)."""


class StagedMapping(Record):
    """What a publish in progress will make a dataset's canonical URL answer, written before
    the publish switches its collection's pointer (:mod:`cellucid_cloud.catalog.publishing`).
    It applies once ``collection_version_id`` is published, and never before."""

    collection_version_id: str
    version_id: str
    export_prefix: str | None = None
    tombstoned: bool = False
    tombstone_contact: Contact | None = None


class Dataset(StoredRecord):
    """A canonical dataset and what its canonical URL answers."""

    KIND: ClassVar[str] = "dataset"
    KEY_FIELD: ClassVar[str] = "dataset_id"
    dataset_id: str
    collection_id: str
    version_id: str
    """The mapped version: the published one, or the newest ready draft before publishing."""
    export_prefix: str | None = None
    """The mapped version's export, copied here so a canonical URL resolves in one read."""
    published_versions: tuple[str, ...] = ()
    """Every version a publish has mapped this dataset to, oldest first."""
    tombstoned: bool = False
    tombstone_contact: Contact | None = None
    """The collection's contact at the time the dataset was withdrawn."""
    staged: StagedMapping | None = None
    """A publish's mapping, written before its switch; see :class:`StagedMapping`."""

    @property
    def published(self) -> bool:
        return bool(self.published_versions)

    def with_staged_applied(self) -> Dataset:
        """This dataset as its staged mapping makes it (once that mapping's publish is in)."""
        staged = self.staged
        if staged is None:
            return self
        if staged.tombstoned:
            update: dict[str, object] = {
                "tombstoned": True,
                "tombstone_contact": staged.tombstone_contact,
            }
        else:
            versions = self.published_versions
            if versions[-1:] != (staged.version_id,):
                versions = (*versions, staged.version_id)
            update = {
                "version_id": staged.version_id,
                "export_prefix": staged.export_prefix,
                "published_versions": versions,
            }
        return self.model_copy(update={**update, "staged": None})


class Alias(StoredRecord):
    """A legacy name-based explorer URL (``/e/<name>/``) that keeps pointing at a dataset."""

    KIND: ClassVar[str] = "alias"
    KEY_FIELD: ClassVar[str] = "alias"
    alias: str
    dataset_id: str


class PublishedCatalog(StoredRecord):
    """Which version of each collection is published: one record, switched by every publish
    in the same commit as the collection's own pointer, so ``datasets.json`` is read from the
    state one publish left, whatever the store's indexes show (docs/catalog.md)."""

    KIND: ClassVar[str] = "published_catalog"
    KEY_FIELD: ClassVar[str] = "name"
    name: str = "catalog"
    collections: dict[str, str] = {}
    """Collection id → its published version id."""


class ApiKeyRecord(StoredRecord):
    """A curator's API key, stored only as its SHA-256 (the key itself has 256 random bits)."""

    KIND: ClassVar[str] = "api_key"
    KEY_FIELD: ClassVar[str] = "key_hash"
    key_hash: str
    curator_id: str
    label: str = ""
    created_at: datetime
    revoked: bool = False
