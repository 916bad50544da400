"""JSON on the wire: NaN/Infinity tokens, numpy values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedy._encoding import dumps, loads, shown


def test_non_finite_floats_travel_as_bare_tokens() -> None:
    assert dumps({"a": math.nan, "b": math.inf, "c": -math.inf}) == b'{"a":NaN,"b":Infinity,"c":-Infinity}'
    back = loads(b'{"a":NaN,"b":Infinity,"c":-Infinity}')
    assert math.isnan(back["a"])
    assert back["b"] == math.inf
    assert back["c"] == -math.inf


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.int64(3), 3),
        (np.int32(-2), -2),
        (np.float64(0.5), 0.5),
        (np.float32(0.25), 0.25),
        (np.bool_(True), True),
        (np.array([1, 2, 3]), [1, 2, 3]),
        (np.array([[0.5, 1.5]], dtype=np.float32), [[0.5, 1.5]]),
        (np.str_("relu"), "relu"),
    ],
)
def test_numpy_scalars_and_arrays_encode_as_plain_json(value: Any, expected: Any) -> None:
    assert loads(dumps({"v": value})) == {"v": expected}


def test_numpy_nan_encodes_as_the_nan_token() -> None:
    assert dumps([np.float32("nan"), np.float64("-inf")]) == b"[NaN,-Infinity]"


def test_other_objects_are_refused_with_a_useful_message() -> None:
    with pytest.raises(TypeError, match="cannot be sent to Schedy"):
        dumps({"v": object()})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(deadline=None)  # a loaded CI machine is not a failure
@given(json_values)
def test_every_json_value_round_trips(value: Any) -> None:
    assert dumps(loads(dumps(value))) == dumps(value)


def test_shown_writes_what_a_message_quotes_whatever_the_value() -> None:
    """Results quoted in a warning: NaN as NaN, numpy as numbers, anything else as its repr, long ones cut."""
    assert shown({"loss": np.float32(0.5), "curve": [1.0, float("nan")], "at": range(2)}) == (
        '{"at": "range(0, 2)", "curve": [1.0, NaN], "loss": 0.5}'
    )
    assert shown(list(range(100)), 12) == "[0, 1, 2, 3…"
    assert len(shown("x" * 500)) == 80
