"""The rules of :mod:`cellucid_cloud.api.answers` as Starlette responses (the FastAPI hosts)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cellucid_cloud.api import answers
from cellucid_cloud.api.answers import NO_STORE, Answer

__all__ = ["NO_STORE", "cached_json", "error_json", "response"]


def response(answer: Answer) -> Response:
    headers = dict(answer.headers)
    media_type = headers.pop("Content-Type", None)
    return Response(answer.body, answer.status, headers, media_type)


def cached_json(request: Request, document: Any, max_age: int, status: int = 200) -> Response:
    """``document`` as JSON, public for ``max_age`` seconds, revalidatable by ETag."""
    if_none_match = request.headers.get("if-none-match")
    return response(answers.cached_json(document, max_age, if_none_match, status))


def error_json(status: int, detail: str, **headers: str) -> Response:
    return response(answers.error_answer(status, detail, **headers))
