"""What the event store port (:class:`~cellucid_cloud.core.ports.EventStore`) keeps: viewers,
per-viewer event logs in arrival order, session bundles, and the bundles' quotas.

Expiry is lazy in DynamoDB (TTL deletes within days), so reads never trust it: a viewer is
looked up together with the time, and events and bundles expire with their viewer. Sequence
numbers are dense per viewer (1, 2, 3...), which is what makes ``after=<cursor>`` reads lose
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BundleQuota", "quota_refusal"]


@dataclass(frozen=True, slots=True)
class BundleQuota:
    """What session bundles may take (docs/events.md, "Quotas"): per viewer over its life,
    and per deployment per UTC day. Bundles live as long as their viewer (at most 7 days),
    so the stored total stays under 8 days' worth."""

    viewer_bundles: int = 20
    viewer_bytes: int = 4 * 1024**3
    daily_bytes: int = 50 * 1024**3


def quota_refusal(
    quota: BundleQuota, bundles: int, viewer_bytes: int, day_bytes: int, size: int
) -> str | None:
    """Why one more bundle of ``size`` bytes does not fit what is counted, or None."""
    if bundles >= quota.viewer_bundles:
        return f"this viewer has stored its {quota.viewer_bundles} session bundles"
    if viewer_bytes + size > quota.viewer_bytes:
        return (
            f"this viewer's session bundles would take {viewer_bytes + size:,} bytes, more than "
            f"its {quota.viewer_bytes:,}"
        )
    if day_bytes + size > quota.daily_bytes:
        return (
            f"this deployment has taken its {quota.daily_bytes:,} bytes of session bundles "
            "for today (UTC); try again tomorrow"
        )
    return None
