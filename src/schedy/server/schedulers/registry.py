"""The schedulers the service knows, by wire name, and a parse cache."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from schedy.errors import DefinitionError
from schedy.server.errors import stored_search_unrunnable
from schedy.server.schedulers.base import Scheduler
from schedy.server.schedulers.grid import GridSearch
from schedy.server.schedulers.manual import Manual
from schedy.server.schedulers.pbt import PBT
from schedy.server.schedulers.random_search import RandomSearch
from schedy.server.schedulers.tpe import TPE

__all__ = ["SCHEDULERS", "load_scheduler", "parse_scheduler"]

#: Every scheduler, by wire name. Fixed at import: all service processes must know the same ones.
SCHEDULERS: Mapping[str, type[Scheduler]] = MappingProxyType(
    {cls.name: cls for cls in (Manual, RandomSearch, PBT, GridSearch, TPE)}
)


def parse_scheduler(obj: Any) -> Scheduler:
    """Parse ``{"Name": params}`` into a validated scheduler.

    Raises:
        schedy.errors.DefinitionError: unknown name, wrong shape or bad parameters.

    """
    if not isinstance(obj, dict) or len(obj) != 1:
        raise DefinitionError('The scheduler must be an object with exactly one key, its name, e.g. {"Manual": null}.')
    ((name, params),) = obj.items()
    cls = SCHEDULERS.get(name)
    if cls is None:
        raise DefinitionError(f"Unknown scheduler '{name}'; use one of {', '.join(sorted(SCHEDULERS))}.")
    return cls.from_params(params)


@lru_cache(maxsize=1024)
def load_scheduler(name: str, params_json: str) -> Scheduler:
    """Rebuild a stored scheduler (already validated), cached by its stored form.

    The instance is shared by every experiment with this definition and every
    thread: it is frozen (see :mod:`schedy.server.schedulers.base`).
    """
    try:
        scheduler = SCHEDULERS[name].from_stored(json.loads(params_json))
    except DefinitionError as exc:  # stored by another version of Schedy, under rules this one does not share
        raise stored_search_unrunnable(name, str(exc)) from None
    scheduler.freeze()
    return scheduler
