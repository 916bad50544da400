"""Definitions shared by the client and the service for grid and model-based searches.

:func:`grid_axis` parses one hyperparameter of a grid (``schedy.GridSearch``), kept compact (:class:`GridAxis`);
:class:`TPEParams` is the wire form of ``schedy.TPESearch``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from schedy._encoding import as_plain
from schedy._validate import check_names, exact_keys, finite_number, plain_json
from schedy.errors import DefinitionError
from schedy.pbt import MAXIMIZE, MINIMIZE
from schedy.random import (
    Choice,
    Distribution,
    Integer,
    Uniform,
    flatten_space,
    parse_distribution,
    parse_distributions,
)

__all__ = [
    "MAXIMIZE",
    "MAX_CANDIDATE_SCORES",
    "MAX_DECISION_WORK",
    "MAX_EI_CANDIDATES",
    "MAX_GRID_CELLS",
    "MAX_OBSERVATIONS",
    "MINIMIZE",
    "RANDOM_SAMPLERS",
    "STARTUPS",
    "TPEParams",
    "GridAxis",
    "check_grid_cells",
    "grid_axis",
    "grid_too_large",
    "grid_values",
    "random_search_from_wire",
    "random_search_to_wire",
    "stored_tpe",
    "value_key",
    "within_tpe_bounds",
]


def value_key(value: Any) -> Any:
    """A hashable key of a JSON value under which equal numbers (1, 1.0) meet, and booleans stay apart.

    Numbers are compared exactly, as Python compares an int with a float: 2**70 and 2**70 + 1 (64-bit
    seeds, say) are two values, which converting both to floats would make one.
    """
    if isinstance(value, bool) or value is None:
        return ("j", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    return ("j", json.dumps(value, sort_keys=True))


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


#: The most cells (combinations of values) a grid may have, so also the most values of one hyperparameter.
#: Each cell is a job; a search past a million jobs is a random or TPE search's. The client refuses a larger
#: grid before it lists its values, and the service refuses one sent otherwise (a distribution such as
#: ``{"integer": {"low": 1, "high": 1e12}}`` is a few bytes on the wire and would list a trillion values).
MAX_GRID_CELLS = 1_000_000


def grid_too_large(hyperparameter: str, count: int) -> str:
    """The sentence refusing a grid whose hyperparameter has ``count`` values, more than :data:`MAX_GRID_CELLS`."""
    return (
        f"The grid of '{hyperparameter}' has {count:,} values; a grid may have at most {MAX_GRID_CELLS:,} cells "
        "(combinations of values): list fewer values or use a larger step."
    )


def check_grid_cells(sizes: dict[str, int]) -> int:
    """The number of cells of a grid whose hyperparameters have ``sizes`` values each.

    Raises:
        schedy.errors.DefinitionError: more than :data:`MAX_GRID_CELLS` cells, naming the sizes.

    Example:
        >>> check_grid_cells({"lr": 3, "layers": 4})
        12

    """
    cells = math.prod(sizes.values())
    if cells > MAX_GRID_CELLS:
        product = " x ".join(f"{count:,} ('{hp}')" for hp, count in sizes.items())
        raise DefinitionError(
            f"The grid has {cells:,} cells ({product}); a grid may have at most {MAX_GRID_CELLS:,}: list fewer values."
        )
    return cells


#: Positions a computed grid axis remembers (:meth:`GridAxis.index`): a few MB at most.
_FOUND_MAX = 100_000


class GridAxis:
    """One hyperparameter of a grid: its values by position and a value's position, without listing them.

    An ``integer`` or a ``uniform`` with a ``step`` is kept as its distribution (a million values are
    a few bytes: ``{"integer": {"low": 1, "high": 1000000}}``) and its values are computed from a
    position; a list, a ``choice`` and a ``const`` are kept as their list of values.

    Attributes:
        wire: the compact form a client sends and the service stores and returns: the list of values,
            or the distribution's wire form.
        size: how many values.

    Example:
        >>> axis = grid_axis({"integer": {"low": 1, "high": 10**6}}, "n")
        >>> axis.size, axis[0], axis[999_999], axis.index(500_000.0), axis.index(0), axis.wire
        (1000000, 1, 1000000, 499999, None, {'integer': {'low': 1, 'high': 1000000}})

    """

    __slots__ = ("_dist", "_found", "_positions", "_values", "size", "wire")

    def __init__(self, wire: Any, *, values: list[Any] | None = None, dist: Integer | Uniform | None = None) -> None:
        self.wire = wire
        self._values = values
        self._dist = dist
        self._positions = None if values is None else {value_key(v): i for i, v in enumerate(values)}
        # The positions of the numbers asked about so far (a computed axis): a grid's decision asks for
        # every job's cell at every claim, and a lookup here costs what a listed axis's does.
        self._found: dict[int | float, int | None] = {}
        size = len(values) if values is not None else None if dist is None else dist.grid_size()
        if size is None:
            raise ValueError("A grid axis needs a list of values, an integer or a uniform with a step.")
        self.size = size

    @classmethod
    def of_list(cls, values: list[Any]) -> GridAxis:
        """A list of values, taken as it is (a stored grid's, already checked)."""
        return cls(values, values=values)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, position: int) -> Any:
        if self._values is not None:
            return self._values[position]
        if not 0 <= position < self.size:
            raise IndexError(position)
        if isinstance(self._dist, Integer):
            return self._dist.low + position * self._dist.step
        return cast("Uniform", self._dist).at(position)

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(self.size))

    def index(self, value: Any) -> int | None:
        """The position of ``value`` (numbers compare as numbers, booleans apart), or ``None`` if not a value."""
        if self._positions is not None:
            try:
                return self._positions.get(value_key(value))
            except TypeError:
                return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        try:
            return self._found[value]  # 4 and 4.0 are one key, as they are one value
        except KeyError:
            pass
        found = self._computed_index(value)
        if len(self._found) < _FOUND_MAX:  # a dict's item set is atomic: threads may share the axis
            self._found[value] = found
        return found

    def _computed_index(self, value: int | float) -> int | None:
        dist = self._dist
        if isinstance(dist, Integer):
            if isinstance(value, float):
                if not value.is_integer():  # also inf and nan
                    return None
                value = int(value)
            position, off = divmod(value - dist.low, dist.step)
            return position if off == 0 and 0 <= position < self.size else None
        if not isinstance(dist, Uniform) or dist.step is None:  # not reached: a uniform axis has a step
            return None
        try:
            near = round((value - dist.low) / dist.step)
        except (OverflowError, ValueError):  # a huge integer, inf or nan
            return None
        for position in (near, near - 1, near + 1):
            if 0 <= position < self.size and self[position] == value:
                return position
        return None

    def head(self, count: int) -> list[Any]:
        """The first ``count`` values (all when fewer), without listing the rest."""
        return [self[i] for i in range(min(count, self.size))]


def _distinct_steps(dist: Uniform) -> bool:
    """Whether a stepped uniform's values are all different floats (a step well above their spacing)."""
    return dist.step is not None and dist.step > 4 * math.ulp(max(abs(dist.low), abs(dist.high)))


def grid_axis(obj: Any, hyperparameter: str, *, limit: bool = True) -> GridAxis:
    """Parse one hyperparameter of a grid: a list of values, or a distribution with finitely many.

    ``limit``: refuse more than :data:`MAX_GRID_CELLS` values, before a distribution lists them (``False``
    for a grid stored by an earlier version, whose lists are already there). An ``integer`` and a
    ``uniform`` with a step are kept as distributions (:class:`GridAxis`), never listed.

    Raises:
        schedy.errors.DefinitionError: empty, repeated or non-finite values, too many, or a continuous
            distribution.

    """
    what = f"GridSearch hyperparameter '{hyperparameter}'"
    if limit:  # a new definition (a stored one is run as it is)
        check_names((hyperparameter,), "hyperparameter")
    if isinstance(obj, dict):
        dist = parse_distribution(obj, hyperparameter)
        if isinstance(dist, Choice) and dist.branches:
            raise DefinitionError(f"{what}: a grid takes no conditional branches; list the cells' values instead.")
        count = dist.grid_size()
        if limit and count is not None and count > MAX_GRID_CELLS:
            raise DefinitionError(grid_too_large(hyperparameter, count))
        if isinstance(dist, Integer) or (isinstance(dist, Uniform) and _distinct_steps(dist)):
            return GridAxis(dist.to_wire(), dist=dist)  # its values are distinct and finite: counted, not listed
        values = dist.grid_values()
        if values is None:
            raise DefinitionError(
                f"{what}: '{dist.wire_name}' is continuous, so it has no list of values to enumerate; "
                "give a list, a choice, an integer or a uniform with a step."
            )
    elif isinstance(obj, list) or isinstance(as_plain(obj), list):  # a numpy array: the list it holds
        # As the service keeps them: numpy values as plain ints and floats, handed out as such.
        values = plain_json(obj, what)
    else:
        raise DefinitionError(f"{what} must be a list of values or a distribution with finitely many, got {obj!r}.")
    if not values:
        raise DefinitionError(f"{what} needs at least one value.")
    if limit and len(values) > MAX_GRID_CELLS:
        raise DefinitionError(grid_too_large(hyperparameter, len(values)))
    seen: set[Any] = set()
    for value in values:
        if not _finite(value):
            raise DefinitionError(f"{what}: values must be finite, got {value!r}.")
        key = value_key(value)
        if key in seen:
            raise DefinitionError(f"{what} lists {value!r} twice.")
        seen.add(key)
    values = list(values)
    return GridAxis(values, values=values)


def grid_values(obj: Any, hyperparameter: str, *, limit: bool = True) -> list[Any]:
    """Every value of one hyperparameter of a grid, listed (:func:`grid_axis`, whose rules it applies)."""
    return list(grid_axis(obj, hyperparameter, limit=limit))


#: How TPE draws its startup jobs.
STARTUPS = ("sobol", "halton", "random")
#: How RandomSearch draws: i.i.d. (the default), or a scrambled quasi-random sequence.
RANDOM_SAMPLERS = ("iid", "sobol", "halton")


def random_search_from_wire(obj: Any) -> tuple[dict[str, Distribution], str]:
    """Parse ``{"RandomSearch": …}``'s value: ``(space, sampler)``.

    Two forms: the space itself (``{hp: distribution, …}``, i.i.d., what every
    client since 0.1.0b6 sends) or ``{"distributions": {…}, "sampler": "sobol"}``.
    The second is told apart by its exact keys and its text ``sampler`` (a
    distribution is never a string).

    Raises:
        schedy.errors.DefinitionError: a bad space or an unknown sampler.

    """
    what = "RandomSearch parameters"
    if isinstance(obj, dict) and set(obj) == {"distributions", "sampler"} and isinstance(obj["sampler"], str):
        sampler = obj["sampler"]
        if sampler not in RANDOM_SAMPLERS:
            raise DefinitionError(f"RandomSearch sampler must be one of {', '.join(RANDOM_SAMPLERS)}, got {sampler!r}.")
        return parse_distributions(obj["distributions"], what), sampler
    return parse_distributions(obj, what), "iid"


def random_search_to_wire(distributions: dict[str, Distribution], sampler: str) -> dict[str, Any]:
    """The wire form of a random search: the plain space when i.i.d. (readable by old clients)."""
    space = {hp: dist.to_wire() for hp, dist in distributions.items()}
    if sampler == "iid":
        return space
    return {"distributions": space, "sampler": sampler}


#: The most candidates one TPE decision scores (Optuna's default is 24, as Schedy's).
MAX_EI_CANDIDATES = 1000
#: The most finished jobs one TPE decision models (the bounded history is built around the default, 1,000).
MAX_OBSERVATIONS = 10_000
#: The most candidate x modelled job pairs one TPE decision scores per hyperparameter (its arrays: ~40 MB).
MAX_CANDIDATE_SCORES = 10**6
#: The most candidate x modelled job x hyperparameter scores of one TPE decision (~0.1-0.3 s on one core);
#: the defaults allow 416 hyperparameters.
MAX_DECISION_WORK = 10**7

_TPE_OPTIONS = {
    # wire key: (attribute, default, kind)
    "nStartupJobs": ("n_startup_jobs", 10, "int"),
    "nEiCandidates": ("n_ei_candidates", 24, "int"),
    "priorWeight": ("prior_weight", 1.0, "float"),
    "maxObservations": ("max_observations", 1000, "int"),
    "startup": ("startup", "sobol", "startup"),
}


def within_tpe_bounds(obj: Any) -> Any:
    """A stored ``{"TPESearch": …}`` value with its costs brought within today's bounds (else as it is).

    Earlier versions allowed up to 10,000 candidates and 1,000,000 modelled jobs per decision; a search
    stored then keeps running after an upgrade at the most a decision may cost now: ``nEiCandidates``
    and ``maxObservations`` are lowered (the modelled jobs first, down to 50) until the decision fits
    :data:`MAX_CANDIDATE_SCORES` and :data:`MAX_DECISION_WORK`. Anything else wrong is left for
    :meth:`TPEParams.from_wire` to say.

    >>> within_tpe_bounds({"distributions": {"x": {"uniform": {"low": 0, "high": 1}}}, "objective": "min",
    ...                    "resultName": "y", "nEiCandidates": 10000, "maxObservations": 1000000})["maxObservations"]
    1000
    """
    if not isinstance(obj, dict):
        return obj
    candidates, observations = obj.get("nEiCandidates", 24), obj.get("maxObservations", 1000)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (candidates, observations)):
        return obj
    try:
        dims = len(flatten_space(parse_distributions(obj.get("distributions"), "TPESearch")))
    except (DefinitionError, TypeError, ValueError):
        return obj
    candidates = min(candidates, MAX_EI_CANDIDATES)
    per_decision = min(MAX_CANDIDATE_SCORES, MAX_DECISION_WORK // max(dims, 1))
    observations = max(50, min(observations, MAX_OBSERVATIONS, per_decision // candidates))
    candidates = max(1, min(candidates, per_decision // observations))
    out = dict(obj)
    if "nEiCandidates" in obj or candidates != 24:
        out["nEiCandidates"] = candidates
    if "maxObservations" in obj or observations != 1000:
        out["maxObservations"] = observations
    return out


def stored_tpe(obj: Any) -> tuple[TPEParams, list[str]]:
    """A stored ``{"TPESearch": …}`` value read as the service runs it, and a note per option past today's bounds.

    What a client shows of a search an earlier version stored with an option allowed then (up to 10,000
    candidates): :meth:`TPEParams.from_wire` refuses it, the service runs it within today's bounds
    (:func:`within_tpe_bounds`). Each option so lowered is named in one short note.

    >>> params, notes = stored_tpe({"distributions": {"x": {"uniform": {"low": 0, "high": 1}}},
    ...                             "objective": "min", "resultName": "y", "nEiCandidates": 5000})
    >>> params.n_ei_candidates, notes
    (1000, ["n_ei_candidates=5000 is past today's bounds: the service runs the search with 1000"])

    Raises:
        schedy.errors.DefinitionError: the value is wrong even within today's bounds (in one sentence).

    """
    bounded = within_tpe_bounds(obj)
    params = TPEParams.from_wire(bounded)
    notes = []
    for key in ("nEiCandidates", "maxObservations"):
        attribute, default, _ = _TPE_OPTIONS[key]
        stored, running = obj.get(key, default), getattr(params, attribute)
        if stored != running:
            notes.append(f"{attribute}={stored} is past today's bounds: the service runs the search with {running}")
    return params, notes


@dataclass(frozen=True)
class TPEParams:
    """The parameters of a TPE search: the value of ``{"TPESearch": …}`` on the wire.

    Attributes:
        distributions: the search space (:mod:`schedy.random`, branches allowed).
        objective: ``"min"`` or ``"max"``.
        result_name: the result that ranks jobs.
        n_startup_jobs: finished jobs before the model is used (quasi-random until then).
        n_ei_candidates: candidates drawn from the good density per decision.
        prior_weight: weight of the prior component of each density.
        max_observations: the most finished jobs a decision models (the best
            ones, then the most recent): bounds the cost per claim.
        startup: ``"sobol"``, ``"halton"`` (scrambled, seeded) or ``"random"``.

    Example:
        >>> from schedy.random import Uniform
        >>> p = TPEParams({"x": Uniform(0, 1)}, "min", "loss")
        >>> TPEParams.from_wire(p.to_wire()) == p
        True

    """

    distributions: dict[str, Distribution]
    objective: str
    result_name: str
    n_startup_jobs: int = 10
    n_ei_candidates: int = 24
    prior_weight: float = 1.0
    max_observations: int = 1000
    startup: str = "sobol"

    def __post_init__(self) -> None:
        if not isinstance(self.distributions, dict) or not self.distributions:
            raise DefinitionError("TPESearch needs at least one hyperparameter distribution.")
        for hp, dist in self.distributions.items():
            if not isinstance(dist, Distribution):
                raise DefinitionError(f"TPESearch hyperparameter {hp!r} must be a schedy.random distribution.")
        flatten_space(self.distributions)
        if self.objective not in (MINIMIZE, MAXIMIZE):
            raise DefinitionError(f"TPESearch objective must be 'min' or 'max', got {self.objective!r}.")
        if not isinstance(self.result_name, str) or not self.result_name:
            raise DefinitionError(f"TPESearch resultName must be a non-empty string, got {self.result_name!r}.")
        for attribute, low, high in (
            ("n_startup_jobs", 0, 10**6),
            ("n_ei_candidates", 1, MAX_EI_CANDIDATES),
            ("max_observations", 50, MAX_OBSERVATIONS),
        ):
            value = as_plain(getattr(self, attribute))  # numpy's integers too
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise DefinitionError(f"TPESearch {attribute} must be an integer from {low} to {high}, got {value!r}.")
            object.__setattr__(self, attribute, value)
        # A decision scores every candidate against every modelled job (an array of candidates x kernels),
        # once per hyperparameter: the first product bounds one claim's memory, the second its time.
        pairs = self.n_ei_candidates * self.max_observations
        if pairs > MAX_CANDIDATE_SCORES:
            raise DefinitionError(
                f"TPESearch n_ei_candidates x max_observations must be at most {MAX_CANDIDATE_SCORES:,}, "
                f"got {self.n_ei_candidates:,} x {self.max_observations:,}."
            )
        dims = len(flatten_space(self.distributions))
        if pairs * dims > MAX_DECISION_WORK:
            raise DefinitionError(
                f"TPESearch n_ei_candidates x max_observations x hyperparameters must be at most "
                f"{MAX_DECISION_WORK:,}, got {self.n_ei_candidates:,} x {self.max_observations:,} x {dims}: "
                "lower n_ei_candidates or max_observations."
            )
        weight = finite_number(self.prior_weight, "TPESearch prior_weight")
        if weight <= 0:
            raise DefinitionError(f"TPESearch prior_weight must be > 0, got {self.prior_weight!r}.")
        object.__setattr__(self, "prior_weight", weight)
        if self.startup not in STARTUPS:
            raise DefinitionError(f"TPESearch startup must be one of {', '.join(STARTUPS)}, got {self.startup!r}.")

    def to_wire(self) -> dict[str, Any]:
        """The wire form; options at their defaults are left out."""
        out: dict[str, Any] = {
            "distributions": {hp: d.to_wire() for hp, d in self.distributions.items()},
            "objective": self.objective,
            "resultName": self.result_name,
        }
        for key, (attribute, default, _) in _TPE_OPTIONS.items():
            if getattr(self, attribute) != default:
                out[key] = getattr(self, attribute)
        return out

    @classmethod
    def from_wire(cls, obj: Any) -> TPEParams:
        """Parse and validate the wire form.

        Raises:
            schedy.errors.DefinitionError: what is wrong, in one sentence.

        """
        exact_keys(obj, {"distributions", "objective", "resultName"}, set(_TPE_OPTIONS), "TPESearch parameters")
        options = {attribute: obj[key] for key, (attribute, _, _) in _TPE_OPTIONS.items() if key in obj}
        return cls(
            parse_distributions(obj["distributions"], "TPESearch distributions"),
            obj["objective"],
            obj["resultName"],
            **options,
        )

    @classmethod
    def option_names(cls) -> dict[str, str]:
        """Python option name → wire key (what ``schedy.TPESearch(**options)`` takes)."""
        return {attribute: key for key, (attribute, _, _) in _TPE_OPTIONS.items()}
