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

"""

from __future__ import annotations

import math
import random as _random
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from schedy._validate import exact_keys, finite_number, single_key
from schedy.errors import DefinitionError

__all__ = [
    "Choice",
    "Constant",
    "Distribution",
    "LogUniform",
    "Normal",
    "Uniform",
    "parse_distribution",
    "parse_distributions",
]


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
            raise DefinitionError(f"{what} needs low < high, got low={low!r}, high={high!r}.")

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
    """Uniform in ``[low, high)``; needs ``low < high``."""

    wire_name = "uniform"

    def sample(self, rng: _random.Random) -> float:
        return self.low + (self.high - self.low) * rng.random()


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
        log_low, log_high = math.log(self.low), math.log(self.high)
        return math.exp(log_low + (log_high - log_low) * rng.random())


class Normal(Distribution):
    """Normal with mean ``mean`` and standard deviation ``std > 0``."""

    wire_name = "normal"

    def __init__(self, mean: float, std: float) -> None:
        self.mean = finite_number(mean, "Distribution 'normal' mean")
        self.std = finite_number(std, "Distribution 'normal' std")
        if self.std <= 0:
            raise DefinitionError(f"Distribution 'normal' needs std > 0, got std={std!r}.")

    def sample(self, rng: _random.Random) -> float:
        return rng.gauss(self.mean, self.std)

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


class Choice(Distribution):
    """One of ``values`` (any JSON values), with optional ``weights``.

    Weights, when given, are as many as the values, non-negative, finite and
    not all zero; they need not sum to one.
    """

    wire_name = "choice"

    def __init__(self, values: list[Any] | tuple[Any, ...], weights: list[float] | None = None) -> None:
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            raise DefinitionError(f"Distribution 'choice' needs a non-empty list of values, got {values!r}.")
        self.values = list(values)
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
            self.weights = checked

    def sample(self, rng: _random.Random) -> Any:
        if self.weights is None:
            return self.values[rng.randrange(len(self.values))]
        return rng.choices(self.values, weights=self.weights)[0]

    def wire_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"values": list(self.values)}
        if self.weights is not None:
            args["weights"] = list(self.weights)
        return args

    @classmethod
    def from_wire_args(cls, args: Any, what: str) -> Distribution:
        exact_keys(args, {"values"}, {"weights"}, f"{what}: 'choice'")
        try:
            return cls(args["values"], args.get("weights"))
        except DefinitionError as exc:
            raise DefinitionError(f"{what}: {exc}") from None

    def __repr__(self) -> str:
        return f"Choice(values={self.values!r}, weights={self.weights!r})"


class Constant(Distribution):
    """Always ``value`` (any JSON value)."""

    wire_name = "const"

    def __init__(self, value: Any) -> None:
        self.value = value

    def sample(self, rng: _random.Random) -> Any:
        return self.value

    def wire_args(self) -> Any:
        return self.value

    @classmethod
    def from_wire_args(cls, args: Any, what: str) -> Distribution:
        return cls(args)

    def __repr__(self) -> str:
        return f"Constant({self.value!r})"


_BY_WIRE_NAME: dict[str, type[Distribution]] = {
    cls.wire_name: cls for cls in (Uniform, Normal, LogUniform, Choice, Constant)
}


def parse_distribution(obj: Any, hyperparameter: str) -> Distribution:
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
    return cls.from_wire_args(args, what)


def parse_distributions(obj: Any, what: str) -> dict[str, Distribution]:
    """Parse an object mapping hyperparameter names to distributions."""
    if not isinstance(obj, dict):
        raise DefinitionError(f"{what} must be an object mapping hyperparameter names to distributions.")
    return {str(name): parse_distribution(dist, str(name)) for name, dist in obj.items()}
