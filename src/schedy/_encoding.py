"""JSON as the Schedy wire speaks it.

Two things differ from a plain :func:`json.dumps`:

* NaN and ±Infinity travel as the bare tokens ``NaN``, ``Infinity`` and
  ``-Infinity`` (a diverged loss is a result worth keeping), and are parsed
  back into floats;
* numpy scalars and arrays are encoded as the plain numbers and lists they
  hold, without importing numpy (a worker that never uses numpy never pays
  for it).

Example:
    >>> dumps({"loss": float("nan"), "xs": (1, 2.5)})
    b'{"loss":NaN,"xs":[1,2.5]}'
    >>> loads(b'{"loss": -Infinity}')
    {'loss': -inf}

"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]


def _plain(obj: Any) -> Any:
    """Turn a numpy value into the Python value it holds (``json`` ``default`` hook)."""
    if type(obj).__module__.startswith("numpy"):
        # Scalars (np.int64, np.float32, np.bool_...) and arrays both have
        # tolist(): scalars give a Python scalar, arrays nested lists of them.
        tolist = getattr(obj, "tolist", None)
        if tolist is not None:
            return tolist()
    raise TypeError(
        f"Object of type {type(obj).__name__} cannot be sent to Schedy: use numbers, strings, booleans, "
        "None, lists and dicts (numpy scalars and arrays are converted)."
    )


# One encoder for the whole process: building a JSONEncoder per call costs
# more than encoding a small job. allow_nan=True writes the bare NaN tokens.
_ENCODER = json.JSONEncoder(allow_nan=True, separators=(",", ":"), default=_plain)


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as compact UTF-8 JSON, NaN/Infinity as bare tokens."""
    return _ENCODER.encode(obj).encode()


def loads(data: bytes | str) -> Any:
    """Decode JSON, accepting the bare ``NaN``/``Infinity``/``-Infinity`` tokens."""
    return json.loads(data)
