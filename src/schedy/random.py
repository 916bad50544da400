"""Distributions that random search and PBT sample hyperparameters from.

Each class is both the Python object a user builds
(``schedy.random.LogUniform(1e-5, 1e-1)``) and its wire form
(``{"loguniform": {"low": 1e-05, "high": 0.1}}``). The service parses an
experiment with :func:`parse_distribution`, so client and service agree on
what is valid, and samples with :meth:`Distribution.sample`.

Example:
    >>> import random
    >>> d = parse_distribution({"uniform": {"low": 0, "high": 1}}, "lr")
    >>> d == Uniform(0, 1), 0 <= d.sample(random.Random(1)) < 1
    (True, True)

A *space* maps hyperparameter names to distributions. A :class:`Choice`
may carry ``branches``: sub-spaces that exist only when it takes a given
value (``momentum`` only when ``optimizer`` is ``"sgd"``). Names are unique
across the whole space, branches included. :func:`sample_space` draws a
whole job's hyperparameters; :func:`space_from_unit` maps a point of the
unit cube (one coordinate per distribution of :func:`flatten_space`) to
one, which quasi-random and model-based searches use.

"""

from __future__ import annotations

import json
import math
import random as _random
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist
from typing import Any, ClassVar

from schedy._encoding import as_plain
from schedy._validate import check_names, exact_keys, finite_json, finite_number, shown, single_key
from schedy.errors import DefinitionError

__all__ = [
    "Choice",
    "Constant",
    "Distribution",
    "Integer",
    "LogUniform",
    "Normal",
    "Uniform",
    "FlatParam",
    "branch_key",
    "active",
    "check_space",
    "flatten_space",
    "names_mismatch",
    "parse_distribution",
    "parse_distributions",
    "sample_space",
    "space_from_unit",
    "space_mismatch",
]

#: How many standard deviations from its mean a normal draw may land (far beyond any real draw).
_NORMAL_REACH = 64.0

#: How deep branches may nest (a guard against pathological definitions).
MAX_DEPTH = 8


class Distribution(ABC):
    """A distribution of hyperparameter values.

    Subclasses name their wire form in ``wire_name`` and validate their
    parameters on construction, raising :class:`schedy.errors.DefinitionError`.
    """

    wire_name: ClassVar[str]

    @abstractmethod
    def sample(self, rng: _random.Random) -> Any:
        """Draw one value using ``rng``."""

    @abstractmethod
    def wire_args(self) -> Any:
        """The parameters of the wire form (the value under ``wire_name``)."""

    @classmethod
    @abstractmethod
    def from_wire_args(cls, args: Any, what: str) -> Distribution:
        """Build the distribution from its wire parameters, validating them."""

    def to_wire(self) -> dict[str, Any]:
        """The wire form, e.g. ``{"uniform": {"low": 0.0, "high": 1.0}}``."""
        return {self.wire_name: self.wire_args()}

    def bounds(self) -> tuple[float, float] | None:
        """The interval values fall in, if bounded (used by PBT's ``clip``)."""
        return None

    @abstractmethod
    def from_unit(self, u: float) -> Any:
        """The value at quantile ``u`` in ``[0, 1)`` (inverse CDF): how quasi-random points become values."""

    def grid_values(self) -> list[Any] | None:
        """Every value, when there are finitely many (grid search); ``None`` for a continuous distribution."""
        return None

    def grid_size(self) -> int | None:
        """How many values :meth:`grid_values` lists, computed without listing them; ``None`` if continuous.

        Example:
            >>> Integer(1, 10**12).grid_size()
            1000000000000

        """
        values = self.grid_values()
        return None if values is None else len(values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Distribution) and type(other) is type(self) and self.to_wire() == other.to_wire()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.wire_args()!r})"


class _Interval(Distribution):
    """Shared checks of the distributions with ``low`` and ``high``."""

    def __init__(self, low: float, high: float) -> None:
        what = f"Distribution '{self.wire_name}'"
        self.low = finite_number(low, f"{what} low")
        self.high = finite_number(high, f"{what} high")
        if not self.low < self.high:
            # Optuna's suggest_float(name, x, x) is a hyperparameter of one value: say how to write it here.
            one = f"; a hyperparameter of one value is Constant({low!r})" if self.low == self.high else ""
            raise DefinitionError(f"{what} needs low < high, got low={low!r}, high={high!r}{one}.")
        if not math.isfinite(self.high - self.low):
            raise DefinitionError(
                f"{what} spans more than a float can hold (high - low overflows), got low={low!r}, high={high!r}."
            )

    def wire_args(self) -> dict[str, float]:
        return {"low": self.low, "high": self.high}

    @classmethod
    def from_wire_args(cls, args: Any, what: str) -> Distribution:
        exact_keys(args, {"low", "high"}, set(), f"{what}: '{cls.wire_name}'")
        try:
            return cls(args["low"], args["high"])
        except DefinitionError as exc:
            raise DefinitionError(f"{what}: {exc}") from None

    def bounds(self) -> tuple[float, float]:
        return (self.low, self.high)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(low={self.low!r}, high={self.high!r})"


class Uniform(_Interval):
    """Uniform in ``[low, high)``; needs ``low < high``.

    With ``step``, the values are ``low, low + step, …, high`` (``high``
    included), each equally likely; ``high - low`` must be a multiple of
    ``step``. Without it, the wire form is the original client's.
    """

    wire_name = "uniform"

    def __init__(self, low: float, high: float, step: float | None = None) -> None:
        super().__init__(low, high)
        self.step: float | None = None
        if step is not None:
            self.step = finite_number(step, "Distribution 'uniform' step")
            if self.step <= 0:
                raise DefinitionError(f"Distribution 'uniform' needs step > 0, got step={step!r}.")
            count = (self.high - self.low) / self.step
            if count > 10**9:  # also an infinite count, which round() cannot take
                raise DefinitionError("Distribution 'uniform' has more than 10**9 steps; use a larger step.")
            if abs(count - round(count)) > 1e-9 * max(1.0, count):
                raise DefinitionError(
                    f"Distribution 'uniform' needs high - low to be a multiple of step, "
                    f"got low={low!r}, high={high!r}, step={step!r}."
                )
            if round(count) > 10**9:
                raise DefinitionError("Distribution 'uniform' has more than 10**9 steps; use a larger step.")

    def _steps(self) -> int:
        return 0 if self.step is None else round((self.high - self.low) / self.step)

    def at(self, k: int) -> float:
        """The ``k``-th value, ``low + k·step``, computed in decimal: 0.3, not 0.30000000000000004.

        The value a person writes for that step (and adds by hand, e.g. to a grid) is then the value
        handed out.
        """
        if self.step is None:
            return self.low
        exact = Decimal(repr(self.low)) + k * Decimal(repr(self.step))
        return min(float(exact), self.high)

    def sample(self, rng: _random.Random) -> float:
        if self.step is not None:
            return self.from_unit(rng.random())
        return self.low + (self.high - self.low) * rng.random()

    def from_unit(self, u: float) -> float:
        if self.step is None:
            return self.low + (self.high - self.low) * u
        n = self._steps()
        return self.at(min(int(u * (n + 1)), n))

    def grid_values(self) -> list[Any] | None:
        if self.step is None:
            return None
        return [self.at(k) for k in range(self._steps() + 1)]

    def grid_size(self) -> int | None:
        return None if self.step is None else self._steps() + 1

    def wire_args(self) -> dict[str, float]:
        args = super().wire_args()
        if self.step is not None:
            args["step"] = self.step
        return args

    @classmethod
    def from_wire_args(cls, args: Any, what: str) -> Distribution:
        exact_keys(args, {"low", "high"}, {"step"}, f"{what}: 'uniform'")
        try:
            return cls(args["low"], args["high"], args.get("step"))
        except DefinitionError as exc:
            raise DefinitionError(f"{what}: {exc}") from None

    def __repr__(self) -> str:
        step = "" if self.step is None else f", step={self.step!r}"
        return f"Uniform(low={self.low!r}, high={self.high!r}{step})"


class LogUniform(_Interval):
    """``log(value)`` uniform in ``[log low, log high)``; needs ``0 < low < high``.

    The usual prior for learning rates and regularisation weights.
    """

    wire_name = "loguniform"

    def __init__(self, low: float, high: float) -> None:
        super().__init__(low, high)
        if self.low <= 0:
            raise DefinitionError(f"Distribution 'loguniform' needs 0 < low, got low={low!r}.")

    def sample(self, rng: _random.Random) -> float:
        return self.from_unit(rng.random())

    def from_unit(self, u: float) -> float:
        log_low, log_high = math.log(self.low), math.log(self.high)
        return math.exp(log_low + (log_high - log_low) * u)


class Normal(Distribution):
    """Normal with mean ``mean`` and standard deviation ``std > 0``."""

    wire_name = "normal"

    def __init__(self, mean: float, std: float) -> None:
        self.mean = finite_number(mean, "Distribution 'normal' mean")
        self.std = finite_number(std, "Distribution 'normal' std")
        if self.std <= 0:
            raise DefinitionError(f"Distribution 'normal' needs std > 0, got std={std!r}.")
        if not math.isfinite(abs(self.mean) + _NORMAL_REACH * self.std):
            raise DefinitionError(
                f"Distribution 'normal' would draw values beyond a float's range; "
                f"keep |mean| + {_NORMAL_REACH:g}·std below 1.8e308, got mean={mean!r}, std={std!r}."
            )

    def sample(self, rng: _random.Random) -> float:
        return rng.gauss(self.mean, self.std)

    def from_unit(self, u: float) -> float:
        return NormalDist(self.mean, self.std).inv_cdf(min(max(u, 1e-12), 1 - 1e-12))

    def wire_args(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_wire_args(cls, args: Any, what: str) -> Distribution:
        exact_keys(args, {"mean", "std"}, set(), f"{what}: 'normal'")
        try:
            return cls(args["mean"], args["std"])
        except DefinitionError as exc:
            raise DefinitionError(f"{what}: {exc}") from None

    def __repr__(self) -> str:
        return f"Normal(mean={self.mean!r}, std={self.std!r})"


def branch_key(value: Any) -> str:
    """The key naming ``value`` in a :class:`Choice`'s ``branches``: a string itself, anything else its JSON.

    Example:
        >>> branch_key("sgd"), branch_key(True), branch_key(3)
        ('sgd', 'true', '3')

    """
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


class Choice(Distribution):
    """One of ``values`` (any JSON values), with optional ``weights`` and ``branches``.

    Weights, when given, are as many as the values, non-negative, finite and
    not all zero, with a finite sum; they need not sum to one.

    ``branches`` maps some of the values to a sub-space (hyperparameter name
    → distribution) that is sampled only when the choice takes that value:
    ``Choice(["sgd", "adam"], branches={"sgd": {"momentum": Uniform(0, 0.99)}})``.
    On the wire a branch is named by the value itself when it is a string,
    else by its JSON (``"true"``, ``"3"``): see :func:`branch_key`.
    """

    wire_name = "choice"

    def __init__(
        self,
        values: list[Any] | tuple[Any, ...],
        weights: list[float] | None = None,
        branches: Mapping[Any, Mapping[str, Distribution]] | None = None,
    ) -> None:
        values = as_plain(values)  # a numpy array: the list it holds
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            raise DefinitionError(f"Distribution 'choice' needs a non-empty list of values, got {values!r}.")
        # As the service keeps them: numpy values as plain ints and floats, sampled and handed out as such.
        self.values = list(finite_json(list(values), "Distribution 'choice' values"))
        self.weights: list[float] | None = None
        if weights is not None:
            if not isinstance(weights, (list, tuple)) or len(weights) != len(self.values):
                raise DefinitionError(
                    f"Distribution 'choice' needs one weight per value ({len(self.values)}), got {weights!r}."
                )
            checked = [finite_number(w, "Distribution 'choice' weight") for w in weights]
            if any(w < 0 for w in checked) or not any(w > 0 for w in checked):
                raise DefinitionError(
                    f"Distribution 'choice' needs non-negative weights, not all zero, got {weights!r}."
                )
            # Sampling divides by the total, summed as random.choices does (one addition at a time):
            # each weight finite is not enough, [1e308, 1e308] sums to infinity.
            total = 0.0
            for w in checked:
                total += w
            if not (math.isfinite(total) and math.isfinite(sum(checked))):
                raise DefinitionError(
                    f"Distribution 'choice' needs weights that sum to at most 1.8e308 (scale them down), "
                    f"got {shown(weights)}."
                )
            self.weights = checked
        self.branches: dict[str, dict[str, Distribution]] = {}
        if branches:
            if not isinstance(branches, Mapping):
                raise DefinitionError(f"Distribution 'choice' branches must map values to spaces, got {branches!r}.")
            keys = [branch_key(v) for v in self.values]
            if len(set(keys)) != len(keys):
                raise DefinitionError(
                    "Distribution 'choice' with branches needs values that are told apart by their names "
                    f"(a string and its JSON twin such as '1' and 1 cannot both be values), got {self.values!r}."
                )
            for value, space in branches.items():
                key = value if isinstance(value, str) else branch_key(as_plain(value))
                if key not in keys:
                    raise DefinitionError(
                        f"Distribution 'choice' has a branch {key!r} naming no value of the choice; "
                        f"its values are {', '.join(map(repr, keys))}."
                    )
                if not isinstance(space, Mapping) or not all(isinstance(d, Distribution) for d in space.values()):
                    raise DefinitionError(
                        f"Distribution 'choice' branch {key!r} must map hyperparameter names to distributions."
                    )
                if space:
                    self.branches[key] = {str(name): dist for name, dist in space.items()}

    def branch(self, value: Any) -> dict[str, Distribution]:
        """The sub-space active when the choice is ``value`` (empty if none)."""
        if not self.branches:
            return {}
        return self.branches.get(branch_key(value), {})

    def sample(self, rng: _random.Random) -> Any:
        if self.weights is None:
            return self.values[rng.randrange(len(self.values))]
        return rng.choices(self.values, weights=self.weights)[0]

    def from_unit(self, u: float) -> Any:
        if self.weights is None:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        target, total = u * sum(self.weights), 0.0
        for value, weight in zip(self.values, self.weights, strict=True):
            total += weight
            if target < total:
                return value
        return next(v for v, w in zip(reversed(self.values), reversed(self.weights), strict=True) if w > 0)

    def grid_values(self) -> list[Any] | None:
        return list(self.values)

    def grid_size(self) -> int | None:
        return len(self.values)

    def wire_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"values": list(self.values)}
        if self.weights is not None:
            args["weights"] = list(self.weights)
        if self.branches:
            args["branches"] = {
                key: {name: dist.to_wire() for name, dist in space.items()} for key, space in self.branches.items()
            }
        return args

    @classmethod
    def from_wire_args(cls, args: Any, what: str, depth: int = 0) -> Distribution:
        exact_keys(args, {"values"}, {"weights", "branches"}, f"{what}: 'choice'")
        branches_obj = args.get("branches")
        branches: dict[Any, dict[str, Distribution]] | None = None
        if branches_obj is not None:
            if not isinstance(branches_obj, dict):
                raise DefinitionError(f"{what}: 'choice' branches must be an object mapping values to spaces.")
            if depth >= MAX_DEPTH:
                raise DefinitionError(f"{what}: branches nest deeper than {MAX_DEPTH} levels.")
            branches = {
                key: _parse_space(space, f"{what}: 'choice' branch {key!r}", depth + 1)
                for key, space in branches_obj.items()
            }
        try:
            return cls(args["values"], args.get("weights"), branches)
        except DefinitionError as exc:
            raise DefinitionError(f"{what}: {exc}") from None

    def __repr__(self) -> str:
        branches = f", branches={self.branches!r}" if self.branches else ""
        return f"Choice(values={self.values!r}, weights={self.weights!r}{branches})"


class Constant(Distribution):
    """Always ``value`` (any JSON value)."""

    wire_name = "const"

    def __init__(self, value: Any) -> None:
        self.value = finite_json(value, "Distribution 'const'")

    def sample(self, rng: _random.Random) -> Any:
        return self.value

    def from_unit(self, u: float) -> Any:
        return self.value

    def grid_values(self) -> list[Any] | None:
        return [self.value]

    def wire_args(self) -> Any:
        return self.value

    @classmethod
    def from_wire_args(cls, args: Any, what: str) -> Distribution:
        try:
            return cls(args)
        except DefinitionError as exc:
            raise DefinitionError(f"{what}: {exc}") from None

    def __repr__(self) -> str:
        return f"Constant({self.value!r})"


class Integer(Distribution):
    """An integer in ``[low, high]`` (both included), every ``step``-th one from ``low``; optionally log-scaled.

    ``low`` and ``high`` are integers with ``low <= high``; ``high - low`` is
    a multiple of ``step`` (a positive integer). With ``log=True`` (needs
    ``0 < low`` and ``step == 1``), ``log(value)`` is about uniform: each
    integer ``k`` gets the share ``log(k + 1) - log(k)``.

    Example:
        >>> Integer(1, 9, step=2).grid_values()
        [1, 3, 5, 7, 9]

    """

    wire_name = "integer"

    def __init__(self, low: int, high: int, step: int = 1, log: bool = False) -> None:
        self.low = _integer(low, "Distribution 'integer' low")
        self.high = _integer(high, "Distribution 'integer' high")
        self.step = _integer(step, "Distribution 'integer' step")
        log = as_plain(log)  # numpy's bool_ too
        if not isinstance(log, bool):
            raise DefinitionError(f"Distribution 'integer' log must be true or false, got {log!r}.")
        self.log = log
        if self.low > self.high:
            raise DefinitionError(f"Distribution 'integer' needs low <= high, got low={low!r}, high={high!r}.")
        if self.step < 1:
            raise DefinitionError(f"Distribution 'integer' needs step >= 1, got step={step!r}.")
        if (self.high - self.low) % self.step:
            raise DefinitionError(
                f"Distribution 'integer' needs high - low to be a multiple of step, "
                f"got low={low!r}, high={high!r}, step={step!r}."
            )
        if log and self.low <= 0:
            raise DefinitionError(f"Distribution 'integer' with log needs 0 < low, got low={low!r}.")
        if log and self.step != 1:
            raise DefinitionError(f"Distribution 'integer' with log needs step 1, got step={step!r}.")

    def sample(self, rng: _random.Random) -> int:
        return self.from_unit(rng.random())

    def from_unit(self, u: float) -> int:
        if self.log:
            log_low, log_high = math.log(self.low), math.log(self.high + 1)
            value = math.floor(math.exp(log_low + (log_high - log_low) * u))
            return min(max(value, self.low), self.high)
        n = (self.high - self.low) // self.step
        return self.low + self.step * min(int(u * (n + 1)), n)

    def grid_values(self) -> list[Any] | None:
        return list(range(self.low, self.high + 1, self.step))

    def grid_size(self) -> int | None:
        return (self.high - self.low) // self.step + 1

    def bounds(self) -> tuple[float, float]:
        return (self.low, self.high)

    def wire_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.step != 1:
            args["step"] = self.step
        if self.log:
            args["log"] = True
        return args

    @classmethod
    def from_wire_args(cls, args: Any, what: str) -> Distribution:
        exact_keys(args, {"low", "high"}, {"step", "log"}, f"{what}: 'integer'")
        try:
            return cls(args["low"], args["high"], args.get("step", 1), args.get("log", False))
        except DefinitionError as exc:
            raise DefinitionError(f"{what}: {exc}") from None

    def __repr__(self) -> str:
        return f"Integer(low={self.low!r}, high={self.high!r}, step={self.step!r}, log={self.log!r})"


def _integer(value: Any, what: str) -> int:
    """An integer, or a float with an integral value (JSON numbers may arrive as ``3.0``); numpy's too."""
    plain = as_plain(value)
    if isinstance(plain, bool) or not isinstance(plain, (int, float)):
        raise DefinitionError(f"{what} must be an integer, got {shown(value)}.")
    if isinstance(plain, float) and not (math.isfinite(plain) and plain.is_integer()):
        raise DefinitionError(f"{what} must be an integer, got {shown(value)}.")
    number = int(plain)
    if abs(number) > 2**53:
        raise DefinitionError(f"{what} must be at most 2**53 in magnitude, got {value!r}.")
    return number


_BY_WIRE_NAME: dict[str, type[Distribution]] = {
    cls.wire_name: cls for cls in (Uniform, Normal, LogUniform, Choice, Constant, Integer)
}


def parse_distribution(obj: Any, hyperparameter: str, depth: int = 0) -> Distribution:
    """Parse and validate one distribution's wire form.

    Raises:
        schedy.errors.DefinitionError: naming ``hyperparameter`` and what is wrong.

    """
    what = f"Hyperparameter '{hyperparameter}'"
    name, args = single_key(obj, f"{what}: the distribution")
    cls = _BY_WIRE_NAME.get(name)
    if cls is None:
        known = ", ".join(sorted(_BY_WIRE_NAME))
        raise DefinitionError(f"{what}: unknown distribution '{name}'; use one of {known}.")
    if cls is Choice:
        return Choice.from_wire_args(args, what, depth)
    return cls.from_wire_args(args, what)


def _parse_space(obj: Any, what: str, depth: int) -> dict[str, Distribution]:
    if not isinstance(obj, dict):
        raise DefinitionError(f"{what} must be an object mapping hyperparameter names to distributions.")
    return {str(name): parse_distribution(dist, str(name), depth) for name, dist in obj.items()}


def parse_distributions(obj: Any, what: str) -> dict[str, Distribution]:
    """Parse an object mapping hyperparameter names to distributions (a space, branches included).

    Raises:
        schedy.errors.DefinitionError: a bad distribution, or a name used twice across branches.

    """
    space = _parse_space(obj, what, 0)
    flatten_space(space)  # names unique across branches
    return space


@dataclass(frozen=True)
class FlatParam:
    """One distribution of a space, with the condition that makes it exist.

    ``parent`` and ``keys``: the hyperparameter is present only when the
    choice ``parent`` took a value whose :func:`branch_key` is in ``keys``
    (and ``parent`` itself is present); ``None`` at the top level.
    """

    name: str
    dist: Distribution
    parent: str | None = None
    keys: frozenset[str] = frozenset()


def flatten_space(space: Mapping[str, Distribution]) -> list[FlatParam]:
    """Every distribution of ``space``, parents before their branches (depth first, in definition order).

    Raises:
        schedy.errors.DefinitionError: a hyperparameter name appears twice, or is empty.

    """
    out: list[FlatParam] = []
    seen: set[str] = set()

    def walk(sub: Mapping[str, Distribution], parent: str | None, keys: frozenset[str]) -> None:
        check_names(sub, "hyperparameter")  # a job's hyperparameters are refused with one (schedy.server.wire)
        for name, dist in sub.items():
            if name in seen:
                raise DefinitionError(
                    f"Hyperparameter '{name}' is defined twice in the space; names are shared by every branch, "
                    "so give each its own name."
                )
            seen.add(name)
            out.append(FlatParam(name, dist, parent, keys))
            if isinstance(dist, Choice):
                for key, branch in dist.branches.items():
                    walk(branch, name, frozenset({key}))

    walk(space, None, frozenset())
    return out


def sample_space(space: Mapping[str, Distribution], rng: _random.Random) -> dict[str, Any]:
    """Draw a job's hyperparameters: each distribution once, and the branches its choices select.

    Without branches, the draws are exactly ``{name: dist.sample(rng)}`` in order.
    """
    out: dict[str, Any] = {}

    def walk(sub: Mapping[str, Distribution]) -> None:
        for name, dist in sub.items():
            value = out[name] = dist.sample(rng)
            if isinstance(dist, Choice) and dist.branches:
                walk(dist.branch(value))

    walk(space)
    return out


def space_from_unit(flat: Sequence[FlatParam], point: Sequence[float]) -> dict[str, Any]:
    """The hyperparameters at ``point`` of the unit cube, one coordinate per entry of ``flat``.

    Coordinates of hyperparameters whose branch is not taken are ignored.
    """
    out: dict[str, Any] = {}
    for param, u in zip(flat, point, strict=True):
        if param.parent is not None and (param.parent not in out or branch_key(out[param.parent]) not in param.keys):
            continue
        out[param.name] = param.dist.from_unit(float(u))
    return out


def active(flat: Sequence[FlatParam], hyperparameters: Mapping[str, Any]) -> list[FlatParam]:
    """The entries of ``flat`` that exist given the choices in ``hyperparameters``."""
    present: set[str] = set()
    out = []
    for param in flat:
        if param.parent is not None and (
            param.parent not in present or branch_key(hyperparameters.get(param.parent)) not in param.keys
        ):
            continue
        present.add(param.name)
        out.append(param)
    return out


def names_mismatch(given: Collection[str], expected: Collection[str]) -> str | None:
    """How ``given`` names differ from ``expected`` (``missing 'a'; unknown 'b'``), ``None`` if they do not."""
    missing = sorted(set(expected) - set(given))
    extra = sorted(set(given) - set(expected))
    parts = []
    if missing:
        parts.append("missing " + ", ".join(map(repr, missing)))
    if extra:
        parts.append("unknown " + ", ".join(map(repr, extra)))
    return "; ".join(parts) or None


def space_mismatch(
    hyperparameters: Mapping[str, Any], space: Mapping[str, Distribution] | Sequence[FlatParam]
) -> str | None:
    """How ``hyperparameters`` differ from those ``space`` defines for their choices, ``None`` if they do not.

    ``space``: the distributions, or their :func:`flatten_space`. The missing and unknown names as
    :func:`names_mismatch` says them, except a name of a branch the hyperparameters' choice did not take: not
    unknown, it is said whose branch it belongs to (``'m' belongs to the branch opt = "sgd", and this job has
    opt = "adam"``).
    """
    flat = flatten_space(space) if isinstance(space, Mapping) else list(space)
    present = active(flat, hyperparameters)
    expected = {p.name for p in present}
    by_name = {p.name: p for p in flat}
    off_branch = sorted(n for n in hyperparameters if n not in expected and n in by_name)
    said = names_mismatch([n for n in hyperparameters if n not in off_branch], expected)
    parts = [] if said is None else [said]
    for name in off_branch:
        param = by_name[name]
        parent = str(param.parent)
        values = getattr(by_name[parent].dist, "values", ())
        taken = [json.dumps(v) for v in values if branch_key(v) in param.keys] or sorted(map(repr, param.keys))
        if parent in expected and parent in hyperparameters:
            here = f"this job has {parent} = {json.dumps(hyperparameters[parent], default=repr)}"
        elif parent in hyperparameters:
            here = f"{parent} is itself on a branch this job did not take"
        else:
            here = f"this job has no {parent}"
        parts.append(f"{name!r} belongs to the branch {parent} = {' or '.join(taken)}, and {here}")
    return "; ".join(parts) or None


def check_space(hyperparameters: Mapping[str, Any], space: Mapping[str, Distribution], what: str) -> None:
    """Refuse hyperparameters that are not exactly those ``space`` defines for the choices they make.

    Raises:
        schedy.errors.DefinitionError: the missing and unknown names, in one sentence.

    """
    mismatch = space_mismatch(hyperparameters, space)
    if mismatch is not None:
        raise DefinitionError(f"{what} needs exactly the hyperparameters of its distributions: {mismatch}.")
