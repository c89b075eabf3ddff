"""``make mutants``: break each documented guard on purpose, one line at a time, and check that
the tests named for it fail.

Every entry of :data:`MUTANTS` is one deliberate break of a guard that ``docs/security.md`` or
``docs/reliability.md`` promises: the exact text to replace in one file, what to replace it
with, and the tests that must catch it. The script copies the repository (tracked and
untracked files, as they are in this working tree) into a scratch folder, checks that the
chosen tests pass there unchanged, then applies each break alone, runs its tests and puts the
line back. A break whose tests still pass *survived*: a promise no test proves. A break whose
text is no longer in its file is *stale* (the code moved): update the entry. The working tree
itself is never touched.

    .venv/bin/python -m tests.mutants            # every entry
    .venv/bin/python -m tests.mutants -k ttl     # entries whose name contains "ttl"
    .venv/bin/python -m tests.mutants --list

Exit status 0 only when every break was caught.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = "src/cellucid_cloud/"


@dataclass(frozen=True)
class Mutant:
    name: str
    """Short name: what the break removes."""
    path: str
    """File to break, relative to the repository root."""
    before: str
    """Exact text, found exactly once in the file."""
    after: str
    tests: tuple[str, ...]
    """pytest node ids that must fail."""


def _m(name: str, path: str, before: str, after: str, *tests: str) -> Mutant:
    return Mutant(name, path, before, after, tests)


SECURITY = "tests/integration/test_security.py"
ROBUSTNESS = "tests/integration/test_api_robustness.py"

MUTANTS: tuple[Mutant, ...] = (
    # -- bounded bodies -------------------------------------------------------------------------
    _m(
        "api body: declared length one byte over the limit accepted",
        SRC + "api/limits.py",
        "if int(value) > self.max_bytes:",
        "if int(value) > self.max_bytes + 1:",
        f"{ROBUSTNESS}::test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_a_413",
    ),
    _m(
        "api body: a body of exactly the limit refused",
        SRC + "api/limits.py",
        "if int(value) > self.max_bytes:",
        "if int(value) >= self.max_bytes:",
        f"{ROBUSTNESS}::test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_a_413",
    ),
    _m(
        "api body: streamed (chunked) bytes not counted",
        SRC + "api/limits.py",
        'seen += len(message.get("body", b""))',
        "seen += 0",
        f"{ROBUSTNESS}::test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_a_413",
        f"{ROBUSTNESS}::test_oversized_chunked_body_is_a_413",
    ),
    _m(
        "api body: streamed count one byte lenient",
        SRC + "api/limits.py",
        "if seen > self.max_bytes and not started:",
        "if seen > self.max_bytes + 1 and not started:",
        f"{ROBUSTNESS}::test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_a_413",
    ),
)


@dataclass(frozen=True)
class Result:
    mutant: Mutant
    verdict: str
    """caught, survived, stale or error."""
    seconds: float
    detail: str


def scratch_copy(destination: Path) -> None:
    """The working tree's files (tracked and untracked, ignored ones left out) under
    ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        source = ROOT / os.fsdecode(raw)
        if not source.is_file():  # deleted in the working tree
            continue
        target = destination / os.fsdecode(raw)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def scratch_env(scratch: Path) -> dict[str, str]:
    """The scratch copy's sources first on the path (ahead of the editable install), for the
    test process and every process it starts; no bytecode caches, so each break is compiled."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(scratch / "src"), str(scratch)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run_tests(scratch: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    env = scratch_env(scratch)
    return subprocess.run(
        command, cwd=scratch, env=env, capture_output=True, text=True, check=False
    )


def first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" ", 1)[1].split(" - ")[0]
    lines = output.strip().splitlines()
    return lines[-1] if lines else ""


def check_imports(scratch: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import cellucid_cloud, tests; print(cellucid_cloud.__file__)"],
        cwd=scratch,
        env=scratch_env(scratch),
        capture_output=True,
        text=True,
        check=True,
    )
    imported = Path(probe.stdout.strip())
    if not imported.is_relative_to(scratch):
        raise SystemExit(f"the scratch copy is not what runs: cellucid_cloud from {imported}")


def try_mutant(scratch: Path, mutant: Mutant) -> Result:
    path = scratch / mutant.path
    original = path.read_text()
    found = original.count(mutant.before)
    if found != 1:
        return Result(mutant, "stale", 0.0, f"the text is in {mutant.path} {found} times")
    path.write_text(original.replace(mutant.before, mutant.after))
    started = time.monotonic()
    try:
        run = run_tests(scratch, mutant.tests)
    finally:
        path.write_text(original)
    seconds = time.monotonic() - started
    if run.returncode == 0:
        return Result(mutant, "survived", seconds, "")
    if run.returncode == 1:
        return Result(mutant, "caught", seconds, first_failure(run.stdout))
    return Result(mutant, "error", seconds, first_failure(run.stdout + run.stderr))


def report(results: list[Result]) -> str:
    lines = ["| # | break | file | verdict | caught by | s |", "|---:|---|---|---|---|---:|"]
    for index, result in enumerate(results, 1):
        file = result.mutant.path.removeprefix(SRC)
        lines.append(
            f"| {index} | {result.mutant.name} | `{file}` | {result.verdict} | "
            f"{result.detail.removeprefix('tests/')} | {result.seconds:.0f} |"
        )
    counts = {v: sum(r.verdict == v for r in results) for v in ("caught", "survived")}
    others = len(results) - counts["caught"] - counts["survived"]
    lines.append("")
    lines.append(
        f"{counts['caught']} caught, {counts['survived']} survived"
        + (f", {others} stale or errors" if others else "")
        + f" of {len(results)}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="only breaks whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the breaks and stop")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if args.k.lower() in m.name.lower()]
    if args.list:
        for mutant in chosen:
            print(f"{mutant.name}  ({mutant.path})")
        return 0
    with tempfile.TemporaryDirectory(prefix="cellucid-mutants-") as tmp:
        scratch = Path(tmp)
        scratch_copy(scratch)
        check_imports(scratch)
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        print(f"baseline: {len(tests)} test selections, unchanged code", flush=True)
        baseline = run_tests(scratch, tests)
        if baseline.returncode != 0:
            print(baseline.stdout[-5000:], baseline.stderr[-2000:])
            print("the chosen tests fail on the unchanged code; fix that first")
            return 2
        results = []
        for mutant in chosen:
            result = try_mutant(scratch, mutant)
            print(f"{result.verdict:>8}  {result.seconds:5.0f} s  {mutant.name}", flush=True)
            results.append(result)
    print()
    print(report(results))
    return 0 if all(r.verdict == "caught" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
