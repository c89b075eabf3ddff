"""The response every host sends, as plain data: a status, a body and headers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JSON", "NO_STORE", "OCTET_STREAM", "Answer", "json_answer", "json_bytes"]

NO_STORE = "no-store"
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as every host sends it: status, body and headers (Content-Type included
    when there is a body)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_bytes(document: Any) -> bytes:
    """The compact UTF-8 JSON every answer carries."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def json_answer(document: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(status, json_bytes(document), {"Content-Type": JSON, **headers})
