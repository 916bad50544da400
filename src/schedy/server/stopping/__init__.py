"""Early-stopping policies the service applies to intermediate reports (pure; see :mod:`.base`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from schedy.errors import DefinitionError
from schedy.server.stopping.asha import ASHA, Hyperband
from schedy.server.stopping.base import Report, StoppingPolicy, Verdict
from schedy.server.stopping.median import Median

__all__ = [
    "POLICIES",
    "ASHA",
    "Hyperband",
    "Median",
    "Report",
    "StoppingPolicy",
    "Verdict",
    "load_policy",
    "parse_policy",
]

#: Every policy, by wire name (``{"earlyStopping": {"asha": {...}}}``).
POLICIES: Mapping[str, type[StoppingPolicy]] = MappingProxyType({cls.name: cls for cls in (Median, ASHA, Hyperband)})


def parse_policy(obj: Any) -> StoppingPolicy:
    """Parse the ``earlyStopping`` option: ``{"name": params}``.

    Raises:
        schedy.errors.DefinitionError: unknown name, wrong shape or bad parameters.

    """
    if not isinstance(obj, dict) or len(obj) != 1:
        raise DefinitionError(
            'earlyStopping must be an object with one key, the policy, e.g. {"asha": {"resultName": "loss", '
            '"objective": "min"}}.'
        )
    ((name, params),) = obj.items()
    cls = POLICIES.get(name)
    if cls is None:
        raise DefinitionError(f"Unknown early-stopping policy '{name}'; use one of {', '.join(sorted(POLICIES))}.")
    return cls.from_params(params)


@lru_cache(maxsize=256)
def load_policy(stored: str) -> StoppingPolicy:
    """Rebuild a stored (already validated) ``earlyStopping`` option, cached by its stored form."""
    return parse_policy(json.loads(stored))
