"""The schedulers the service knows, by wire name, and a parse cache."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from schedy.errors import DefinitionError
from schedy.server.schedulers.base import Scheduler
from schedy.server.schedulers.manual import Manual
from schedy.server.schedulers.pbt import PBT
from schedy.server.schedulers.random_search import RandomSearch

SCHEDULERS: dict[str, type[Scheduler]] = {cls.name: cls for cls in (Manual, RandomSearch, PBT)}


def register(cls: type[Scheduler]) -> None:
    """Make ``cls`` available under ``cls.name``."""
    SCHEDULERS[cls.name] = cls


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
    """Rebuild a stored scheduler (already validated), cached by its stored form."""
    return SCHEDULERS[name].from_params(json.loads(params_json))
