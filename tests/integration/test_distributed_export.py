"""The distributed export on moto's Step Functions interpreter (``execute_state_machine``).

The state machine is template.yaml's definition as written; moto runs it (Plan, the two
Distributed Maps reading their items from S3, Finalize), and its Lambda tasks are answered in
this process by the real handlers of ``functions/export/app.py``, which reach S3 and DynamoDB
on the same moto server over HTTP. The oracle: with tiny blocks, the export stored under the
version's prefix is ``prepare()``'s folder byte for byte.

moto's interpreter (5.2) has gaps the definition avoids or the tests cover: no ItemBatcher (Plan
batches the items), no integer ToleratedFailurePercentage (none: a failed block fails the map
on AWS), and a child that fails for good leaves ``null`` in its slot instead of failing the
run, which is why Finalize checks every block's report instead of trusting the run.
"""

from __future__ import annotations

import importlib.util
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.awsrequest import AWSResponse
from moto.awslambda.models import LambdaBackend

from cellucid_cloud.aws.executions import StateMachineExecutions
from cellucid_cloud.catalog.models import Dataset, DatasetStatus, DatasetVersion
from cellucid_cloud.catalog.processing import Arrival, Processor, export_prefix
from cellucid_cloud.distributed.route import DistributedExport
from cellucid_cloud.export import ExportSettings, prepare
from cellucid_cloud.export.layout import files_on_disk
from cellucid_cloud.ingest.engine import check_and_prepare
from cellucid_cloud.storage.s3_objects import S3Objects
from tests.catalog_data import CURATOR, METADATA, accept
from tests.cloud import ROOT, CloudStack, FakeLambdaContext, cloud_stack, event
from tests.export_data import make_adata, write_with_bad_value
from tests.faults import injected, s3_error

CREATED_AT = "2024-01-01T00:00:00Z"
BLOCKS = {"block_rows": 37, "block_genes": 5}
SAMPLES = {
    "plan": "export/plan.json",
    "row_blocks": "export/row-blocks.json",
    "gene_blocks": "export/gene-blocks.json",
    "finalize": "export/finalize.json",
}
"""The sample events of ``events/``, each the shape the state machine sends its handler."""
STEPS = {
    "PlanFunction": "plan",
    "RowBlocksFunction": "row_blocks",
    "GeneBlocksFunction": "gene_blocks",
    "FinalizeFunction": "finalize",
}


def shape(value: Any) -> Any:
    """A JSON document's structure: its objects' keys and where it has lists (settings left
    unset in the samples are null where the tests set them)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "value"


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("lambda_export_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Lambdas:
    """moto's Lambda service, answering from the export's handlers in this process.
    ``killed``: (handler, block) pairs whose invocation dies as a crashed function would."""

    handlers: dict[str, Callable[[Any, Any], Any]]
    killed: set[tuple[str, int]] = field(default_factory=set)
    invoked: list[str] = field(default_factory=list)
    events: dict[str, Any] = field(default_factory=dict)
    """The first event each handler got."""

    def invoke(
        self,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        del qualifier, headers
        name = function_name.rsplit(":", 1)[-1]
        event = json.loads(body or "{}")
        self.invoked.append(name)
        self.events.setdefault(name, event)
        blocks = event.get("blocks", []) if isinstance(event, dict) else []
        try:
            if any((name, block) in self.killed for block in blocks):
                raise RuntimeError("Runtime exited with error: signal: killed")
            result = self.handlers[name](event, FakeLambdaContext(f"cellucid-export-{name}"))
        except Exception as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {"errorType": type(error).__name__, "errorMessage": str(error)}
            ).encode()
        return json.dumps(result).encode()


@dataclass
class Distributed:
    stack: CloudStack
    machine: str
    sfn: Any
    lambdas: Lambdas

    def processor(self) -> Processor:
        settings = ExportSettings(created_at=CREATED_AT, **BLOCKS)
        uploads = S3Objects(self.stack.uploads_bucket, self.stack.s3)
        executions = StateMachineExecutions(self.machine, self.sfn)
        return Processor(
            self.stack.catalog,
            uploads,
            S3Objects(self.stack.exports_bucket, self.stack.s3),
            settings,
            run=check_and_prepare,
            large=DistributedExport(uploads, executions, above_bytes=0),
        )

    def upload(self, path: Path) -> DatasetVersion:
        catalog = self.stack.catalog
        collection = catalog.create_collection(CURATOR, METADATA).collection.collection_id
        version = accept(catalog, collection, catalog.add_dataset(CURATOR, collection).dataset_id)
        self.stack.s3.upload_file(str(path), self.stack.uploads_bucket, str(version.source))
        return version

    def finished(self, name: str) -> dict[str, Any]:
        """The output of execution ``name`` once it has ended."""
        arn = self.machine.replace(":stateMachine:", ":execution:") + f":{name}"
        deadline = time.monotonic() + 120
        while True:
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert described["status"] == "SUCCEEDED", described
        output: dict[str, Any] = json.loads(described["output"])
        return output

    def version(self, version_id: str) -> DatasetVersion:
        stored = self.stack.repository.get(DatasetVersion, version_id)
        assert stored is not None
        return stored

    def stored(self, prefix: str) -> dict[str, bytes]:
        objects = S3Objects(self.stack.exports_bucket, self.stack.s3)
        return {key.removeprefix(prefix): objects.get(key) for key in objects.sizes(prefix)}


def _configure(endpoint: str, execute: bool) -> None:
    document = json.dumps({"stepfunctions": {"execute_state_machine": execute}}).encode()
    post = urllib.request.Request(f"{endpoint}/moto-api/config", document, method="POST")
    with urllib.request.urlopen(post) as answer:
        assert answer.status == 201


@pytest.fixture(scope="module")
def distributed(moto_server: str) -> Iterator[Distributed]:
    spec = importlib.util.spec_from_file_location("lint_template", ROOT / "infra/lint_template.py")
    assert spec is not None and spec.loader is not None
    lint_template = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lint_template)
    app = _module(ROOT / "functions" / "export" / "app.py")
    lambdas = Lambdas({name: getattr(app, name) for name in STEPS.values()})
    with cloud_stack(moto_server) as stack, pytest.MonkeyPatch.context() as patch:
        # The interpreter's own clients (ItemReader, Lambda) reach the server on this port.
        patch.setenv("MOTO_PORT", moto_server.rsplit(":", 1)[1])
        patch.setattr(
            LambdaBackend,
            "invoke",
            lambda backend, *args: lambdas.invoke(*args),
        )
        substitutions = {
            key: f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
            for key, name in STEPS.items()
        }
        definition = lint_template.state_machine_definition(
            lint_template.load_template(),
            "ExportStateMachine",
            {**substitutions, "ExportsBucket": stack.exports_bucket},
        )
        _configure(moto_server, execute=True)  # before: it picks the interpreting backend
        sfn = boto3.session.Session().client("stepfunctions", endpoint_url=moto_server)
        machine = sfn.create_state_machine(
            name=f"cellucid-test-export-{stack.catalog_table}",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/cellucid-test-export",
        )["stateMachineArn"]
        try:
            yield Distributed(stack, machine, sfn, lambdas)
        finally:
            _configure(moto_server, execute=False)
            sfn.delete_state_machine(stateMachineArn=machine)


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("distributed") / "lung.h5ad"
    make_adata(n_cells=211, n_genes=23, seed=7).write_h5ad(path)
    return path


def local_export(path: Path, out: Path, version: DatasetVersion) -> dict[str, bytes]:
    """What ``prepare`` writes for the same file and settings, on one machine."""
    prepare(path, out, ExportSettings(created_at=CREATED_AT, dataset_id=version.dataset_id))
    return {name: (out / name).read_bytes() for name in files_on_disk(out)}


def test_the_state_machine_exports_the_bytes_of_prepare(
    distributed: Distributed, h5ad: Path, tmp_path: Path
) -> None:
    version = distributed.upload(h5ad)
    outcome = distributed.processor().process(Arrival(str(version.source)))
    assert (outcome.status, outcome.version_id) == ("distributed", version.version_id)

    result = distributed.finished(f"{version.version_id}-1")
    prefix = export_prefix(version.version_id)
    assert result == {
        "version_id": version.version_id,
        "status": "ready",
        "export_prefix": prefix,
        "reason": None,
    }
    stored = distributed.version(version.version_id)
    assert (stored.status, stored.export_prefix) == (DatasetStatus.READY, prefix)
    assert stored.stats is not None and (stored.stats.n_cells, stored.stats.n_genes) == (211, 23)
    expected = local_export(h5ad, tmp_path / "local", version)
    exported = distributed.stored(prefix)
    assert sorted(exported) == sorted(expected)
    assert [name for name in expected if exported[name] != expected[name]] == []
    assert stored.stats.bytes == sum(len(data) for data in expected.values())
    # Six row blocks, five gene blocks, each its own item; nothing left of the work.
    invoked = distributed.lambdas.invoked
    assert [invoked.count(step) for step in STEPS.values()] == [1, 6, 5, 1]
    assert distributed.stored("work/") == {}
    for name, sample in SAMPLES.items():
        assert shape(distributed.lambdas.events[name]) == shape(event(sample)), sample


def test_a_block_that_never_reports_fails_the_version_for_a_retry_on_a_fresh_prefix(
    distributed: Distributed, h5ad: Path, tmp_path: Path
) -> None:
    version = distributed.upload(h5ad)
    key = str(version.source)
    distributed.lambdas.killed = {("gene_blocks", 2)}
    try:
        assert distributed.processor().process(Arrival(key)).status == "distributed"
        result = distributed.finished(f"{version.version_id}-1")
    finally:
        distributed.lambdas.killed = set()

    assert result["status"] == "failed"
    failed = distributed.version(version.version_id)
    assert failed.status is DatasetStatus.FAILED and failed.retryable
    assert failed.export_prefix is None
    assert failed.reason is not None and failed.reason.startswith(
        "internal error while processing: 1 of 5 gene blocks did not report (e.g. block 2)"
    )
    partial = export_prefix(version.version_id)
    assert distributed.stored(partial) == {}
    dataset = distributed.stack.repository.get(Dataset, version.dataset_id)
    assert dataset is not None and dataset.export_prefix != partial
    assert distributed.stored("work/") == {}

    assert distributed.processor().process(Arrival(key)).status == "distributed"
    assert distributed.finished(f"{version.version_id}-2")["status"] == "ready"
    retried = distributed.version(version.version_id)
    fresh = export_prefix(version.version_id, 2)
    assert (retried.status, retried.attempts, retried.export_prefix) == (
        DatasetStatus.READY,
        2,
        fresh,
    )
    assert distributed.stored(fresh) == local_export(h5ad, tmp_path / "local", version)


def test_a_file_a_block_refuses_fails_for_good_with_the_reason(
    distributed: Distributed, tmp_path: Path
) -> None:
    path = write_with_bad_value(
        make_adata(n_cells=60, n_genes=8, seed=8), tmp_path / "inf.h5ad", 45, np.inf
    )
    version = distributed.upload(path)
    assert distributed.processor().process(Arrival(str(version.source))).status == "distributed"
    assert distributed.finished(f"{version.version_id}-1")["status"] == "failed"
    failed = distributed.version(version.version_id)
    assert failed.status is DatasetStatus.FAILED and not failed.retryable
    assert failed.reason == f"{version.file_name}: X has NaN or infinite values (cells 37-60)"
    assert distributed.stored(export_prefix(version.version_id)) == {}
    assert distributed.stored("work/") == {}


class _Cut:
    """A response body that ends early, as a connection cut mid-body leaves it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, amt: int | None = None) -> bytes:
        data, self.data = self.data, b""
        return data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.read()


class FailingRangedReads:
    """``before-send`` of GetObject: while ``active``, every ranged read of the uploads bucket
    fails as ``how`` says: ``"500"``, S3 failing past botocore's retries; ``"cut"``, the body
    cut after 10 bytes (a short read, which the S3 adapter reports as an OSError, the error
    type h5py and the reader take for a bad file)."""

    def __init__(self, bucket: str, how: str) -> None:
        self.bucket = bucket
        self.how = how
        self.active = False
        self.sent = 0
        self._error = s3_error(500, "InternalError", "injected", times=10**9)

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        if (
            not self.active
            or "Range" not in request.headers
            or f"/{self.bucket}/" not in request.url
        ):
            return None
        self.sent += 1
        if self.how == "500":
            return self._error(request, **kwargs)
        headers = {"Content-Type": "application/octet-stream", "x-amzn-RequestId": "injected"}
        return AWSResponse(request.url, 206, headers, _Cut(b"\0" * 10))


@pytest.mark.parametrize("how", ["500", "cut"])
@pytest.mark.parametrize("from_step", ["plan", "row_blocks"])
def test_an_upload_storage_cannot_read_fails_for_a_retry_not_as_a_bad_file(
    distributed: Distributed, h5ad: Path, tmp_path: Path, from_step: str, how: str
) -> None:
    """A ranged read of the upload that fails reaches h5py as an error of the file; the version
    must fail as ours (retryable), not be refused as an unreadable file, and a retry exports it."""
    version = distributed.upload(h5ad)
    key = str(version.source)
    failing = FailingRangedReads(distributed.stack.uploads_bucket, how)
    handlers = distributed.lambdas.handlers
    step = handlers[from_step]

    def failing_from_here(event: Any, context: Any) -> Any:
        failing.active = True
        return step(event, context)

    handlers[from_step] = failing_from_here
    try:
        with injected(("before-send.s3.GetObject", failing)):
            assert distributed.processor().process(Arrival(key)).status == "distributed"
            result = distributed.finished(f"{version.version_id}-1")
    finally:
        handlers[from_step] = step
    assert failing.sent > 0
    assert result["status"] == "failed"
    failed = distributed.version(version.version_id)
    assert failed.status is DatasetStatus.FAILED and failed.retryable, failed.reason
    assert failed.reason is not None and failed.reason.startswith(
        "internal error while processing: "
    )
    assert distributed.stored(export_prefix(version.version_id)) == {}
    assert distributed.stored("work/") == {}

    assert distributed.processor().process(Arrival(key)).status == "distributed"
    assert distributed.finished(f"{version.version_id}-2")["status"] == "ready"
    fresh = export_prefix(version.version_id, 2)
    assert distributed.stored(fresh) == local_export(h5ad, tmp_path / "local", version)
