"""Powertools' HTTP API resolver with the project's HTTP rules: the small Lambda functions'
routing (the events function, the meta function).

The adapter of :mod:`cellucid_cloud.http` for these functions, as :mod:`cellucid_cloud.http.asgi`
is for the FastAPI app: errors answer as :func:`~cellucid_cloud.http.errors.error_for` says; a
body over the limit is a 413 before anything else (as the ASGI ``BodyLimit``); an unknown path
is a 404 and a known path with another method a 405 naming the methods it takes, as the FastAPI
app answers; query and path parameters are validated by pydantic models and refused with the
FastAPI app's 422 messages (:mod:`cellucid_cloud.http.validation`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as NoRouteError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from pydantic import BaseModel

from cellucid_cloud.core.errors import InvalidRequestError
from cellucid_cloud.http.answers import JSON, Answer
from cellucid_cloud.http.bodies import MAX_BODY_BYTES, too_large
from cellucid_cloud.http.errors import HANDLED_ERRORS, error_for, no_route
from cellucid_cloud.http.validation import checked, valid, validation_message

__all__ = ["HttpRoutes", "lambda_response"]

type Handler = Callable[..., Response[Any]]


def lambda_response(answer: Answer) -> Response[Any]:
    """An :class:`Answer` for Powertools, as Mangum sends the API function's: header names in
    lower case, JSON as text, other bodies base64-encoded."""
    headers = {name.lower(): value for name, value in answer.headers.items()}
    body: str | bytes = answer.body
    if headers.get("content-type") == JSON:
        body = answer.body.decode()
    return Response(answer.status, None, body, headers)


class HttpRoutes:
    """One resolver and the helpers its routes read the request with. Bodies are limited to
    ``max_body_bytes``, except on ``exempt_paths`` (routes that bound their own)."""

    def __init__(
        self, max_body_bytes: int = MAX_BODY_BYTES, exempt_paths: tuple[str, ...] = ()
    ) -> None:
        self.app = APIGatewayHttpResolver()
        self.max_body_bytes = max_body_bytes
        self.exempt_paths = exempt_paths
        self._allowed: dict[str, list[str]] = {}
        for error_type in HANDLED_ERRORS:
            self.app.exception_handler(error_type)(self._known_error)
        self.app.not_found(self._no_route)
        self.app.use(middlewares=[self._limit_body])

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        """Register a route (Powertools' ``<name>`` path parameters)."""
        pattern = "^" + re.sub(r"<\w+>", "[^/]+", path) + "$"
        self._allowed.setdefault(pattern, []).append(method)
        register: Callable[[Handler], Handler] = self.app.route(path, method)
        return register

    def body(self) -> bytes:
        event = self.app.current_event
        raw = event.body or ""
        return base64.b64decode(raw) if event.is_base64_encoded else raw.encode()

    def header(self, name: str) -> str | None:
        return self.app.current_event.headers.get(name)

    def query[Q: BaseModel](self, model: type[Q]) -> Q:
        """The query parameters (the last value of each, as Starlette reads a query string)."""
        return valid(*checked(model, self._query_pairs(), "query"))

    def path[P: BaseModel](self, model: type[P], **params: str) -> P:
        return valid(*checked(model, params, "path"))

    def path_and_query[P: BaseModel, Q: BaseModel](
        self, path_model: type[P], query_model: type[Q], **params: str
    ) -> tuple[P, Q]:
        """Path and query parameters validated together: a 422 names the first error and
        counts the others, path first, as FastAPI does."""
        path, path_errors = checked(path_model, params, "path")
        query, query_errors = checked(query_model, self._query_pairs(), "query")
        if path is None or query is None:
            raise InvalidRequestError(validation_message([*path_errors, *query_errors]))
        return path, query

    def _query_pairs(self) -> dict[str, str]:
        return dict(parse_qsl(self.app.current_event.raw_query_string, keep_blank_values=True))

    def _too_large(self) -> bool:
        path = self.app.current_event.path
        return path not in self.exempt_paths and len(self.body()) > self.max_body_bytes

    def _limit_body(
        self, app: APIGatewayHttpResolver, next_middleware: NextMiddleware
    ) -> Response[Any]:
        if self._too_large():
            return lambda_response(too_large(self.max_body_bytes))
        return next_middleware(app)

    def _known_error(self, exc: Exception) -> Response[Any]:
        return lambda_response(error_for(exc))

    def _no_route(self, exc: NoRouteError) -> Response[Any]:
        """Middlewares run for matched routes only: the body limit comes first here too."""
        if self._too_large():
            return lambda_response(too_large(self.max_body_bytes))
        path = self.app.current_event.path
        methods = [m for p, ms in self._allowed.items() if re.match(p, path) for m in ms]
        return lambda_response(no_route(sorted(methods)))
