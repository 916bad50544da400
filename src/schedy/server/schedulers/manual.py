"""Manual search: hands out only the jobs queued by hand."""

from __future__ import annotations

import random
from typing import Any

from schedy.errors import DefinitionError
from schedy.server.schedulers.base import NOTHING, Decision, Scheduler, Snapshot


class Manual(Scheduler):
    """``{"Manual": null}``: ``nextjob`` hands out queued jobs and nothing else."""

    name = "Manual"

    @classmethod
    def from_params(cls, params: Any) -> Manual:
        if params is not None and params != {}:
            raise DefinitionError(f"Scheduler 'Manual' takes no parameters (null), got {params!r}.")
        return cls()

    def to_params(self) -> None:
        return None

    def decide(self, snapshot: Snapshot, rng: random.Random) -> Decision:
        return NOTHING
