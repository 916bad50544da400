"""Random search: samples every hyperparameter from its distribution, i.i.d. or quasi-randomly.

``{"RandomSearch": {hp: distribution, …}}`` draws each job independently
(:class:`RandomSearch`: no history, constant cost, on the event loop).
``{"RandomSearch": {"distributions": {…}, "sampler": "sobol"}}`` (or
``"halton"``) hands out the points of one scrambled low-discrepancy sequence
in order (:class:`QuasiRandomSearch`): for the same budget they cover the
space more evenly than i.i.d. draws.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from schedy._search import random_search_from_wire, random_search_to_wire
from schedy.random import Distribution, FlatParam, check_space, flatten_space, sample_space, space_from_unit
from schedy.server.schedulers.base import Decision, NewJob, Scheduler, Snapshot

__all__ = ["QuasiRandomSearch", "RandomSearch", "quasi_random_point", "sequence_index"]


def quasi_random_point(flat: Sequence[FlatParam], sampler: str, index: int, key: int) -> dict[str, Any]:
    """Point ``index`` of the ``sampler`` sequence (``"sobol"`` or ``"halton"``) scrambled by ``key``, over ``flat``.

    ``key`` is the experiment's random key (:attr:`Snapshot.key`), the same
    at every decision: so the experiment's jobs are the points of *one*
    sequence (whose first 2^k Sobol points stratify every axis), point
    ``index`` is the same whoever asks for it, and the ``seed`` option
    chooses the scramble.
    """
    # Imported here: scipy.stats takes about 0.7 s to import, which every start of the service would pay.
    from scipy.stats import qmc

    seed = random.Random(key).getrandbits(64)  # noqa: S311 - search sampling
    engine: qmc.QMCEngine
    if sampler == "sobol":
        engine = qmc.Sobol(len(flat), scramble=True, seed=seed)
    else:
        engine = qmc.Halton(len(flat), scramble=True, seed=seed)
    if index:
        engine.fast_forward(index)
    point = engine.random(1)[0]
    return space_from_unit(flat, [min(float(u), 1 - 1e-12) for u in point])


def sequence_index(snapshot: Snapshot) -> int:
    """The index of the quasi-random point the next job gets; never one already handed out.

    One past the last point handed out (:attr:`Snapshot.sequence_next`), or
    the number of jobs if larger (jobs added by hand take their place).
    ``decisions`` counts too, for experiments whose last decision came
    before ``sequence_next`` was recorded (the service then reports it as
    the number of decisions).
    """
    return max(len(snapshot.jobs), snapshot.decisions, snapshot.sequence_next)


class RandomSearch(Scheduler):
    """``{"RandomSearch": {hp: distribution, …}}``.

    When no job is queued, a new job is made by sampling each distribution
    independently (and the branches its choices select). Its cost does not
    depend on the experiment's size. With a quasi-random ``sampler``,
    :meth:`from_params` builds a :class:`QuasiRandomSearch` instead.
    """

    name = "RandomSearch"
    sampler = "iid"

    def __init__(self, distributions: Mapping[str, Distribution]) -> None:
        self.distributions: Mapping[str, Distribution] = MappingProxyType(dict(distributions))

    @classmethod
    def from_params(cls, params: Any) -> RandomSearch:
        distributions, sampler = random_search_from_wire(params)
        if sampler == "iid":
            return RandomSearch(distributions)
        return QuasiRandomSearch(distributions, sampler)

    def to_params(self) -> dict[str, Any]:
        return random_search_to_wire(dict(self.distributions), self.sampler)

    def decide(self, snapshot: Snapshot, rng: random.Random) -> Decision:
        return Decision(job=NewJob(sample_space(self.distributions, rng)))

    def check_new_job(self, hyperparameters: Mapping[str, Any]) -> None:
        check_space(hyperparameters, self.distributions, "A job of a random search")


class QuasiRandomSearch(RandomSearch):
    """A random search handing out the points of a scrambled Sobol or Halton sequence, in order.

    The next point is the one after the last handed out
    (:attr:`Snapshot.sequence_next`, recorded with each decision under its
    compare-and-set, so it never goes back), or, if the experiment has more
    jobs than that, point *len(jobs)* (jobs added by hand take their place in
    the count; see :func:`sequence_index`). Decisions are committed one at a
    time, each knowing the one before it, so each point is handed out once
    across workers and service processes, and deleting jobs never brings a
    point back. The scramble comes from the
    experiment's random key (its ``seed`` option, else drawn once). So it
    reads the history (the number of jobs), and its claims run in the
    thread pool.
    """

    reads_history = True

    def __init__(self, distributions: Mapping[str, Distribution], sampler: str) -> None:
        super().__init__(distributions)
        self.sampler = sampler
        self.flat = tuple(flatten_space(self.distributions))

    def decide(self, snapshot: Snapshot, rng: random.Random) -> Decision:
        index = sequence_index(snapshot)
        point = quasi_random_point(self.flat, self.sampler, index, snapshot.key)
        return Decision(job=NewJob(point), sequence_next=index + 1)
