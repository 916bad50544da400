"""Definitions shared by the client and the service for grid and model-based searches.

:func:`grid_values` parses one hyperparameter of a grid (``schedy.GridSearch``);
:class:`TPEParams` is the wire form of ``schedy.TPESearch``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from schedy.errors import DefinitionError
from schedy.pbt import MAXIMIZE, MINIMIZE
from schedy.random import Choice, parse_distribution

__all__ = ["MAXIMIZE", "MINIMIZE", "grid_values", "value_key"]


def value_key(value: Any) -> Any:
    """A hashable key of a JSON value under which equal numbers (1, 1.0) meet, and booleans stay apart."""
    if isinstance(value, bool) or value is None:
        return ("j", value)
    if isinstance(value, (int, float)):
        return ("n", float(value))
    return ("j", json.dumps(value, sort_keys=True))


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def grid_values(obj: Any, hyperparameter: str) -> list[Any]:
    """Parse one hyperparameter of a grid: a list of values, or a distribution with finitely many.

    Raises:
        schedy.errors.DefinitionError: empty, repeated or non-finite values, or a continuous distribution.

    """
    what = f"GridSearch hyperparameter '{hyperparameter}'"
    if isinstance(obj, dict):
        dist = parse_distribution(obj, hyperparameter)
        if isinstance(dist, Choice) and dist.branches:
            raise DefinitionError(f"{what}: a grid takes no conditional branches; list the cells' values instead.")
        values = dist.grid_values()
        if values is None:
            raise DefinitionError(
                f"{what}: '{dist.wire_name}' is continuous, so it has no list of values to enumerate; "
                "give a list, a choice, an integer or a uniform with a step."
            )
    elif isinstance(obj, list):
        values = obj
    else:
        raise DefinitionError(f"{what} must be a list of values or a distribution with finitely many, got {obj!r}.")
    if not values:
        raise DefinitionError(f"{what} needs at least one value.")
    seen: set[Any] = set()
    for value in values:
        if not _finite(value):
            raise DefinitionError(f"{what}: values must be finite, got {value!r}.")
        key = value_key(value)
        if key in seen:
            raise DefinitionError(f"{what} lists {value!r} twice.")
        seen.add(key)
    return list(values)
