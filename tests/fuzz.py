"""``make fuzz``: hypothesis over the parsers of untrusted input, then schemathesis against the
whole OpenAPI document of a running local stack.

The parser properties (``PROPERTY_TESTS``: Range headers, explorer URLs, event and bundle JSON,
query integers; as functions and over real HTTP against ``up`` and both ``serve`` modes) run
under the ``fuzz`` hypothesis profile, with ``--property-examples`` examples per test
(``make test`` runs them with hypothesis's default 100).

Starts ``cellucid-cloud up`` (a real process) in a temporary data directory and gives it real
content: a published collection with a ready dataset, an open revision of it, a private draft
collection with a ready dataset, and a registered viewer. Then runs the schemathesis CLI over
every operation of ``/openapi.json`` — examples, coverage, fuzzing and stateful phases, every
check but ``positive_data_acceptance`` (some valid-looking inputs are refused by rules a JSON
schema cannot state, with a documented 422; see tests/integration/test_api_schema.py) —
authenticated as the stack's curator, with far more examples per operation than the regular
suite. Path, query and body parameters draw the seeded ids from dictionaries half the time, so
generated requests reach real collections, datasets and viewers instead of only 404s.

Run: ``.venv/bin/python -m tests.fuzz [--property-examples 5000] [--max-examples 1000]
[--max-time 780] [--no-properties] [--no-schema]``; reports (JUnit, NDJSON) go to
``.bench/fuzz/``. Exit status 0 when neither part found a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from cellucid_cloud.client import CurationClient
from tests.export_data import make_adata
from tests.local_up import Up, running_up

ROOT = Path(__file__).resolve().parents[1]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}
PROPERTY_TESTS = [
    "tests/unit/test_parser_properties.py",
    "tests/integration/test_hostile_requests.py",
]


def seed(up: Up, work: Path) -> dict[str, list[str]]:
    """Real content for the generated requests to reach; the ids, by dictionary name."""
    h5ad = work / "seed.h5ad"
    make_adata(n_cells=80, n_genes=20, seed=7).write_h5ad(h5ad)
    with CurationClient(up.base_url, up.curator_key) as curator:
        public = curator.create_collection(name="Fuzzed public", **CONTACT)
        public_dataset = curator.create_dataset(public)
        curator.upload(public, public_dataset, h5ad)
        curator.wait_until_processed(public, public_dataset, poll=0.2)
        curator.publish(public)
        draft = curator.create_collection(name="Fuzzed draft", **CONTACT)
        draft_dataset = curator.create_dataset(draft)
        curator.upload(draft, draft_dataset, h5ad)
        curator.wait_until_processed(draft, draft_dataset, poll=0.2)
        revision = curator.start_revision(public)
        viewer = curator.register_viewer(public_dataset)
    return {
        "collections": [public, draft, revision],
        "datasets": [public_dataset, draft_dataset],
        "explorer_urls": [f"{up.base_url}/e/{public_dataset}/", f"/e/{draft_dataset}/"],
        "viewer_ids": [viewer["viewerId"]],
        "viewer_tokens": [viewer["viewerToken"]],
        "api_keys": [up.curator_key],
    }


def config(token: str, dictionaries: dict[str, list[str]]) -> str:
    """schemathesis.toml: the bearer token for secured operations and the seeded ids."""
    lines = ["[auth.openapi.HTTPBearer]", f"bearer = {json.dumps(token)}", ""]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    bindings = {
        "path.collection_id": "collections",
        "path.dataset_id": "datasets",
        "body.dataset_id": "datasets",
        "query.url": "explorer_urls",
        "query.viewerId": "viewer_ids",
        "query.viewerToken": "viewer_tokens",
        "body.viewerId": "viewer_ids",
        "body.viewerToken": "viewer_tokens",
        "header.x-api-key": "api_keys",
    }
    lines.append("[parameters]")
    for key, name in bindings.items():
        lines.append(f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}')
    return "\n".join(lines) + "\n"


def properties(examples: int, report_dir: Path) -> int:
    """The parser properties under the ``fuzz`` profile; pytest's exit status."""
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        *PROPERTY_TESTS,
        "-q",
        "-p",
        "no:cacheprovider",
        "--hypothesis-profile=fuzz",
        "--hypothesis-show-statistics",
        # The suite's 600 s per test is for 100 examples; 5,000 over HTTP took longer than that
        # on a busy machine (each example is one to three requests, up to ~250 ms).
        f"--timeout={max(600, examples // 2)}",
        f"--junitxml={report_dir / 'properties.xml'}",
    ]
    env = {**os.environ, "CELLUCID_FUZZ_EXAMPLES": str(examples)}
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--property-examples", type=int, default=5000, help="per property")
    parser.add_argument("--no-properties", action="store_true", help="schemathesis only")
    parser.add_argument("--no-schema", action="store_true", help="the properties only")
    parser.add_argument("--max-examples", type=int, default=1000, help="per operation")
    parser.add_argument("--max-time", type=int, default=780, help="seconds for the whole run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--report-dir", type=Path, default=ROOT / ".bench" / "fuzz")
    args = parser.parse_args()
    failed = 0
    if not args.no_properties:
        failed |= properties(args.property_examples, args.report_dir)
    if not args.no_schema:
        failed |= schema(args)
    sys.exit(1 if failed else 0)


def schema(args: argparse.Namespace) -> int:
    """Schemathesis over the whole OpenAPI document of a seeded ``up``; its exit status."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp, running_up(Path(tmp) / "data") as up:
        dictionaries = seed(up, Path(tmp))
        with up.curator() as curator:
            token = curator.headers["Authorization"].removeprefix("Bearer ")
        config_file = Path(tmp) / "schemathesis.toml"
        config_file.write_text(config(token, dictionaries))
        command = [
            str(SCHEMATHESIS),
            "--config-file",
            str(config_file),
            "run",
            f"{up.base_url}/openapi.json",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            str(args.max_examples),
            "--max-time",
            str(args.max_time),
            "--workers",
            str(args.workers),
            "--request-timeout",
            "30",
            "--max-response-time",
            "28",
            "--suppress-health-check",
            "all",
            "--report",
            "junit,ndjson",
            "--report-dir",
            str(args.report_dir),
            *(["--seed", str(args.seed)] if args.seed is not None else []),
        ]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    main()
