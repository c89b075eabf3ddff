"""Lambda SnapStart runtime hooks, through the ``snapshot_restore_py`` module that Lambda's
managed Python runtimes provide (the ``snapshot-restore-py`` package).

A SnapStart function is initialised once per published version, and every later cold start
resumes a copy of that memory: whatever init made that must be unique per instance, or that
ages, is the same (and as old) in every copy. :func:`after_restore` registers what renews it.
Outside Lambda (tests, ``up``) the module is absent, nothing is ever restored, and registering
does nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["after_restore", "reseed_random"]

try:
    from snapshot_restore_py import (  # type: ignore[import-not-found]
        register_after_restore as _register,
    )
except ImportError:  # not Lambda's managed runtime

    def _register(func: Callable[[], object]) -> Callable[[], object]:
        return func


def after_restore(hook: Callable[[], object]) -> None:
    """Run ``hook`` every time an instance resumes from the snapshot (in registration order)."""
    _register(hook)


def reseed_random() -> None:
    """``random`` was seeded once, at init: every restored instance would draw the same
    numbers (the catalog's retry jitter would stop spreading retries out)."""
    random.seed()
