"""Small checks shared by the wire-definition modules (random, pbt)."""

from __future__ import annotations

import math
from typing import Any

from schedy.errors import DefinitionError


def finite_number(value: Any, what: str) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number.

    Booleans are refused even though Python counts them as integers: a
    ``true`` where a bound was expected is always a mistake.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DefinitionError(f"{what} must be a number, got {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise DefinitionError(f"{what} must be a finite number, got {value!r}.")
    return number


def finite_json(value: Any, what: str) -> Any:
    """Return ``value`` if no number inside it (at any depth) is NaN or infinite, else raise.

    A hyperparameter must be a number a training script can use: a NaN or
    an infinity given in a definition would be handed out to every job.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise DefinitionError(f"{what} must hold finite numbers only, got {item!r}.")
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return value


def single_key(obj: Any, what: str) -> tuple[str, Any]:
    """Return the only ``(key, value)`` of a one-key object like ``{"uniform": …}``."""
    if not isinstance(obj, dict) or len(obj) != 1:
        raise DefinitionError(f"{what} must be an object with exactly one key, got {obj!r}.")
    ((key, value),) = obj.items()
    return str(key), value


def exact_keys(obj: Any, required: set[str], optional: set[str], what: str) -> dict[str, Any]:
    """Check that ``obj`` is an object with the required keys and no unknown ones."""
    if not isinstance(obj, dict):
        raise DefinitionError(f"{what} must be an object, got {obj!r}.")
    missing = sorted(required - obj.keys())
    if missing:
        raise DefinitionError(f"{what} is missing {', '.join(map(repr, missing))}.")
    unknown = sorted(obj.keys() - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise DefinitionError(f"{what} has unknown key(s) {', '.join(map(repr, unknown))}; allowed: {allowed}.")
    return obj
