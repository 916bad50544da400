"""Random search: samples every hyperparameter from its distribution."""

from __future__ import annotations

import random
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from schedy.random import Distribution, check_space, parse_distributions, sample_space
from schedy.server.schedulers.base import Decision, NewJob, Scheduler, Snapshot


class RandomSearch(Scheduler):
    """``{"RandomSearch": {hp: distribution, …}}``.

    When no job is queued, a new job is made by sampling each distribution
    independently (and the branches its choices select). Its cost does not
    depend on the experiment's size.
    """

    name = "RandomSearch"

    def __init__(self, distributions: Mapping[str, Distribution]) -> None:
        self.distributions: Mapping[str, Distribution] = MappingProxyType(dict(distributions))

    @classmethod
    def from_params(cls, params: Any) -> RandomSearch:
        return cls(parse_distributions(params, "RandomSearch parameters"))

    def to_params(self) -> dict[str, Any]:
        return {name: dist.to_wire() for name, dist in self.distributions.items()}

    def decide(self, snapshot: Snapshot, rng: random.Random) -> Decision:
        return Decision(job=NewJob(sample_space(self.distributions, rng)))

    def check_new_job(self, hyperparameters: Mapping[str, Any]) -> None:
        check_space(hyperparameters, self.distributions, "A job of a random search")
