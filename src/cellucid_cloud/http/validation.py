"""Request parameters and JSON bodies checked against pydantic models, refused with a 422 that
says what and where as FastAPI's validation does: the FastAPI apps and the Lambda functions on
Powertools' resolver give the same message for the same mistake."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from cellucid_cloud.core.errors import DomainError, InvalidRequestError

__all__ = ["BodyParseError", "checked", "json_body", "valid", "validation_message"]


class BodyParseError(DomainError):
    """A body FastAPI cannot decode at all (not UTF-8, a 5,000-digit integer, deep nesting):
    a 400, as FastAPI answers it."""

    status = 400


def validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """The detail of a 422 from pydantic-style errors (FastAPI's, or a Lambda handler's own):
    the first error's location and message, and how many more there are."""
    if not errors:
        return "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        position = first["loc"][-1]
        return f"malformed JSON body: {first['ctx']['error']} (character {position})"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    message = f"{where}: {first.get('msg', 'invalid')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return message


def checked[M: BaseModel](
    model: type[M], values: Any, where: str
) -> tuple[M | None, list[dict[str, Any]]]:
    """``values`` as ``model``, or None and the errors, located as FastAPI locates them
    (``where``: ``query``, ``path`` or ``body``)."""
    try:
        return model.model_validate(values), []
    except ValidationError as exc:
        return None, [{**e, "loc": (where, *e["loc"])} for e in exc.errors()]


def valid[M: BaseModel](found: M | None, errors: list[dict[str, Any]]) -> M:
    """What :func:`checked` found, or the 422 for its errors."""
    if found is None:
        raise InvalidRequestError(validation_message(errors))
    return found


def json_body[M: BaseModel](model: type[M], body: bytes) -> M:
    """A JSON request body as ``model``: a missing body, malformed JSON and invalid fields
    are 422s, a body that cannot be decoded at all a 400, each as FastAPI words it."""
    if not body:
        raise InvalidRequestError(validation_message([{"loc": ("body",), "msg": "Field required"}]))
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "ctx": {"error": exc.msg}}
        raise InvalidRequestError(validation_message([error])) from None
    except (ValueError, RecursionError):  # not UTF-8, a 5,000-digit integer, deep nesting
        raise BodyParseError("There was an error parsing the body") from None
    return valid(*checked(model, document, "body"))
