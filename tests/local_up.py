"""``cellucid-cloud up`` as a real subprocess on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Up:
    base_url: str
    data_dir: Path
    curator_key: str
    process: subprocess.Popen[bytes]
    log: Path
    """Its stdout and stderr (uvicorn's and our INFO log lines)."""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def curator(self) -> httpx.Client:
        """A client carrying a fresh bearer token for the first curator."""
        with self.client() as anonymous:
            reply = anonymous.post(
                "/curation/v1/auth/token", headers={"x-api-key": self.curator_key}
            )
        reply.raise_for_status()
        token = reply.json()["access_token"]
        return httpx.Client(
            base_url=self.base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_up(data_dir: Path, *extra: str) -> Iterator[Up]:
    """Start ``up``, wait until it answers, stop it (SIGINT, as Ctrl-C) afterwards."""
    port = free_port()
    log_path = data_dir.parent / f"up-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cellucid_cloud.cli",
            "up",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base_url}/_cellucid/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "up did not start"
            time.sleep(0.1)
        key = (data_dir / "curator.key").read_text().strip()
        yield Up(base_url, data_dir, key, process, log_path)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def wait_for_status(
    client: httpx.Client,
    path: str,
    wanted: set[str],
    timeout: float = 120,
    replacing: str | None = None,
) -> dict[str, Any]:
    """Poll a curation dataset route until its status is one of ``wanted``; with
    ``replacing``, of a version other than that one. An upload is recorded as a new version
    only once the worker sees it, so right after the PUT the route still shows the old one."""
    deadline = time.monotonic() + timeout
    while True:
        reply = client.get(path)
        reply.raise_for_status()
        body: dict[str, Any] = reply.json()
        if body["status"] in wanted and body["dataset_version_id"] != replacing:
            return body
        assert time.monotonic() < deadline, f"still {body['status']}: {body}"
        time.sleep(0.2)


def wait_for_log(up: Up, line: str, timeout: float = 120) -> None:
    """Wait until ``up`` has logged a line containing ``line``: a positive signal that
    something in the background happened, instead of a fixed sleep."""
    deadline = time.monotonic() + timeout
    while line not in up.log.read_text(errors="replace"):
        assert up.process.poll() is None, up.log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"up never logged {line!r}"
        time.sleep(0.1)
