"""Grid search: every combination of the listed values, each handed out once, in a seeded shuffled order.

``{"GridSearch": {hp: [values…], …}}``. On the wire a hyperparameter may
also be given as a distribution with finitely many values (``choice``,
``const``, ``integer``, ``uniform`` with ``step``). A ``choice`` or a
``const`` is stored as its list; an ``integer`` or a stepped ``uniform`` is
stored and returned as the distribution (a million values in a few bytes),
and its values are computed from their positions, never listed
(:class:`schedy._search.GridAxis`). Continuous distributions are refused.
A grid stored as lists (by an earlier version, or sent so) runs as it is.

How a decision is made (from the history alone, so it is the same in every
service process):

* **Cells** are identified from the jobs' hyperparameters: a job belongs to
  the cell whose values it carries (numbers compare as numbers, so ``1`` and
  ``1.0`` are one cell). A job outside the grid (added by hand with other
  values) belongs to no cell.
* **A cell's state**: *in flight* if one of its jobs is QUEUED or RUNNING
  (a retry queued by the lease sweep included); else *finished* if one is
  DONE or PRUNED; else, all of its jobs CRASHED, it is *retried* with
  ``attempt + 1`` while its latest attempt is at most the experiment's
  ``maxRetries`` (the rule of the lease sweep, which re-queues lapsed jobs
  itself: such a cell is in flight and never handed out a second time),
  and *finished* (given up) after that; a cell without jobs is *open*.
* **Order**: retries first, then the first open cell in a pseudo-random
  permutation of the cells (a keyed Feistel network with cycle walking:
  O(1) per position, no list of all cells), keyed by the experiment's random
  key (:attr:`Snapshot.key`: its ``seed`` option, else drawn at its first
  decision), so every decision uses the same order, and two experiments
  with the same seed the same order.
* **Done**: when no cell is open, in flight or to retry, the experiment
  becomes DONE.

Every decision is committed against the experiment's ``decision_seq``
(:mod:`schedy.server.service.claims`), so no cell is handed out twice,
whatever the number of workers and service processes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from schedy._search import MAX_GRID_CELLS, GridAxis, check_grid_cells, grid_axis
from schedy.errors import DefinitionError
from schedy.server.schedulers.base import (
    NOTHING,
    Decision,
    NewJob,
    Scheduler,
    Snapshot,
    check_hyperparameter_names,
)

__all__ = ["MAX_CELLS", "GridSearch", "Permutation"]

#: The largest grid accepted (cells): the client's limit, so that a definition is judged the same both sides.
MAX_CELLS = MAX_GRID_CELLS
#: The largest grid an earlier version accepted, which a stored grid may still have (its lists are stored).
_MAX_STORED_CELLS = 10**8

_IN_FLIGHT = frozenset({"QUEUED", "RUNNING"})
_FINISHED = frozenset({"DONE", "PRUNED"})
_MASK64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """SplitMix64's finaliser: a fast, well-spread 64-bit mixing function."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class Permutation:
    """A keyed pseudo-random permutation of ``range(size)``, evaluated one position at a time.

    Example:
        >>> p = Permutation(10, key=7)
        >>> sorted(p[i] for i in range(10)) == list(range(10))
        True

    """

    ROUNDS = 4

    def __init__(self, size: int, key: int) -> None:
        self.size = size
        self._half = max(1, ((size - 1).bit_length() + 1) // 2)
        self._low_mask = (1 << self._half) - 1
        self._keys = [_mix(key + r) for r in range(self.ROUNDS)]

    def _encrypt(self, x: int) -> int:
        left, right = x >> self._half, x & self._low_mask
        for k in self._keys:
            left, right = right, left ^ (_mix(right ^ k) & self._low_mask)
        return (left << self._half) | right

    def __getitem__(self, position: int) -> int:
        x = self._encrypt(position)
        while x >= self.size:  # cycle walking: the domain is under 4 * size, so few steps
            x = self._encrypt(x)
        return x


class GridSearch(Scheduler):
    """``{"GridSearch": {hp: [values…], …}}``: see the module docstring.

    Example:
        >>> grid = GridSearch.from_params({"a": [1, 2], "b": ["x"]})
        >>> grid.decide(Snapshot(), random.Random(0)).job.hyperparameters in ({"a": 1, "b": "x"}, {"a": 2, "b": "x"})
        True

    """

    name = "GridSearch"
    reads_history = True
    retries_crashed_jobs = True
    can_end = True

    def __init__(self, grid: Mapping[str, Sequence[Any] | GridAxis], *, stored: bool = False) -> None:
        if not grid:
            raise DefinitionError("GridSearch needs at least one hyperparameter with a list of values.")
        self.axes: dict[str, GridAxis] = {
            str(hp): values if isinstance(values, GridAxis) else GridAxis.of_list(list(values))
            for hp, values in grid.items()
        }
        self.names = tuple(self.axes)
        if stored:
            self.size = math.prod(axis.size for axis in self.axes.values())
            if self.size > _MAX_STORED_CELLS:
                raise DefinitionError(f"GridSearch has {self.size} cells, more than the {_MAX_STORED_CELLS} it runs.")
        else:
            self.size = check_grid_cells({hp: axis.size for hp, axis in self.axes.items()})
        self._axes = tuple(self.axes.values())
        self._radix = [axis.size for axis in self._axes]

    @classmethod
    def from_params(cls, params: Any) -> GridSearch:
        if not isinstance(params, dict) or not params:
            raise DefinitionError("GridSearch needs an object mapping each hyperparameter to its list of values.")
        return cls({str(hp): grid_axis(obj, str(hp)) for hp, obj in params.items()})

    @classmethod
    def from_stored(cls, params: Any) -> GridSearch:
        """A stored grid: up to the cells an earlier version accepted (10**8), so that it runs on."""
        if not isinstance(params, dict) or not params:
            return cls.from_params(params)
        return cls({str(hp): grid_axis(obj, str(hp), limit=False) for hp, obj in params.items()}, stored=True)

    def to_params(self) -> dict[str, Any]:
        """As stored and returned: each hyperparameter's list, or its distribution (never listed)."""
        return {hp: axis.wire for hp, axis in self.axes.items()}

    def check_new_job(self, hyperparameters: Mapping[str, Any]) -> None:
        check_hyperparameter_names(hyperparameters, set(self.names), "A job of a grid search")

    # -- cells ----------------------------------------------------------------

    def cell_of(self, hyperparameters: Mapping[str, Any]) -> int | None:
        """The index of the cell a job's hyperparameters name; ``None`` outside the grid."""
        index = 0
        for name, axis, radix in zip(self.names, self._axes, self._radix, strict=True):
            if name not in hyperparameters:
                return None
            position = axis.index(hyperparameters[name])
            if position is None:
                return None
            index = index * radix + position
        return index

    def cell(self, index: int) -> dict[str, Any]:
        """The hyperparameters of cell ``index`` (mixed radix, last hyperparameter fastest)."""
        values: list[Any] = []
        for axis, radix in zip(reversed(self._axes), reversed(self._radix), strict=True):
            index, position = divmod(index, radix)
            values.append(axis[position])
        return dict(zip(self.names, reversed(values), strict=True))

    def order(self, key: int) -> Permutation:
        """The experiment's order of cells, from its random ``key`` (:attr:`Snapshot.key`)."""
        return Permutation(self.size, random.Random(key).getrandbits(64))  # noqa: S311 - search order

    def decide(self, snapshot: Snapshot, rng: random.Random) -> Decision:
        max_retries = snapshot.options.get("maxRetries", 0)
        if not isinstance(max_retries, int) or isinstance(max_retries, bool):
            max_retries = 0
        in_flight: set[int] = set()
        finished: set[int] = set()
        crashed: dict[int, tuple[int, str]] = {}  # cell -> (latest attempt, its job)
        for job in snapshot.jobs:
            index = self.cell_of(job.hyperparameters)
            if index is None:
                continue
            if job.status in _IN_FLIGHT:
                in_flight.add(index)
            elif job.status in _FINISHED:
                finished.add(index)
            elif job.status == "CRASHED":
                crashed[index] = max(crashed.get(index, (0, "")), (job.attempt, job.id))
            else:  # a status this version does not know: leave the cell alone
                in_flight.add(index)
        order = self.order(snapshot.key)
        retries = [
            c
            for c, (attempt, _) in crashed.items()
            if c not in in_flight and c not in finished and attempt <= max_retries
        ]
        if retries:
            index = min(retries)
            attempt, job_id = crashed[index]
            return Decision(job=NewJob(self.cell(index), attempt=attempt + 1, retry_of=job_id))
        taken = len(in_flight | finished | crashed.keys())
        if taken < self.size:
            seen = in_flight | finished | crashed.keys()
            position = 0
            while True:
                index = order[position]
                if index not in seen:
                    return Decision(job=NewJob(self.cell(index)))
                position += 1
        if in_flight:
            return NOTHING
        return Decision(experiment_done=True)
