"""Population Based Training: objectives and exploit/explore strategies.

These classes are what a user passes to
:class:`schedy.PopulationBasedTraining` and, through
:class:`PBTParams`, the wire form the service parses and validates. The
rules the service follows are written down in ``docs/pbt.md``.

Example:
    >>> params = PBTParams(objective=MAXIMIZE, result_name="accuracy",
    ...                    exploit=Truncate(0.2), explore={"lr": Perturb()})
    >>> PBTParams.from_wire(params.to_wire()) == params
    True

"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from schedy._validate import exact_keys, finite_number, single_key
from schedy.errors import DefinitionError
from schedy.random import Choice, Constant, Distribution, flatten_space, parse_distributions

__all__ = [
    "MAXIMIZE",
    "MINIMIZE",
    "PBTParams",
    "Perturb",
    "Truncate",
]

#: Lower results are better.
MINIMIZE = "min"
#: Higher results are better.
MAXIMIZE = "max"


@dataclass(frozen=True)
class Truncate:
    """Exploit by truncation selection.

    A member in the bottom ``proportion`` of the population (ranked at the
    same generation) copies a member of the top ``proportion``.
    ``0 < proportion <= 0.5``.
    """

    proportion: float = 0.2

    wire_name = "truncate"

    def __post_init__(self) -> None:
        p = finite_number(self.proportion, "Exploit 'truncate' proportion")
        if not 0 < p <= 0.5:
            raise DefinitionError(f"Exploit 'truncate' needs 0 < proportion <= 0.5, got {self.proportion!r}.")
        object.__setattr__(self, "proportion", p)

    def to_wire(self) -> dict[str, Any]:
        """``{"truncate": proportion}``."""
        return {self.wire_name: self.proportion}


@dataclass(frozen=True)
class Perturb:
    """Explore by multiplying a hyperparameter by a random factor.

    The factor is uniform in ``[min_factor, max_factor)``. Integers are
    rounded and stay integers, so with the default factors an integer of 2
    or less never moves. A hyperparameter whose initial distribution has a
    ``step`` (an ``Integer`` or a ``Uniform``) stays on its grid
    ``low + k·step``.

    Beyond the original client:
        resample_probability: with this probability, redraw the value from
            the hyperparameter's initial distribution instead of multiplying.
        clip: keep perturbed values inside the initial distribution's bounds.
    """

    min_factor: float = 0.8
    max_factor: float = 1.2
    resample_probability: float = 0.0
    clip: bool = False

    wire_name = "perturb"

    def __post_init__(self) -> None:
        low = finite_number(self.min_factor, "Explore 'perturb' minFactor")
        high = finite_number(self.max_factor, "Explore 'perturb' maxFactor")
        if not 0 <= low < high:
            raise DefinitionError(
                f"Explore 'perturb' needs 0 <= minFactor < maxFactor, got {self.min_factor!r}, {self.max_factor!r}."
            )
        prob = finite_number(self.resample_probability, "Explore 'perturb' resampleProbability")
        if not 0 <= prob <= 1:
            raise DefinitionError(f"Explore 'perturb' needs 0 <= resampleProbability <= 1, got {prob!r}.")
        if not isinstance(self.clip, bool):
            raise DefinitionError(f"Explore 'perturb' clip must be true or false, got {self.clip!r}.")
        object.__setattr__(self, "min_factor", low)
        object.__setattr__(self, "max_factor", high)
        object.__setattr__(self, "resample_probability", prob)

    def to_wire(self) -> dict[str, Any]:
        """``{"perturb": {"minFactor": …, "maxFactor": …}}`` (+ extensions when set)."""
        args: dict[str, Any] = {"minFactor": self.min_factor, "maxFactor": self.max_factor}
        if self.resample_probability:
            args["resampleProbability"] = self.resample_probability
        if self.clip:
            args["clip"] = True
        return {self.wire_name: args}

    @classmethod
    def from_wire(cls, obj: Any, hyperparameter: str) -> Perturb:
        """Parse ``{"perturb": {...}}`` for ``hyperparameter``."""
        what = f"Explore strategy of '{hyperparameter}'"
        name, args = single_key(obj, what)
        if name != cls.wire_name:
            raise DefinitionError(f"{what}: unknown strategy '{name}'; use 'perturb'.")
        exact_keys(args, set(), {"minFactor", "maxFactor", "resampleProbability", "clip"}, f"{what}: 'perturb'")
        return cls(
            min_factor=args.get("minFactor", 0.8),
            max_factor=args.get("maxFactor", 1.2),
            resample_probability=args.get("resampleProbability", 0.0),
            clip=args.get("clip", False),
        )


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise DefinitionError(f"{what} must be a positive integer, got {value!r}.")
    return int(value)


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class PBTParams:
    """The parameters of a PBT experiment: the value of ``{"PBT": …}`` on the wire.

    Attributes:
        objective: :data:`MINIMIZE` or :data:`MAXIMIZE`.
        result_name: the result that ranks jobs (``qualityResultName``).
        exploit: the exploit strategy.
        explore: hyperparameter name → explore strategy.
        init: hyperparameter name → distribution of the initial population.
        population_size: number of members (``numParallel``).
        max_generations: a member is finished when it reaches this generation.

    """

    objective: str
    result_name: str
    exploit: Truncate = field(default_factory=Truncate)
    explore: dict[str, Perturb] = field(default_factory=dict)
    init: dict[str, Distribution] = field(default_factory=dict)
    population_size: int | None = None
    max_generations: int | None = None

    def __post_init__(self) -> None:
        if self.objective not in (MINIMIZE, MAXIMIZE):
            raise DefinitionError(f"PBT objective must be 'min' or 'max', got {self.objective!r}.")
        if not isinstance(self.result_name, str) or not self.result_name:
            raise DefinitionError(f"PBT qualityResultName must be a non-empty string, got {self.result_name!r}.")
        if self.population_size is not None:
            _positive_int(self.population_size, "PBT numParallel")
        if self.max_generations is not None:
            _positive_int(self.max_generations, "PBT maxGenerations")
        if self.init and self.population_size is None:
            raise DefinitionError(
                "PBT init needs numParallel (population_size in Python, --population in the CLI): how many "
                "initial members to sample."
            )
        init = {p.name: p.dist for p in flatten_space(self.init)}
        for name, strategy in self.explore.items():
            dist = init.get(name)
            uses = (("resampleProbability", strategy.resample_probability), ("clip", strategy.clip))
            needs = [what for what, on in uses if on]
            if needs and dist is None:
                raise DefinitionError(
                    f"Explore 'perturb' of '{name}' sets {' and '.join(needs)}, which use its init distribution, "
                    f"but init has none for '{name}': add one, or drop {' and '.join(needs)}."
                )
            values = dist.values if isinstance(dist, Choice) else [dist.value] if isinstance(dist, Constant) else []
            if any(not _is_numeric(v) for v in values):
                raise DefinitionError(f"Explore strategy 'perturb' of '{name}' needs a numeric hyperparameter.")

    def to_wire(self) -> dict[str, Any]:
        """The wire form (camelCase keys, docs/protocol.md)."""
        out: dict[str, Any] = {"objective": self.objective, "qualityResultName": self.result_name}
        out["exploit"] = self.exploit.to_wire()
        if self.explore:
            out["explore"] = {name: s.to_wire() for name, s in self.explore.items()}
        if self.init:
            out["init"] = {name: d.to_wire() for name, d in self.init.items()}
        if self.population_size is not None:
            out["numParallel"] = self.population_size
        if self.max_generations is not None:
            out["maxGenerations"] = self.max_generations
        return out

    @classmethod
    def from_wire(cls, obj: Any) -> PBTParams:
        """Parse and validate the wire form.

        Raises:
            schedy.errors.DefinitionError: what is wrong, in one sentence.

        """
        exact_keys(
            obj,
            {"objective", "qualityResultName"},
            {"exploit", "explore", "init", "numParallel", "maxGenerations"},
            "PBT parameters",
        )
        exploit = Truncate()
        if obj.get("exploit") is not None:
            name, proportion = single_key(obj["exploit"], "PBT exploit")
            if name != Truncate.wire_name:
                raise DefinitionError(f"PBT exploit: unknown strategy '{name}'; use 'truncate'.")
            exploit = Truncate(proportion)
        explore_obj = obj.get("explore") or {}
        if not isinstance(explore_obj, dict):
            raise DefinitionError("PBT explore must be an object mapping hyperparameter names to strategies.")
        init = parse_distributions(obj.get("init") or {}, "PBT init")
        num = obj.get("numParallel")
        max_gen = obj.get("maxGenerations")
        return cls(
            objective=obj["objective"],
            result_name=obj["qualityResultName"],
            exploit=exploit,
            explore={str(hp): Perturb.from_wire(s, str(hp)) for hp, s in explore_obj.items()},
            init=init,
            population_size=None if num is None else _positive_int(num, "PBT numParallel"),
            max_generations=None if max_gen is None else _positive_int(max_gen, "PBT maxGenerations"),
        )


def is_worse(a: float | None, b: float | None, objective: str) -> bool:
    """Whether objective value ``a`` is strictly worse than ``b``.

    A missing value, NaN or ±infinity (a diverged run, whatever its sign)
    is worse than any finite number, and not worse than another one of
    those.
    """
    a_bad = a is None or not math.isfinite(a)
    b_bad = b is None or not math.isfinite(b)
    if a is None or b is None or a_bad or b_bad:
        return a_bad and not b_bad
    return a < b if objective == MAXIMIZE else a > b
