"""Input built to crash parsers (issue 15, findings 5 and 6), shared by the unit properties,
the HTTP tests against ``up``/``serve`` and the events function's twin on moto: the instances
the attack found and hypothesis strategies for their classes."""

from __future__ import annotations

import json
import string

from hypothesis import strategies as st

NINES = "9" * 5000
"""Past ``int()``'s 4,300-digit limit."""
HOSTILE_MAPPINGS = ['"\\ud800"', "[" * 100_000 + "]" * 100_000, NINES, "NaN", "1e999"]
"""Data mapping values (raw JSON) no events route could serve back."""

digits = st.text(alphabet=string.digits, max_size=30) | st.builds(
    lambda head, length: head + "9" * length,
    st.text(alphabet=string.digits, max_size=5),
    st.integers(0, 6000),
)
"""Decimal strings, often past ``int()``'s limit."""
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats()
    | st.text(alphabet=st.characters(exclude_categories=()), max_size=12),  # lone surrogates too
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
json_text = (
    json_values.map(json.dumps)
    | json_values.map(lambda value: json.dumps(value, ensure_ascii=False))
    | st.integers(0, 3000).map(lambda n: "[" * n + "]" * n)
    | digits.filter(lambda d: d[:1] not in ("", "0"))
)
"""A JSON value as raw text: lone surrogates, NaN, infinities, deep nesting, huge numbers."""
query_text = (
    st.text(max_size=30)
    | digits.map(lambda d: d[:40])
    | st.sampled_from(["9223372036854775807", "9223372036854775808", "1e3", "-1", "nan", "١٢"])
)
"""Values for integer query parameters."""


def data_mapping_event(viewer_id: str, token: str, mapping: str) -> bytes:
    """A data_mapping event body whose mapping is ``{"k": <mapping, raw JSON text>}`` (a lone
    surrogate in the text goes out as the invalid UTF-8 a careless client would send)."""
    head = json.dumps(
        {
            "type": "data_mapping",
            "viewerId": viewer_id,
            "viewerToken": token,
            "requestId": None,
            "origin": "user",
        }
    )
    return (head[:-1] + ',"mapping":{"k":' + mapping + "}}").encode("utf-8", "surrogatepass")
