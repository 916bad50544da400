"""JSON as the Schedy wire speaks it.

Two things differ from a plain :func:`json.dumps`:

* NaN and ±Infinity travel as the bare tokens ``NaN``, ``Infinity`` and
  ``-Infinity`` (a diverged loss is a result worth keeping), and are parsed
  back into floats;
* numpy scalars and arrays, and the tensors of PyTorch, JAX and TensorFlow
  (``job.results["loss"] = loss`` with ``loss`` a 0-d tensor is a usual
  slip), are encoded as the plain numbers and lists they hold, without
  importing any of those libraries (a worker that never uses them never
  pays for them).

Example:
    >>> dumps({"loss": float("nan"), "xs": (1, 2.5)})
    b'{"loss":NaN,"xs":[1,2.5]}'
    >>> loads(b'{"loss": -Infinity}')
    {'loss': -inf}

"""

from __future__ import annotations

import json
import numbers
import re
import sys
from typing import Any

__all__ = ["MAX_NESTING", "as_plain", "dumps", "loads", "plain_json", "shown"]


#: The modules whose arrays and tensors are sent as the numbers and lists they hold.
_ARRAY_MODULES = ("numpy", "torch", "jax", "jaxlib", "tensorflow")


def _plain(obj: Any) -> Any:
    """Turn an array library's value into the Python value it holds (``json`` ``default`` hook)."""
    if type(obj).__module__.split(".", 1)[0] in _ARRAY_MODULES:
        # numpy's, PyTorch's and JAX's scalars and arrays have tolist(): a Python scalar for a scalar
        # (or a 0-d tensor), nested lists for an array, copied from the GPU if need be. TensorFlow's
        # tensors go through numpy().
        tolist = getattr(obj, "tolist", None)
        if tolist is None and callable(getattr(obj, "numpy", None)):
            tolist = getattr(obj.numpy(), "tolist", None)
        if tolist is not None:
            return tolist()
    # Other numbers (fractions.Fraction, decimal.Decimal, a big-number library's): the int or float they are
    # equal to, as a report's metric takes them. A complex number has no such value: refused.
    if isinstance(obj, numbers.Integral) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, numbers.Number) and not isinstance(obj, numbers.Complex):
        # decimal.Decimal is a Number but not a Real (it does not mix with floats), yet float() takes it.
        try:
            return float(obj)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError) as exc:  # Decimal("sNaN"), a number float() refuses
            raise TypeError(
                f"The number {obj!r} ({type(obj).__name__}) cannot be sent to Schedy: float() refuses it ({exc})."
            ) from None
    raise TypeError(
        f"Object of type {type(obj).__name__} cannot be sent to Schedy: use numbers, strings, booleans, "
        "None, lists and dicts (numpy values and PyTorch, JAX or TensorFlow tensors are converted)."
    )


def as_plain(value: Any) -> Any:
    """``value``, or the Python value it holds if it is an array library's (a numpy scalar, a tensor) or a number.

    Example:
        >>> import numpy as np
        >>> as_plain(np.float32(0.5)), as_plain("text")
        (0.5, 'text')

    """
    if value is None or type(value) in (str, bool, int, float):
        return value
    try:
        return _plain(value)
    except TypeError:
        return value


def plain_json(value: Any) -> Any:
    """``value`` as the service stores it: numpy values, tensors and other numbers as plain ints and floats, deep.

    The same conversion as :func:`dumps` (tuples become lists, dict keys strings).

    Raises:
        TypeError: a value JSON cannot hold.
        ValueError: as :func:`dumps`.

    Example:
        >>> import numpy as np
        >>> plain_json([np.int64(1), (np.float32(0.5), "a")])
        [1, [0.5, 'a']]

    """
    return loads(dumps(value))


# One encoder for the whole process: building a JSONEncoder per call costs
# more than encoding a small job. allow_nan=True writes the bare NaN tokens.
_ENCODER = json.JSONEncoder(allow_nan=True, separators=(",", ":"), default=_plain)


#: How deeply a value may nest lists and dicts: the service refuses a body nested deeper.
MAX_NESTING = 100
_FLOAT_MAX = sys.float_info.max
# 309 digits in a row: an integer that may be past a float's range (or a long string of digits).
_LONG_DIGITS = re.compile(r"\d{309}")


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as compact UTF-8 JSON, NaN/Infinity as bare tokens.

    Raises:
        TypeError: a value JSON cannot hold (numpy values are converted).
        ValueError: a circular reference, lists and dicts nested more than :data:`MAX_NESTING` levels
            deep, or an integer past a float's range (±1.8e308), all of which the service refuses.

    """
    try:
        text = _ENCODER.encode(obj)
    except RecursionError:
        raise ValueError(
            f"A value nests lists or dicts more than {MAX_NESTING} levels deep (far more, here); "
            "the service refuses it: flatten it."
        ) from None
    # Both checks walk the value: only when the text could fail them (C-speed scans).
    if text.count("[") + text.count("{") > MAX_NESTING or _LONG_DIGITS.search(text):
        _check_depth_and_integers(obj)
    return text.encode()


def _check_depth_and_integers(obj: Any) -> None:
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > _FLOAT_MAX:
            raise ValueError(
                f"An integer of {len(str(abs(item)))} digits is past a float's range (1.8e308), which the "
                "service refuses: send it as a float or a string."
            )
        if isinstance(item, (list, tuple, dict)):
            if depth >= MAX_NESTING:
                raise ValueError(
                    f"A value nests lists or dicts more than {MAX_NESTING} levels deep, which the service "
                    "refuses: flatten it."
                )
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))


def loads(data: bytes | str) -> Any:
    """Decode JSON, accepting the bare ``NaN``/``Infinity``/``-Infinity`` tokens."""
    return json.loads(data)


def _plain_or_repr(obj: Any) -> Any:
    plain = as_plain(obj)
    return repr(obj) if plain is obj else plain


def shown(value: Any, limit: int = 80) -> str:
    """``value`` as JSON for a message or a log line, keys sorted, cut at ``limit`` characters.

    NaN is written NaN, an array library's value as the numbers it holds,
    anything else JSON cannot say as its repr.

    Example:
        >>> import numpy as np
        >>> shown({"loss": np.float32(0.5), "curve": [1.0, float("nan")], "at": range(2)})
        '{"at": "range(0, 2)", "curve": [1.0, NaN], "loss": 0.5}'
        >>> shown(list(range(100)), 12)
        '[0, 1, 2, 3…'

    """
    text = json.dumps(value, default=_plain_or_repr, allow_nan=True, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"
