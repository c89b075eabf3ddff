"""X's blocks in a child forked by ``prepare`` (``export/gene_child.py``): the same bytes as the
blocks on threads, the child's refusals and deaths reported to the user, nothing left running.

Each test runs ``prepare`` in a process of its own: the child is forked only by a process with
one thread, which a pytest worker is not."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tests.export_data import make_adata, write_with_bad_value
from tests.integration.test_block_workers import assert_same_export

CREATED_AT = "2024-01-01T00:00:00Z"

COUNT_CHILDREN = """
import os, sys, threading
import cellucid_cloud.export.head_start as head_start
from cellucid_cloud.export import PrepareError, prepare

forked = []
Child = head_start.GeneChild

def counted(*args):
    child = Child(*args)
    forked.append(child)
    return child

head_start.GeneChild = counted
"""


def run_script(body: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = COUNT_CHILDREN + textwrap.dedent(body)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # one thread, as the CLI keeps it
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("child") / "cells.h5ad"
    make_adata(n_cells=733, n_genes=41, seed=11).write_h5ad(path)
    return path


def test_the_child_writes_the_bytes_the_threads_write(h5ad: Path, tmp_path: Path) -> None:
    done = run_script(
        f"""
        settings = dict(
            dataset_id="cells", created_at={CREATED_AT!r}, block_rows=97, block_genes=6
        )
        prepare(sys.argv[1], sys.argv[2] + "/child", **settings)
        assert len(forked) == 1, forked
        busy = threading.Event()
        other = threading.Thread(target=busy.wait)
        other.start()  # a second thread: no fork, the blocks run on threads
        prepare(sys.argv[1], sys.argv[2] + "/threads", **settings)
        busy.set()
        print(len(forked))
        """,
        str(h5ad),
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"]
    assert_same_export(tmp_path / "threads", tmp_path / "child")


def test_a_file_the_child_refuses_is_refused_with_its_reason(tmp_path: Path) -> None:
    bad = write_with_bad_value(make_adata(n_cells=300, seed=3), tmp_path / "bad.h5ad", 211, np.inf)
    done = run_script(
        """
        try:
            prepare(sys.argv[1], sys.argv[2], block_rows=50)
        except PrepareError as error:
            print(len(forked), error)
        """,
        str(bad),
        str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 X has NaN or infinite values (cells 200-250)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.h5ad"]


def test_a_child_killed_fails_the_export_and_says_so(h5ad: Path, tmp_path: Path) -> None:
    """As the kernel's OOM killer would: the export fails with a reason, nothing is left."""
    done = run_script(
        """
        import signal

        def killed(*args):
            child = Child(*args)
            os.kill(child._pid, signal.SIGKILL)
            return child

        head_start.GeneChild = killed
        try:
            prepare(sys.argv[1], sys.argv[2], block_rows=1)
        except PrepareError as error:
            print(error)
        """,
        str(h5ad),
        str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "the process writing X's genes was stopped by SIGKILL (out of memory?)"
    )
    assert list(tmp_path.iterdir()) == []


def test_when_the_system_cannot_fork_the_blocks_run_on_threads(h5ad: Path, tmp_path: Path) -> None:
    done = run_script(
        """
        import errno

        def refused():
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

        os.fork = refused
        result = prepare(sys.argv[1], sys.argv[2], block_rows=97)
        print(len(forked), result.identity.stats.n_genes, len(result.block_costs))
        """,
        str(h5ad),
        str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr
    forked, genes, blocks = done.stdout.split()
    assert (forked, genes) == ("0", "41") and int(blocks) > 0
    assert not list(tmp_path.glob(".out.staging-*"))


def test_a_stopped_child_is_cancelled_and_reaped(h5ad: Path, tmp_path: Path) -> None:
    done = run_script(
        """
        from concurrent.futures import CancelledError, ThreadPoolExecutor
        from pathlib import Path
        from cellucid_cloud.export.format import GENE_VALUES
        from cellucid_cloud.export.progress import no_progress
        from cellucid_cloud.export.settings import ExportSettings

        settings = ExportSettings(block_rows=1, block_genes=1)
        with ThreadPoolExecutor(1) as thread:
            begun = head_start.begin_genes(
                Path(sys.argv[1]), settings, Path(sys.argv[2]), thread, no_progress
            )
            elsewhere = begun.location.model_copy(update={"node": "/raw/X"})
            print(begun.adopt(elsewhere), len(forked))
        try:
            begun.bounds.result()
        except CancelledError:
            print("cancelled")
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            print("no child")
        print((Path(sys.argv[2]) / GENE_VALUES.folder).exists())
        """,
        str(h5ad),
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "1", "cancelled", "no", "child", "False"]


def test_the_child_ends_with_its_parent(h5ad: Path, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            COUNT_CHILDREN
            + textwrap.dedent(
                """
                def reported(*args):
                    child = Child(*args)
                    print(child._pid, flush=True)
                    os.kill(os.getpid(), signal.SIGKILL)
                    return child

                import signal
                head_start.GeneChild = reported
                prepare(sys.argv[1], sys.argv[2], block_rows=1, block_genes=1)
                """
            ),
            str(h5ad),
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert process.stdout is not None
    child = int(process.stdout.readline())
    assert process.wait(timeout=60) == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(child)


def running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie has ended: only its exit status is left)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_on_a_terminal_the_bars_are_drawn_and_the_child_forked(h5ad: Path, tmp_path: Path) -> None:
    """Progress bars start with the first report: their refresh thread, started before,
    would keep ``prepare`` from forking."""
    import pty

    main, terminal = pty.openpty()
    script = COUNT_CHILDREN + textwrap.dedent(
        """
        from cellucid_cloud.progress import terminal_progress

        with terminal_progress() as progress:
            prepare(sys.argv[1], sys.argv[2], progress=progress, block_rows=50)
        print(len(forked))
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(h5ad), str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "COLUMNS": "100"},
    )
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal's other end closed
            break
        if not chunk:
            break
        drawn += chunk
    os.close(main)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert out.split() == ["1"]
    assert b"reading X" in drawn and b"733/733" in drawn
