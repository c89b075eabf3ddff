"""The progress callback of long export work: one type for every layer that reports."""

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
"""Called with (stage, units just done, units in the stage)."""


def no_progress(stage: str, done: int, total: int) -> None:
    """The callback of a caller that does not watch."""
    del stage, done, total
