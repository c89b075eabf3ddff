"""Curation use cases: collections, revisions, datasets, uploads, publishing.

Every change is one :meth:`CatalogRepository.commit`, conditional on the revisions it read, so
concurrent requests cannot interleave half-changes: the loser of a race gets
:class:`StateConflictError` (HTTP 409) and nothing of its change is stored.

Which version a collection id addresses (:meth:`CatalogService.version_for`):

* a canonical collection id → the published version, or the draft of a never-published one;
* a collection version id → that version (the open revision, or an older published version).

Only the *open* version (a draft or the one open revision) can be changed.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cellucid_cloud.catalog.models import (
    Collection,
    CollectionMetadata,
    CollectionVersion,
    Dataset,
    DatasetStats,
    DatasetStatus,
    DatasetVersion,
    StoredRecord,
    Upload,
    UploadRefusal,
    new_id,
    utcnow,
)
from cellucid_cloud.catalog.publishing import publish_version, settled, settled_many
from cellucid_cloud.catalog.repository import ConflictError, Delete, Put, Write, retry_on_conflict
from cellucid_cloud.core.errors import (
    DomainError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    StaleClaimError,
    StateConflictError,
)
from cellucid_cloud.core.ports import CatalogRepository, Clock

__all__ = [
    "LINK_DEADLINE",
    "MAX_ATTEMPTS",
    "TRANSFER_GRACE",
    "CatalogService",
    "CollectionView",
    "UploadTarget",
    "upload_key",
]


MAX_ATTEMPTS = 2
"""How many times one dataset version's processing may be claimed: a first try and one retry.
Below the prepare queue's receive count (3), so the last delivery finds the version given up
rather than leaving it ``processing`` behind a message in the dead-letter queue."""


TRANSFER_GRACE = timedelta(hours=1)
"""How long after its upload URL expired a file may still arrive (a transfer started just
before the expiry); past it, a version still waiting for its file fails."""
LINK_DEADLINE = 6 * 3600
"""Seconds a link's download may take before the upload counts as abandoned (its worker was
stopped); the downloads themselves fail much sooner, with their own reason."""
_DROPS = uuid.UUID("6b1f3f2e-5d0c-4c8e-9a57-1f2d3c4b5a69")
"""Namespace of direct drops' upload ids (derived from the key and the put)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CollectionView:
    """A collection as one of its versions shows it."""

    collection: Collection
    version: CollectionVersion

    @property
    def is_open(self) -> bool:
        return self.collection.open_version_id == self.version.version_id

    @property
    def is_revision(self) -> bool:
        return self.is_open and self.collection.is_published

    @property
    def curator_id(self) -> str:
        """The id the curator knows this version by: a revision's own, else the collection's
        (a draft's version id is internal)."""
        published = self.collection.published_version_id
        if published is None or published == self.version.version_id:
            return self.collection.collection_id
        return self.version.version_id


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where an upload for a dataset lands: the open version that will receive it."""

    view: CollectionView
    dataset_id: str


class CatalogService:
    def __init__(
        self,
        repository: CatalogRepository,
        clock: Clock = utcnow,
        transfer_grace: timedelta = TRANSFER_GRACE,
    ) -> None:
        self.repo = repository
        self.clock = clock
        self.transfer_grace = transfer_grace
        """How long after its URL expired an upload's file may still arrive: on AWS a PUT
        started in time may still be running; ``up`` sees its own PUTs (:meth:`file_arrived`)
        and needs none."""

    # -- reading -----------------------------------------------------------------------------

    def version_for(self, collection_or_version_id: str) -> CollectionView:
        """The version a collection id or collection version id addresses (module docstring)."""
        collection = self.repo.get(Collection, collection_or_version_id)
        if collection is not None:
            version_id = collection.published_version_id or collection.open_version_id
        else:
            version = self.repo.get(CollectionVersion, collection_or_version_id)
            if version is None:
                raise NotFoundError(f"no collection {collection_or_version_id}")
            collection = self.repo.get(Collection, version.collection_id)
            version_id = version.version_id
        version = self.repo.get(CollectionVersion, version_id) if version_id else None
        if collection is None or version is None:
            raise NotFoundError(f"no collection {collection_or_version_id}")
        return CollectionView(collection, version)

    def owned(self, curator_id: str, collection_or_version_id: str) -> CollectionView:
        view = self.version_for(collection_or_version_id)
        if view.collection.owner != curator_id:
            raise ForbiddenError("this collection belongs to another curator")
        return view

    def open_version(self, curator_id: str, collection_or_version_id: str) -> CollectionView:
        """The version a change applies to: the addressed one, which must be open."""
        view = self.owned(curator_id, collection_or_version_id)
        if view.collection.open_version_id == view.version.version_id:
            return view
        if view.collection.open_version_id and collection_or_version_id == view.collection.key:
            raise StateConflictError(
                "this collection is published; change its open revision "
                f"{view.collection.open_version_id} instead"
            )
        raise StateConflictError(
            "this collection version is published and cannot change; start a revision "
            f"(POST /curation/v1/collections/{view.collection.collection_id}/revision)"
        )

    def dataset_versions(self, view: CollectionView) -> dict[str, DatasetVersion]:
        """The dataset versions of a collection version, by canonical dataset id."""
        found = self.repo.get_many(DatasetVersion, view.version.datasets.values())
        return {
            dataset_id: self._settle(found[version_id])
            for dataset_id, version_id in view.version.datasets.items()
            if version_id in found
        }

    def collections_of(self, curator_id: str) -> list[CollectionView]:
        """The curator's collections, each as its open version (a draft or a revision), else
        as its published one."""
        views = []
        for collection in self.repo.collections_of(curator_id):
            version_id = collection.open_version_id or collection.published_version_id
            if version_id:
                views.append(self.version_for(version_id))
        return views

    def dataset_version(self, version_id: str) -> DatasetVersion | None:
        return self.repo.get(DatasetVersion, version_id)

    def dataset_in(self, view: CollectionView, dataset_id: str) -> DatasetVersion:
        """The dataset's current version in ``view``: its newest accepted upload."""
        version_id = view.version.datasets.get(dataset_id)
        version = self.repo.get(DatasetVersion, version_id) if version_id else None
        if version is None:
            raise NotFoundError(f"no dataset {dataset_id} in collection {view.curator_id}")
        return self._settle(version)

    # -- collections -------------------------------------------------------------------------

    def create_collection(self, curator_id: str, metadata: CollectionMetadata) -> CollectionView:
        now = self.clock()
        collection = Collection(
            collection_id=new_id(), owner=curator_id, open_version_id=new_id(), created_at=now
        )
        version = CollectionVersion(
            version_id=collection.open_version_id or "",
            collection_id=collection.collection_id,
            metadata=metadata,
            created_at=now,
        )
        self._commit([Put(collection, create=True), Put(version, create=True)])
        return CollectionView(_stored(collection), _stored(version))

    def update_metadata(
        self, curator_id: str, collection_or_version_id: str, changes: dict[str, Any]
    ) -> CollectionView:
        view = self.open_version(curator_id, collection_or_version_id)
        metadata = CollectionMetadata.model_validate(
            {**view.version.metadata.model_dump(mode="json"), **changes}
        )
        version = view.version.model_copy(update={"metadata": metadata})
        self._commit([Put(version)])
        return CollectionView(view.collection, _stored(version))

    def start_revision(self, curator_id: str, collection_id: str) -> CollectionView:
        view = self.owned(curator_id, collection_id)
        collection = view.collection
        if not collection.is_published or collection_id != collection.collection_id:
            raise StateConflictError(
                "only a published collection, by its canonical id, can be revised"
            )
        if collection.open_version_id:
            raise StateConflictError(
                f"this collection already has an open revision: {collection.open_version_id}"
            )
        revision = CollectionVersion(
            version_id=new_id(),
            collection_id=collection.collection_id,
            metadata=view.version.metadata,
            datasets=dict(view.version.datasets),
            created_at=self.clock(),
        )
        opened = collection.model_copy(update={"open_version_id": revision.version_id})
        self._commit([Put(opened), Put(revision, create=True)])
        return CollectionView(_stored(opened), _stored(revision))

    def delete(self, curator_id: str, collection_or_version_id: str) -> None:
        """Delete a never-published collection, or discard an open revision.

        Datasets that exist only in the deleted version go with it (their canonical URLs stop
        resolving); published datasets and every export stay untouched.
        """
        view = self.open_version(curator_id, collection_or_version_id)
        drafts = settled_many(self.repo, self.repo.get_many(Dataset, view.version.datasets))
        writes: list[Write] = [Delete(view.version)]
        writes += [Delete(d) for d in drafts.values() if not d.published]
        if view.collection.is_published:
            writes.append(Put(view.collection.model_copy(update={"open_version_id": None})))
        else:
            writes.append(Delete(view.collection))
        self._commit(writes)

    # -- datasets ----------------------------------------------------------------------------

    def add_dataset(
        self, curator_id: str, collection_or_version_id: str, name: str = ""
    ) -> DatasetVersion:
        view = self.open_version(curator_id, collection_or_version_id)
        now = self.clock()
        version = DatasetVersion(
            version_id=new_id(),
            dataset_id=new_id(),
            collection_id=view.collection.collection_id,
            name=name,
            created_at=now,
            updated_at=now,
        )
        dataset = Dataset(
            dataset_id=version.dataset_id,
            collection_id=version.collection_id,
            version_id=version.version_id,
        )
        datasets = {**view.version.datasets, version.dataset_id: version.version_id}
        self._commit(
            [
                Put(version, create=True),
                Put(dataset, create=True),
                Put(view.version.model_copy(update={"datasets": datasets})),
            ]
        )
        return _stored(version)

    def remove_dataset(
        self, curator_id: str, collection_or_version_id: str, dataset_id: str
    ) -> None:
        """Take a dataset out of the open version; publishing then withdraws it (tombstone)."""
        view = self.open_version(curator_id, collection_or_version_id)
        self.dataset_in(view, dataset_id)
        datasets = {k: v for k, v in view.version.datasets.items() if k != dataset_id}
        writes: list[Write] = [Put(view.version.model_copy(update={"datasets": datasets}))]
        dataset = settled(self.repo, self.repo.get(Dataset, dataset_id))
        if dataset is not None and not dataset.published:
            writes.append(Delete(dataset))
        self._commit(writes)

    def upload_target(
        self, curator_id: str | None, collection_or_version_id: str, dataset_id: str
    ) -> UploadTarget:
        """Check that an upload may refresh this dataset (``curator_id`` None: bucket access,
        which IAM already authorised)."""
        view = (
            self.open_version(curator_id, collection_or_version_id)
            if curator_id is not None
            else self._open_for_upload(collection_or_version_id)
        )
        self.dataset_in(view, dataset_id)
        return UploadTarget(view, dataset_id)

    def _open_for_upload(self, collection_or_version_id: str) -> CollectionView:
        view = self.version_for(collection_or_version_id)
        if view.is_open:
            return view
        if view.collection.open_version_id:
            return self.version_for(view.collection.open_version_id)
        raise StateConflictError("this collection is published; start a revision before uploading")

    # -- uploads (docs/catalog.md, "Uploads") ------------------------------------------------

    def accept_upload(
        self,
        curator_id: str,
        collection_or_version_id: str,
        dataset_id: str,
        *,
        upload_id: str,
        suffix: str,
        file_name: str = "",
        expires_in: float,
        size: int | None = None,
        multipart_id: str | None = None,
    ) -> tuple[Upload, DatasetVersion]:
        """Accept an upload before its file is sent: its own key, its record and a new
        version (waiting) that is the dataset's current one from now on. ``expires_in``: the
        seconds the upload URL is valid; the file must arrive within that plus
        ``transfer_grace``, else the version fails (an abandoned upload). ``upload_id``
        names the key the URL was signed for (:func:`upload_key`); ``multipart_id`` the
        store's multipart upload to that key, if the file goes up in parts."""

        def once() -> tuple[Upload, DatasetVersion]:
            view = self.open_version(curator_id, collection_or_version_id)
            current = self.dataset_in(view, dataset_id)
            now = self.clock()
            collection_id = view.collection.collection_id
            upload = Upload(
                upload_id=upload_id,
                object_key=upload_key(collection_id, dataset_id, upload_id, suffix),
                collection_id=collection_id,
                collection_version_id=view.version.version_id,
                dataset_id=dataset_id,
                file_name=file_name or f"{collection_id}/{dataset_id}{suffix}",
                accepted_at=max(now, _order(current)[0]),
                size=size,
                multipart_id=multipart_id,
            )
            expires_at = now + timedelta(seconds=expires_in) + self.transfer_grace
            return self._record(view, current, upload, expires_at)

        return retry_on_conflict(
            once, gave_up="the collection kept changing while the upload was accepted; retry"
        )

    def receive_drop(
        self,
        key: str,
        collection_or_version_id: str,
        dataset_id: str,
        *,
        put: str,
        at: datetime,
        sequence: str = "",
    ) -> Upload:
        """Accept a file put straight into the uploads store at ``<collection id>/<dataset
        id><suffix>`` (a mutable key), when its put is first seen. ``put`` identifies the put
        (S3's sequencer, or the file's size and mtime): a redelivery or a restart finds the
        same upload. A put older than the dataset's current version (events out of order) is
        recorded as refused, and so is one that no open version can receive: with the reason,
        never only in a log."""
        upload_id = str(uuid.uuid5(_DROPS, f"{key}\n{put}"))

        def once() -> Upload:
            known = self.repo.get(Upload, upload_id)
            if known is not None:
                return known
            upload = Upload(
                upload_id=upload_id,
                object_key=key,
                collection_id=collection_or_version_id,
                collection_version_id="",
                dataset_id=dataset_id,
                file_name=key,
                accepted_at=at,
                sequence=sequence,
            )
            try:
                view = self._open_for_upload(collection_or_version_id)
                current = self.dataset_in(view, dataset_id)
            except DomainError as exc:
                refused = upload.model_copy(update={"refused": f"{key}: {exc}"})
                self.repo.commit(
                    [
                        Put(refused, create=True),
                        *self._notice(collection_or_version_id, refused),
                    ]
                )
                return _stored(refused)
            upload = upload.model_copy(
                update={
                    "collection_id": view.collection.collection_id,
                    "collection_version_id": view.version.version_id,
                }
            )
            if _order(current) > (at, sequence):
                refused = upload.model_copy(
                    update={
                        "refused": f"{key}: a newer upload of dataset {dataset_id} was accepted "
                        "before this one was seen"
                    }
                )
                self.repo.commit([Put(refused, create=True)])
                return _stored(refused)
            return self._record(view, current, upload, None)[0]

        return retry_on_conflict(
            once, gave_up=f"the collection kept changing while {key} was recorded; retry"
        )

    def _notice(self, collection_or_version_id: str, refused: Upload) -> list[Write]:
        """The write that shows a refused drop on its dataset (:class:`UploadRefusal`), when
        the collection it names has that dataset; nothing for unknown ids."""
        try:
            view = self.version_for(collection_or_version_id)
        except NotFoundError:
            return []
        if refused.dataset_id not in view.version.datasets or refused.refused is None:
            return []
        known = self.repo.get(UploadRefusal, refused.dataset_id)
        notice = UploadRefusal(
            dataset_id=refused.dataset_id,
            upload_id=refused.upload_id,
            file_name=refused.file_name,
            reason=refused.refused,
            at=refused.accepted_at,
            rev=known.rev if known else 0,
        )
        return [Put(notice, create=known is None)]

    def refused_upload(self, dataset: DatasetVersion) -> UploadRefusal | None:
        """The dataset's newest refused drop, unless an upload accepted since replaced it."""
        notice = self.repo.get(UploadRefusal, dataset.dataset_id)
        if notice is None or notice.at <= _order(dataset)[0]:
            return None
        return notice

    def _record(
        self,
        view: CollectionView,
        current: DatasetVersion,
        upload: Upload,
        expires_at: datetime | None,
    ) -> tuple[Upload, DatasetVersion]:
        """Store an accepted upload and its version as the dataset's current one (one commit,
        conditional on the collection version: of two racing uploads both are recorded, in
        order). A dataset that never had an upload gets its first version filled in."""
        fields = {
            "upload_id": upload.upload_id,
            "collection_version_id": view.version.version_id,
            "export_options": current.export_options,
            "file_name": upload.file_name,
            "accepted_at": upload.accepted_at,
            "sequence": upload.sequence,
            "expires_at": expires_at,
            "source": upload.object_key,
            "updated_at": self.clock(),
        }
        writes: list[Write]
        if _never_uploaded(current):
            version = current.model_copy(update=fields)
            writes = [Put(version), Put(view.version)]
        else:
            version = DatasetVersion(
                version_id=new_id(),
                dataset_id=current.dataset_id,
                collection_id=current.collection_id,
                name=current.name,
                created_at=self.clock(),
                **fields,
            )
            datasets = {**view.version.datasets, current.dataset_id: version.version_id}
            writes = [
                Put(version, create=True),
                Put(view.version.model_copy(update={"datasets": datasets})),
            ]
        upload = upload.model_copy(update={"versions": (*upload.versions, version.version_id)})
        self.repo.commit([Put(upload, create=True), *writes])
        return _stored(upload), _stored(version)

    def upload(self, upload_id: str) -> Upload | None:
        """An accepted upload (None: no upload URL was issued with this id)."""
        return self.repo.get(Upload, upload_id)

    def pending_version(
        self, upload: Upload, stale_before: datetime | None = None
    ) -> DatasetVersion | None:
        """The version of ``upload`` still to be processed: its newest, while it is its
        dataset's current one and not finished. None when there is nothing to do (the catalog
        finished it, or a newer upload replaced it): a redelivery or a restart then skips the
        file without reading it."""
        if not upload.versions:
            return None
        version = self.repo.get(DatasetVersion, upload.versions[-1])
        if version is None:
            return None
        collection_version = self.repo.get(
            CollectionVersion, version.collection_version_id or upload.collection_version_id
        )
        if collection_version is None:
            return None
        if collection_version.datasets.get(upload.dataset_id) != version.version_id:
            return None
        return version if _claimable(version, stale_before) else None

    def file_arrived(self, upload_id: str) -> None:
        """The upload's file is whole in the uploads store (``up``'s upload route says so as
        its PUT completes): its version waits for processing however long the queue takes,
        also if a read at the URL's expiry had failed it as abandoned meanwhile."""

        def once() -> None:
            upload = self.repo.get(Upload, upload_id)
            version = self.pending_version(upload) if upload else None
            if (
                version is None
                or version.attempts
                or (version.status is DatasetStatus.WAITING and version.expires_at is None)
            ):
                return
            arrived = version.model_copy(
                update={
                    "status": DatasetStatus.WAITING,
                    "reason": None,
                    "retryable": False,
                    "expires_at": None,
                    "updated_at": self.clock(),
                }
            )
            self.repo.commit([Put(arrived)])

        with contextlib.suppress(StateConflictError):
            retry_on_conflict(once, gave_up=f"upload {upload_id} kept changing")

    def fail_upload(self, upload: Upload, reason: str) -> DatasetVersion | None:
        """The upload's file never came (a link that could not be downloaded; a put replaced
        before it was read): its pending version fails with ``reason``."""
        version = self.pending_version(upload)
        if version is None:
            return None
        claimed = self.start_processing(version.version_id)
        if claimed is None:
            return None
        return self.finish_processing(claimed.version_id, reason=reason)

    def set_export_options(
        self,
        curator_id: str,
        collection_or_version_id: str,
        dataset_id: str,
        options: dict[str, Any],
    ) -> tuple[DatasetVersion, Upload | None]:
        """Set the dataset's export options (stored form: the fields the curator set).

        A version not yet claimed for processing (waiting for its file, or the first upload)
        takes them in place. Otherwise the current upload is re-processed into a new version
        with them: accepted now, current at once, like an upload; returned with its upload,
        whose file the caller has processed again (None: nothing to process)."""

        def once() -> tuple[DatasetVersion, Upload | None]:
            view = self.open_version(curator_id, collection_or_version_id)
            current = self.dataset_in(view, dataset_id)
            if current.status is DatasetStatus.WAITING:
                version = current.model_copy(
                    update={"export_options": options, "updated_at": self.clock()}
                )
                self.repo.commit([Put(version), Put(view.version)])
                return _stored(version), None
            upload = self.repo.get(Upload, current.upload_id) if current.upload_id else None
            if upload is None or current.source is None:
                raise StateConflictError(
                    f"dataset {dataset_id}'s file was uploaded before uploads were recorded; "
                    "upload it again to change its export options"
                )
            now = self.clock()
            version = DatasetVersion(
                version_id=new_id(),
                dataset_id=dataset_id,
                collection_id=current.collection_id,
                name=current.name,
                upload_id=upload.upload_id,
                collection_version_id=view.version.version_id,
                export_options=options,
                file_name=current.file_name,
                accepted_at=max(now, _order(current)[0]),
                source=current.source,
                source_etag=current.source_etag,
                created_at=now,
                updated_at=now,
            )
            datasets = {**view.version.datasets, dataset_id: version.version_id}
            upload = upload.model_copy(update={"versions": (*upload.versions, version.version_id)})
            self.repo.commit(
                [
                    Put(version, create=True),
                    Put(view.version.model_copy(update={"datasets": datasets})),
                    Put(upload),
                ]
            )
            return _stored(version), _stored(upload)

        return retry_on_conflict(
            once, gave_up="the collection kept changing while the options were set; retry"
        )

    def _settle(self, version: DatasetVersion) -> DatasetVersion:
        """A version whose upload URL expired with no file arrived fails, so that nothing waits
        for it forever (retryable: a file that still arrives is processed)."""
        if (
            version.status is not DatasetStatus.WAITING
            or version.expires_at is None
            or self.clock() < version.expires_at
        ):
            return version
        failed = version.model_copy(
            update={
                "status": DatasetStatus.FAILED,
                "reason": f"{version.file_name}: no file arrived before the upload URL expired; "
                "upload it again",
                "retryable": True,
                "updated_at": self.clock(),
            }
        )
        try:
            self.repo.commit([Put(failed)])
        except ConflictError:
            return self.repo.get(DatasetVersion, version.version_id) or version
        return _stored(failed)

    def start_processing(
        self, version_id: str, stale_before: datetime | None = None
    ) -> DatasetVersion | None:
        """Claim a version for processing; None if someone else has it or it is done.

        Claimable: a waiting version; one left ``processing`` since before ``stale_before``
        (its worker died); one that failed for a reason of ours (``retryable``). A version
        whose processing was already claimed :data:`MAX_ATTEMPTS` times is not claimed again:
        a dead worker's is marked failed instead, so a file that kills its worker (out of
        memory) cannot make every restart or redelivery crash again.
        """
        version = self.repo.get(DatasetVersion, version_id)
        if version is None or not _claimable(version, stale_before):
            return None
        if version.attempts >= MAX_ATTEMPTS:
            if version.status is DatasetStatus.PROCESSING:
                self._give_up(version)
            return None
        claimed = version.model_copy(
            update={
                "status": DatasetStatus.PROCESSING,
                "reason": None,
                "retryable": False,
                "attempts": version.attempts + 1,
                "updated_at": self.clock(),
            }
        )
        try:
            self.repo.commit([Put(claimed)])
        except ConflictError:
            return None
        return _stored(claimed)

    def _give_up(self, version: DatasetVersion) -> None:
        reason = (
            f"processing stopped {version.attempts} times without finishing (the worker was "
            "killed: the file may need more memory or time than processing has)"
        )
        failed = version.model_copy(
            update={"status": DatasetStatus.FAILED, "reason": reason, "updated_at": self.clock()}
        )
        with contextlib.suppress(ConflictError):
            self.repo.commit([Put(failed)])

    def finish_processing(
        self,
        version_id: str,
        *,
        export_prefix: str | None = None,
        stats: DatasetStats | None = None,
        reason: str | None = None,
        retryable: bool = False,
        etag: str | None = None,
        attempt: int | None = None,
    ) -> DatasetVersion:
        """Mark a version ready (with its export) or failed (with ``reason``; ``retryable``
        when the failure was ours, not the file's).

        ``attempt``: record the result only if the version is still ``processing`` under that
        claim (the commit is conditional on the version as read), else raise
        :class:`StaleClaimError`: a worker that outlived its claim never overwrites the
        result of the claim that replaced it.

        A dataset never published maps its canonical URL to its newest ready version; a
        published one keeps its published version until the next publish.
        """

        def once() -> DatasetVersion:
            version = self.repo.get(DatasetVersion, version_id)
            if version is None:
                raise NotFoundError(f"no dataset version {version_id}")
            if attempt is not None and (
                version.status is not DatasetStatus.PROCESSING or version.attempts != attempt
            ):
                raise StaleClaimError(
                    f"dataset version {version_id} is no longer processing claim {attempt}"
                )
            done = version.model_copy(
                update={
                    "status": DatasetStatus.FAILED if reason else DatasetStatus.READY,
                    "reason": reason,
                    "retryable": bool(reason) and retryable,
                    "export_prefix": None if reason else export_prefix,
                    "stats": None if reason else stats,
                    "source_etag": etag or version.source_etag,
                    "updated_at": self.clock(),
                }
            )
            writes: list[Write] = [Put(done)]
            dataset = settled(self.repo, self.repo.get(Dataset, version.dataset_id))
            if reason is None and dataset is not None and not dataset.published:
                current = self.repo.get(DatasetVersion, dataset.version_id)
                if current is None or _order(current) <= _order(version):
                    repointed = {"version_id": version_id, "export_prefix": export_prefix}
                    writes.append(Put(dataset.model_copy(update=repointed)))
            self.repo.commit(writes)
            return _stored(done)

        return retry_on_conflict(
            once, attempts=10, gave_up=f"dataset version {version_id} kept changing; not recorded"
        )

    # -- publishing --------------------------------------------------------------------------

    def publish(self, curator_id: str, collection_or_version_id: str) -> CollectionView:
        """Publish the open version atomically, whatever its size: re-point refreshed
        datasets, map new ones, withdraw removed ones (tombstones carry the contact). The
        switch is one commit conditional on the collection's revision, so of two concurrent
        publishes one wins and one gets 409 (:mod:`cellucid_cloud.catalog.publishing`)."""
        view = self.open_version(curator_id, collection_or_version_id)
        version = view.version
        if not version.datasets:
            raise InvalidRequestError("a collection without datasets cannot be published")
        versions = self.dataset_versions(view)
        not_ready = sorted(
            f"{d} ({v.status})" for d, v in versions.items() if v.status is not DatasetStatus.READY
        )
        if not_ready or len(versions) != len(version.datasets):
            raise StateConflictError(
                "every dataset must be ready before publishing; not ready: "
                + ", ".join(not_ready or ["(missing versions)"])
            )
        previous = (
            self.repo.get(CollectionVersion, view.collection.published_version_id)
            if view.collection.published_version_id
            else None
        )
        collection, published = publish_version(
            self.repo, view.collection, version, versions, previous, self.clock()
        )
        return CollectionView(collection, published)

    # -- plumbing ----------------------------------------------------------------------------

    def _commit(self, writes: Sequence[Write], *, retryable: bool = False) -> None:
        try:
            self.repo.commit(writes)
        except ConflictError as exc:
            if retryable:
                raise
            raise StateConflictError(
                "the collection changed while this request ran (another request won); "
                "read it again and retry"
            ) from exc


def upload_key(collection_id: str, dataset_id: str, upload_id: str, suffix: str) -> str:
    """The object key of an upload URL's file: its own, never rewritten."""
    return f"{collection_id}/{dataset_id}/{upload_id}{suffix}"


def _never_uploaded(version: DatasetVersion) -> bool:
    return (
        version.upload_id is None
        and version.source is None
        and version.status is DatasetStatus.WAITING
    )


def _order(version: DatasetVersion) -> tuple[datetime, str]:
    """When a version was accepted, for "the newest accepted upload wins"."""
    if version.accepted_at is None:
        return (version.created_at if version.source else _EPOCH, "")
    return (version.accepted_at, version.sequence)


def _claimable(version: DatasetVersion, stale_before: datetime | None) -> bool:
    """Waiting; ``processing`` since before ``stale_before`` (its worker died); or failed for
    a reason of ours (``retryable``)."""
    if version.status is DatasetStatus.WAITING:
        return True
    if version.status is DatasetStatus.PROCESSING:
        return stale_before is not None and version.updated_at < stale_before
    return version.status is DatasetStatus.FAILED and version.retryable


def _stored[R: StoredRecord](record: R) -> R:
    """The record as stored by a successful commit (its revision moved on by one)."""
    return record.model_copy(update={"rev": record.rev + 1})
