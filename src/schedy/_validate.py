"""Small checks shared by the wire-definition modules (random, pbt)."""

from __future__ import annotations

import math
from typing import Any

from schedy import _encoding
from schedy.errors import DefinitionError

#: How many characters of a value an error message shows (sent values can be megabytes long).
SHOWN_CHARACTERS = 60


def shown(value: Any) -> str:
    """``repr(value)``, cut to :data:`SHOWN_CHARACTERS` with an ellipsis: a value quoted in an error message."""
    try:
        text = repr(value)
    except ValueError:  # an integer past Python's limit on digits (4300)
        return "an integer of thousands of digits"
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"


def finite_number(value: Any, what: str) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number.

    Booleans are refused even though Python counts them as integers: a
    ``true`` where a bound was expected is always a mistake.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DefinitionError(f"{what} must be a number, got {shown(value)}.")
    try:
        number = float(value)
    except OverflowError:  # an integer past a float's range
        number = math.inf
    if not math.isfinite(number):
        raise DefinitionError(f"{what} must be a finite number (at most 1.8e308 in magnitude), got {shown(value)}.")
    return number


def finite_json(value: Any, what: str) -> Any:
    """Return ``value`` if it is JSON (numpy values included) with no NaN or infinite number inside, else raise.

    A hyperparameter must be a number a training script can use: a NaN or
    an infinity given in a definition would be handed out to every job; and
    a value JSON cannot hold (an object, a function) could not be sent at all.
    """
    try:
        _encoding.dumps(value)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{what} must be JSON values (numbers, strings, lists…): {exc}") from None
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise DefinitionError(f"{what} must hold finite numbers only, got {shown(item)}.")
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return value


def single_key(obj: Any, what: str) -> tuple[str, Any]:
    """Return the only ``(key, value)`` of a one-key object like ``{"uniform": …}``."""
    if not isinstance(obj, dict) or len(obj) != 1:
        raise DefinitionError(f"{what} must be an object with exactly one key, got {shown(obj)}.")
    ((key, value),) = obj.items()
    return str(key), value


def exact_keys(obj: Any, required: set[str], optional: set[str], what: str) -> dict[str, Any]:
    """Check that ``obj`` is an object with the required keys and no unknown ones."""
    if not isinstance(obj, dict):
        raise DefinitionError(f"{what} must be an object, got {shown(obj)}.")
    missing = sorted(required - obj.keys())
    if missing:
        raise DefinitionError(f"{what} is missing {', '.join(map(repr, missing))}.")
    unknown = sorted(obj.keys() - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise DefinitionError(f"{what} has unknown key(s) {', '.join(map(shown, unknown))}; allowed: {allowed}.")
    return obj
