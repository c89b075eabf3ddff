"""The wire formats viewers post, validated exactly (Cellucid's event shapes, research notes
§4.3): JSON events with exact key sets and binary selections (bundles: :mod:`.bundle`).

Anything that does not match is refused with a reason and never stored.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "EVENT_TYPES",
    "MAX_EVENT_BYTES",
    "MAX_JSON_DEPTH",
    "WireError",
    "event_json",
    "load_json",
    "parse_event",
    "parse_selection",
]

MAX_EVENT_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64
"""Nesting an event may have (Cellucid's deepest, a data mapping, has 3 levels); deeper
nesting costs a recursion per level in every encoder and decoder on the way out."""
Command = Literal[
    "ping",
    "debug_snapshot",
    "requestSessionBundle",
    "clearHighlights",
    "setColorBy",
    "resetCamera",
    "freeze",
    "setDataMapping",
    "highlight",
    "setVisibility",
]


class WireError(ValueError):
    """A malformed event, selection or bundle; the message says what is wrong."""


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    viewerId: str  # noqa: N815 - the wire's spelling
    viewerToken: str  # noqa: N815


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: float
    y: float
    z: float


class Ready(_Event):
    type: Literal["ready"]
    n_cells: Annotated[StrictInt, Field(ge=0)]
    dimensions: Literal[1, 2, 3]


class Hover(_Event):
    type: Literal["hover"]
    cell: Annotated[StrictInt, Field(ge=0)] | None
    position: Position | None


class Click(_Event):
    type: Literal["click"]
    cell: Annotated[StrictInt, Field(ge=0)]
    button: Literal[0, 1, 2]
    shift: StrictBool
    ctrl: StrictBool


class Pong(_Event):
    type: Literal["pong"]
    requestId: str  # noqa: N815
    t: StrictInt


class DebugSnapshot(_Event):
    type: Literal["debug_snapshot"]
    requestId: str  # noqa: N815
    ts: StrictInt | float
    locationHref: str  # noqa: N815
    origin: str
    serverUrl: str  # noqa: N815
    connected: StrictBool
    userAgent: str | None  # noqa: N815


class CommandError(_Event):
    type: Literal["command_error"]
    command: Command
    reason: Annotated[str, Field(max_length=500)]


class DataMapping(_Event):
    type: Literal["data_mapping"]
    requestId: str | None  # noqa: N815
    origin: Literal["default", "best_guess", "session", "user", "notebook"]
    mapping: dict[str, Any]


EVENT_TYPES: dict[str, type[_Event]] = {
    "ready": Ready,
    "hover": Hover,
    "click": Click,
    "pong": Pong,
    "debug_snapshot": DebugSnapshot,
    "command_error": CommandError,
    "data_mapping": DataMapping,
}


def load_json(data: bytes | bytearray | str, what: str = "the body") -> Any:
    """Parse untrusted JSON, refusing with :class:`WireError` what ``json.loads`` raises on
    (invalid UTF-8 or JSON, integers of over 4,300 digits, nesting past the recursion
    limit), and ``NaN``/``Infinity``, which are not JSON and which no client could read back."""
    try:
        return json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise WireError(f"{what} is not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int() digit limit
        raise WireError(f"{what} is not JSON: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def event_json(document: Any) -> str:
    """An event as it is stored and served: the one encoding of events on the way out,
    which :func:`parse_event` applies on the way in too, so what is accepted can be served."""
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text.encode("utf-8")  # lone surrogates (``"\ud800"``) pass json but not UTF-8
    return text


def _depth(document: Any) -> int:
    """How deeply ``document`` nests (a scalar is 0), without recursing."""
    deepest, pending = 0, [(document, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, depth + 1)
            pending += [(child, depth + 1) for child in node]
    return deepest


def parse_event(body: bytes) -> tuple[str, str, dict[str, Any]]:
    """(viewer id, token, the event without credentials) from a JSON event body."""
    if len(body) > MAX_EVENT_BYTES:
        raise WireError(f"event larger than {MAX_EVENT_BYTES} bytes")
    raw = load_json(body, "the event")
    if _depth(raw) > MAX_JSON_DEPTH:
        raise WireError(f"the event nests deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(raw, dict):
        raise WireError("an event is a JSON object")
    kind = raw.get("type")
    if kind in ("selection", "session_bundle"):
        raise WireError(f"{kind} events have their own route (/_cellucid/{kind})")
    model = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise WireError(f"unknown event type {kind!r}; expected one of {sorted(EVENT_TYPES)}")
    try:
        event = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise WireError(f"{kind} event: {where}: {first['msg']}") from None
    if isinstance(event, DataMapping) and (event.requestId is None) == (event.origin == "notebook"):
        raise WireError("data_mapping: requestId is set exactly when origin is 'notebook'")
    payload = event.model_dump(exclude={"viewerId", "viewerToken"})
    try:
        event_json(payload)
    except ValueError as exc:  # a lone surrogate (UnicodeEncodeError), an infinite float
        raise WireError(f"{kind} event cannot be served back: {exc}") from None
    return event.viewerId, event.viewerToken, payload


def parse_selection(body: bytes, n_cells: int) -> NDArray[np.uint32]:
    """Cell indices from a selection body: u32 little-endian, strictly ascending, < n_cells."""
    import numpy as np  # only selections need it; the API starts faster without

    if len(body) % 4:
        raise WireError("a selection is u32 little-endian cell indices (length % 4 != 0)")
    cells = np.frombuffer(body, dtype="<u4")
    if cells.size and int(cells[-1]) >= n_cells:
        raise WireError(f"cell index {int(cells.max())} out of range (the dataset has {n_cells})")
    if cells.size > 1 and not bool(np.all(cells[1:] > cells[:-1])):
        raise WireError("selection cell indices must be strictly ascending")
    return cells
