"""Building an export beside its destination and moving it into place only when complete.

The folder is built as ``.<name>.staging-<pid>-<token>`` next to OUT_DIR and renamed at the end
(one rename on the same file system), so an error or a kill never leaves a complete-looking
folder at OUT_DIR. Staging folders of processes that died are removed on the next run.
"""

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from cellucid_cloud.core.files import Staged, process_alive, staged

from .errors import PrepareError


def _remove_abandoned(parent: Path, name: str) -> None:
    for leftover in parent.glob(f".{name}.staging-*"):
        pid_text = leftover.name.rsplit(".staging-", 1)[1].split("-", 1)[0]
        if pid_text.isdigit() and not process_alive(int(pid_text)):
            shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(out_dir: Path, *, force: bool) -> Iterator[Path]:
    """Yield an empty staging folder; publish it at OUT_DIR if the block completes."""
    target = Path(os.path.abspath(out_dir))
    if target.exists() and not target.is_dir():
        raise PrepareError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise PrepareError(f"{target} already exists; choose a new folder or pass --force")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(target.parent, target.name)
        staging = target.parent / f".{target.name}.staging-{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()
    except OSError as error:
        raise PrepareError(f"cannot write to {target.parent}: {error.strerror}") from None
    with staged(target, staging) as folder:
        yield folder.path
        _publish(folder)


def _publish(folder: Staged) -> None:
    target = folder.target
    if target.is_dir() and any(target.iterdir()):
        replaced = target.parent / f".{target.name}.replaced-{secrets.token_hex(4)}"
        target.rename(replaced)
        folder.publish()
        shutil.rmtree(replaced, ignore_errors=True)
    else:
        if target.is_dir():
            target.rmdir()
        folder.publish()
