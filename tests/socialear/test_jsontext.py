"""socialear.jsontext.dumps gives json.dumps' text for any JSON value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialear.jsontext import dumps

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(), st.sampled_from(["é", "\x00", '"\\', "😡", "\u2028"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=5), inner, max_size=4),
    st.dictionaries(st.one_of(st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False)), inner, max_size=3)),
    max_leaves=20)


@settings(max_examples=500, deadline=None)
@given(values)
def test_the_text_of_json_dumps(value: Any) -> None:
    assert dumps(value) == json.dumps(value)


def test_errors_are_raised_too() -> None:
    with pytest.raises(TypeError):
        dumps({"a": {1, 2}})
    after = {"a": [1, 2]}
    assert dumps(after) == json.dumps(after)  # nothing left over from the failed call
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises((ValueError, RecursionError)):
        dumps(loop)


def test_the_c_encoder_is_in_use() -> None:
    """On CPython the shortcut is taken (else `dumps` is json.dumps, correct but slower)."""
    from socialear import jsontext

    assert jsontext._ENCODER is not None
