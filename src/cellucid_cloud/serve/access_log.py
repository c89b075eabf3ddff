"""The logging configuration of both local servers (``up``, ``serve``): our loggers at INFO,
and uvicorn's access log with the secrets a request target can carry redacted.

Capability URLs put secrets in query strings: a viewer's ``viewerToken`` (its page's URL, the
events routes), an upload URL's ``token``, a presigned URL's signature; and a URL can be the
value of another one's parameter (``/dp/v1/datasets/meta?url=<a viewer URL>``). Whoever reads
the log must learn none of them, so the values of those parameters, at any depth, are replaced
before a line is written.
"""

from __future__ import annotations

import copy
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode

import uvicorn

__all__ = ["REDACTED", "RedactSecrets", "log_config", "redact_target"]

SECRET_PARAMETERS = frozenset(
    {"viewertoken", "token", "access_token", "x-amz-signature", "x-amz-security-token"}
)
"""Query parameters whose values are secrets (compared case-insensitively)."""
REDACTED = "REDACTED"


def redact_target(target: str, depth: int = 3) -> str:
    """A request target (or URL) with the values of secret parameters replaced, also inside
    parameters whose value is itself a URL with a query string (``depth`` levels down; deeper
    values are dropped whole)."""
    path, separator, query = target.partition("?")
    if not separator:
        return target
    if depth == 0:
        return f"{path}?{REDACTED}"
    pairs = parse_qsl(query, keep_blank_values=True)
    return f"{path}?" + urlencode(
        [
            (
                name,
                REDACTED if name.lower() in SECRET_PARAMETERS else redact_target(value, depth - 1),
            )
            for name, value in pairs
        ]
    )


class RedactSecrets(logging.Filter):
    """For uvicorn's access log, whose arguments are (client, method, target, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["cellucid_cloud"] = {"handlers": ["default"], "level": "INFO"}
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    config["handlers"]["access"]["filters"] = ["redact_secrets"]
    return config
