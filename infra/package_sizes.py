"""Sizes of what `sam build` made, against Lambda's 250 MB unzipped limit.

Lambda counts a function's code and all its layers together, unzipped, against 262,144,000
bytes. This reads .aws-sam/build/template.yaml to see which layers each function uses, sums
the apparent size of every file (what unzipping writes, not disk blocks), prints a Markdown
table (the one in docs/benchmarks.md) and exits 1 when a function is over the limit.

    .venv/bin/python infra/package_sizes.py [.aws-sam/build]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
LIMIT = 262_144_000
MB = 1_000_000


def tree_size(folder: Path) -> tuple[int, int]:
    """(bytes, files) of every regular file under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def built_functions(build: Path) -> dict[str, tuple[str, list[str]]]:
    """Function logical id -> (its code folder, its layers' folders), from the built template."""
    from cfnlint.decode import decode

    template, matches = decode(str(build / "template.yaml"))
    if matches or template is None:
        raise SystemExit("\n".join(str(m) for m in matches) or "no built template")
    resources: dict[str, Any] = template["Resources"]
    layer_dirs = {
        name: str(res["Properties"]["ContentUri"])
        for name, res in resources.items()
        if res["Type"] == "AWS::Serverless::LayerVersion"
    }
    return {
        name: (
            str(res["Properties"]["CodeUri"]),
            [layer_dirs[layer["Ref"]] for layer in res["Properties"].get("Layers", [])],
        )
        for name, res in resources.items()
        if res["Type"] == "AWS::Serverless::Function"
    }


def main(argv: list[str]) -> int:
    build = Path(argv[0]) if argv else BUILD
    functions = built_functions(build)
    sizes = {p.name: tree_size(p) for p in sorted(build.iterdir()) if p.is_dir()}
    print("| artifact | bytes | MB | files |")
    print("|---|---:|---:|---:|")
    for name, (size, count) in sizes.items():
        print(f"| {name} | {size:,} | {size / MB:.1f} | {count:,} |")
    print()
    print("| function | code + layers, bytes | MB | share of the 262,144,000-byte limit |")
    print("|---|---:|---:|---:|")
    over = []
    for name, (code, layers) in functions.items():
        total = sum(sizes[part][0] for part in [code, *layers])
        print(
            f"| {name} ({' + '.join([code, *layers])}) | {total:,} | "
            f"{total / MB:.1f} | {total / LIMIT:.1%} |"
        )
        if total > LIMIT:
            over.append(name)
    if over:
        print(f"over Lambda's unzipped limit: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
