"""Multipart uploads: a large file sent as numbered parts, each to its own short-lived URL that
takes exactly that part's bytes, then assembled into one object when the curator completes it.

S3 takes at most 5 GiB in one PUT, and a presigned URL lives 15 minutes, so a file of many
gigabytes goes up in parts, asking for part URLs as it goes. On AWS this is S3's own multipart
upload (the object appears, and its event fires, only at completion); locally the parts are
written straight into place in a file outside the uploads folder, renamed in when complete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cellucid_cloud.storage.upload_urls import UploadUrlError

__all__ = [
    "MAX_PARTS",
    "MAX_PART_URLS",
    "MIN_PART_SIZE",
    "MULTIPART_LIFETIME",
    "PART_SIZE",
    "MultipartError",
    "Part",
    "PartPlan",
    "PartUrl",
    "UnknownMultipartError",
]

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB
"""S3's smallest part (every part but the last)."""
MAX_PARTS = 10_000
"""S3's most parts in one upload."""
PART_SIZE = 16 * MiB
"""The part size unless the file needs larger parts to fit in :data:`MAX_PARTS` (S3 advises
8 to 64 MiB: smaller parts are retried faster, and more of them go in parallel)."""
MAX_PART_URLS = 100
"""Part URLs handed out per request: a client asks again as it goes (each URL lives briefly)."""
MULTIPART_LIFETIME = 24 * 3600
"""Seconds an unfinished multipart upload is kept (the uploads bucket's lifecycle rule aborts
it a day after it started); the catalog fails its version after that."""


class MultipartError(UploadUrlError):
    """The multipart upload cannot go on as asked (parts missing or wrong); the message tells
    the curator why."""


class UnknownMultipartError(MultipartError):
    """No such multipart upload in the store: completed, aborted or expired."""

    def __init__(self) -> None:
        super().__init__("no such multipart upload (completed, aborted or expired)")


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a :class:`PartPlan`: where it starts in the file and its exact length."""

    number: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class PartPlan:
    """How a file of ``size`` bytes is cut: parts of ``part_size``, the last one shorter."""

    size: int
    part_size: int

    @classmethod
    def for_size(cls, size: int) -> PartPlan:
        if size < 1:
            raise MultipartError("a multipart upload needs a file of at least 1 byte")
        needed = -(-size // MAX_PARTS)
        return cls(size, max(PART_SIZE, -(-needed // MiB) * MiB))

    @property
    def count(self) -> int:
        return -(-self.size // self.part_size)

    def part(self, number: int) -> tuple[int, int]:
        """Part ``number``'s (offset, length)."""
        if not 1 <= number <= self.count:
            raise MultipartError(f"no part {number}: this upload has parts 1 to {self.count}")
        offset = (number - 1) * self.part_size
        return offset, min(self.part_size, self.size - offset)

    def parts(self, numbers: Sequence[int]) -> list[Part]:
        """The given parts as planned; :class:`MultipartError` for a number not in the plan."""
        return [Part(number, *self.part(number)) for number in numbers]

    def check_complete(self, etags: Mapping[int, str]) -> None:
        """Completion names every part once: 1 to :attr:`count`."""
        missing = sorted(set(range(1, self.count + 1)) - set(etags))
        extra = sorted(set(etags) - set(range(1, self.count + 1)))
        if missing or extra:
            raise MultipartError(
                f"completion must list parts 1 to {self.count} with their ETags"
                + (f"; missing {_numbers(missing)}" if missing else "")
                + (f"; no such part {_numbers(extra)}" if extra else "")
            )


@dataclass(frozen=True, slots=True)
class PartUrl:
    """A URL that takes one PUT of exactly ``size`` bytes (with ``headers``) as part
    ``number``; its answer's ``ETag`` header is what completion needs."""

    number: int
    url: str
    size: int
    headers: dict[str, str] = field(default_factory=dict)


def _numbers(numbers: Sequence[int]) -> str:
    shown = ", ".join(map(str, numbers[:10]))
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
