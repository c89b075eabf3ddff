"""Run the local stack until interrupted: ``cellucid-cloud up``."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import uvicorn

from cellucid_cloud.http.hosts import Binding
from cellucid_cloud.local.app import build_local_app
from cellucid_cloud.local.permissions import PRIVATE_UMASK
from cellucid_cloud.local.prepare_process import ProcessLimits
from cellucid_cloud.local.stack import LocalStack, StackSettings
from cellucid_cloud.serve.access_log import log_config

__all__ = ["run_up"]

log = logging.getLogger(__name__)


def run_up(
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    meta_ttl: float = 60.0,
    allow_private_links: bool = False,
    demo: bool = False,
    processing: ProcessLimits | None = None,
) -> None:
    os.umask(PRIVATE_UMASK)  # everything up writes is its own (local/permissions.py)
    binding = Binding(host)
    base_url = binding.base_url(port)
    stack = LocalStack(
        StackSettings(
            data_dir=data_dir,
            base_url=base_url,
            meta_ttl=meta_ttl,
            allow_private_links=allow_private_links,
            processing=processing or ProcessLimits(),
        )
    )
    app = build_local_app(stack, binding.allowed_hosts, allow_ip_hosts=binding.wildcard)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=log_config(), lifespan="on")
    )
    _announce(stack, base_url)
    stack.worker.start()
    if demo:
        threading.Thread(target=_demo, args=(stack,), name="demo", daemon=True).start()
    try:
        server.run()
    finally:
        stack.links.close()
        stack.prepare_child.cancel()
        stack.worker.stop()


def _demo(stack: LocalStack) -> None:
    from cellucid_cloud.local.demo import seed_demo

    try:
        seed_demo(stack)
    except Exception:
        log.exception("the demo could not be set up")


def _announce(stack: LocalStack, base_url: str) -> None:
    lines = [
        f"cellucid-cloud is up at {base_url}/",
        f"  API docs:      {base_url}/docs",
        f"  data dir:      {stack.data_dir}",
        f"  uploads:       {stack.data_dir / 'uploads'}/<collection_id>/<dataset_id>.h5ad",
        f"  curator key:   {stack.curator_key_file}"
        + (" (new: " + stack.curator_key + ")" if stack.new_curator_key else ""),
        f"  get a token:   curl -X POST -H 'x-api-key: <key>' {base_url}/curation/v1/auth/token",
    ]
    sys.stderr.write("\n".join(lines) + "\n")
