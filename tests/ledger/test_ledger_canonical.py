"""Our fast RFC 8785 path writes exactly what the `rfc8785` reference writes."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from tongban.ledger import canonical

_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)
_scalars = (st.none() | st.booleans() | _text
            | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
            | st.floats(allow_nan=False, allow_infinity=False))
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_fast_path_equals_the_reference(value: Any) -> None:
    assert canonical.dumps(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [
    {"\U0001f600": 1, "\ufb01": 2, "a": 3},  # UTF-16 order differs from code-point order
    {"x": 1.0, "y": 1e21, "z": 5e-7},  # ECMAScript number formatting
    {"s": "tab\there \u2028 \x7f \x1f \"q\" \\"},
    {"nested": [{"b": 1, "a": [True, None, "中文"]}]},
])
def test_tricky_values_match_the_reference(value: Any) -> None:
    assert canonical.dumps(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [{"n": 2**53}, {"x": float("nan")}, {"s": {1, 2}}])
def test_values_without_a_canonical_form_are_refused(value: Any) -> None:
    with pytest.raises((canonical.CanonicalizationError, TypeError, ValueError)):
        canonical.dumps(value)


def test_leaf_data_is_the_rfc8785_form_of_the_whole_act() -> None:
    from datetime import UTC, datetime
    from uuid import UUID

    from tongban.ledger.service import leaf_data

    at = datetime(2026, 11, 22, 4, 5, 6, 789, tzinfo=UTC)
    source = UUID("01936b6e-0000-7000-8000-000000000001")
    cases: list[tuple[str, dict[str, Any]]] = [
        ("case.decided", {"case": "C-1", "x": 1.5, "名": "值"}),
        ('odd"kind\\', {"\U0001f600": [], "z": None}),
    ]
    for kind, payload in cases:
        document: dict[str, Any] = {"kind": kind, "id": str(source),
                                    "at": "2026-11-22T04:05:06.000789Z", "act": payload}
        assert leaf_data(kind=kind, acted_at=at, source_id=source,
                         payload=payload) == rfc8785.dumps(document)
