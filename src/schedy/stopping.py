"""Early-stopping policies: the service stops jobs that are not worth finishing.

Attach one to a search with ``early_stopping=``; workers send intermediate
values with :meth:`schedy.Job.report`, which returns ``True`` when the job
should stop (then raise :class:`schedy.errors.JobPruned` inside ``with
job:``)::

    exp = schedy.RandomSearch(
        "mnist",
        {"lr": LogUniform(1e-4, 1e-1)},
        early_stopping=schedy.stopping.ASHA("val_loss", "min", min_step=1, reduction_factor=3),
    )
    db.add_experiment(exp)
    for job in exp.jobs():
        with job:
            for epoch in range(1, 28):
                job.results["val_loss"] = loss = train_one_epoch(**job.hyperparameters)
                if job.report(epoch, val_loss=loss):
                    raise schedy.errors.JobPruned()

The decision is made by the service, once per report, for every worker and
service process alike. ``objective`` is ``"min"`` or ``"max"``; NaN, ±inf
and a missing metric rank worst. The rules, their defaults and what many
workers change: docs/early-stopping.md.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from schedy.errors import DefinitionError

__all__ = ["ASHA", "Hyperband", "Median", "StoppingPolicy", "check_objective", "parse_policy", "policy_from_wire"]


def _objective(result_name: Any, objective: Any, what: str) -> None:
    if not isinstance(result_name, str) or not result_name:
        raise DefinitionError(f"{what} needs result_name, the name of the reported metric it watches.")
    if objective not in ("min", "max"):
        raise DefinitionError(f'{what} needs objective "min" or "max", not {objective!r}.')


def _integer(value: Any, name: str, minimum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DefinitionError(f"{what}'s {name} must be an integer of at least {minimum}, not {value!r}.")
    return value


class StoppingPolicy(ABC):
    """Base class of the policies below."""

    #: The wire key of the policy (``{"earlyStopping": {key: {...}}}``).
    wire_name: ClassVar[str]
    #: The reported metric the policy watches.
    result_name: str
    #: ``"min"`` or ``"max"``: whether lower or higher values of it are better.
    objective: str

    #: Its wire parameters → the constructor's arguments (the service's names, the same defaults).
    _wire_args: ClassVar[dict[str, str]]
    #: Wire parameters that must be given (besides ``resultName`` and ``objective``), and what each is.
    _wire_required: ClassVar[dict[str, str]] = {}
    #: Defaults the service takes where the constructor has none.
    _wire_defaults: ClassVar[dict[str, Any]] = {}

    @abstractmethod
    def _params(self) -> dict[str, Any]: ...

    @classmethod
    def from_wire(cls, params: Any) -> StoppingPolicy:
        """The policy of its wire parameters; those left out take the service's defaults.

        Raises:
            schedy.errors.DefinitionError: not an object, an unknown or missing parameter (named), or a bad value.

        Example:
            >>> ASHA.from_wire({"resultName": "loss", "objective": "min"})
            ASHA({'resultName': 'loss', 'objective': 'min', 'minStep': 1, 'reductionFactor': 3, 'maxStep': None})

        """
        what = cls.__name__
        if not isinstance(params, dict):
            raise DefinitionError(f'{what} takes an object, e.g. {{"resultName": "loss", "objective": "min"}}.')
        unknown = [key for key in params if key not in cls._wire_args]
        if unknown:
            raise DefinitionError(
                f"Unknown {what} option(s) {', '.join(map(repr, unknown))}; use {', '.join(cls._wire_args)}."
            )
        required = {
            "resultName": "the name of the reported metric it watches",
            "objective": '"min" or "max"',
            **cls._wire_required,
        }
        for key, meaning in required.items():
            if params.get(key) is None:
                raise DefinitionError(f"{what} needs {key}, {meaning}.")
        given = {**cls._wire_defaults, **params}
        return cls(**{cls._wire_args[key]: value for key, value in given.items()})

    def to_wire(self) -> dict[str, Any]:
        """The ``earlyStopping`` option of the experiment JSON."""
        return {self.wire_name: self._params()}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_wire() == other.to_wire()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params()!r})"


class Median(StoppingPolicy):
    """The median stopping rule (Golovin et al., Vizier, KDD 2017).

    A job is stopped at step ``s`` when its best value so far is worse than
    the median of the other jobs' running averages at ``s``, once
    ``min_jobs`` other jobs have reported at ``s`` and ``s ≥ warmup_steps``.
    ``compare="value"`` takes the median of their values at ``s`` instead,
    as Optuna's ``MedianPruner`` does: stricter for curves that improve
    (an average trails the value), so it stops more and sooner.

    Example:
        >>> Median("loss", "min", warmup_steps=2).to_wire()
        {'median': {'resultName': 'loss', 'objective': 'min', 'warmupSteps': 2, 'minJobs': 5}}

    """

    wire_name = "median"
    _wire_args: ClassVar[dict[str, str]] = {
        "resultName": "result_name",
        "objective": "objective",
        "warmupSteps": "warmup_steps",
        "minJobs": "min_jobs",
        "compare": "compare",
    }

    def __init__(
        self, result_name: str, objective: str, warmup_steps: int = 0, min_jobs: int = 5, compare: str = "average"
    ) -> None:
        _objective(result_name, objective, "Median")
        self.result_name, self.objective = result_name, objective
        self.warmup_steps = _integer(warmup_steps, "warmup_steps", 0, "Median")
        self.min_jobs = _integer(min_jobs, "min_jobs", 1, "Median")
        if compare not in ("average", "value"):
            raise DefinitionError(
                "Median's compare must be \"average\" (the other jobs' running averages, Vizier's rule) "
                f'or "value" (their values at the step, as Optuna\'s MedianPruner), not {compare!r}.'
            )
        self.compare = compare

    def _params(self) -> dict[str, Any]:
        params = {
            "resultName": self.result_name,
            "objective": self.objective,
            "warmupSteps": self.warmup_steps,
            "minJobs": self.min_jobs,
        }
        if self.compare != "average":  # the default is left out: a service from before the option accepts it
            params["compare"] = self.compare
        return params


class ASHA(StoppingPolicy):
    """Asynchronous successive halving (Li et al., MLSys 2020).

    Rungs at ``min_step · reduction_factor^k`` (up to ``max_step``); a job
    reaching a rung goes on only if its value is in the best
    ``1/reduction_factor`` of the jobs that reached that rung so far.
    Nobody waits for a rung to fill.

    Example:
        >>> ASHA("acc", "max", min_step=1, reduction_factor=3).to_wire()["asha"]["reductionFactor"]
        3

    """

    wire_name = "asha"
    _wire_args: ClassVar[dict[str, str]] = {
        "resultName": "result_name",
        "objective": "objective",
        "minStep": "min_step",
        "reductionFactor": "reduction_factor",
        "maxStep": "max_step",
    }

    def __init__(
        self,
        result_name: str,
        objective: str,
        min_step: int = 1,
        reduction_factor: int = 3,
        max_step: int | None = None,
    ) -> None:
        _objective(result_name, objective, "ASHA")
        self.result_name, self.objective = result_name, objective
        self.min_step = _integer(min_step, "min_step", 1, "ASHA")
        self.reduction_factor = _integer(reduction_factor, "reduction_factor", 2, "ASHA")
        self.max_step = None if max_step is None else _integer(max_step, "max_step", self.min_step, "ASHA")

    def _params(self) -> dict[str, Any]:
        return {
            "resultName": self.result_name,
            "objective": self.objective,
            "minStep": self.min_step,
            "reductionFactor": self.reduction_factor,
            "maxStep": self.max_step,
        }


class Hyperband(ASHA):
    """Hyperband (Li et al., JMLR 2018) as brackets of asynchronous successive halving.

    Brackets start their rungs at ``min_step · reduction_factor^b``, from the
    most aggressive (``b = 0``) to one that never stops; each new job is
    assigned a bracket by Hyperband's budget rule.

    Example:
        >>> Hyperband("loss", "min", min_step=1, max_step=27).to_wire()["hyperband"]["maxStep"]
        27

    """

    wire_name = "hyperband"
    _wire_required: ClassVar[dict[str, str]] = {"maxStep": "the step at which a job has had its full budget"}
    _wire_defaults: ClassVar[dict[str, Any]] = {"minStep": 1}

    def __init__(
        self, result_name: str, objective: str, min_step: int, max_step: int, reduction_factor: int = 3
    ) -> None:
        _objective(result_name, objective, "Hyperband")
        self.result_name, self.objective = result_name, objective
        self.min_step = _integer(min_step, "min_step", 1, "Hyperband")
        self.max_step = _integer(max_step, "max_step", self.min_step, "Hyperband")
        self.reduction_factor = _integer(reduction_factor, "reduction_factor", 2, "Hyperband")


_POLICIES: dict[str, type[StoppingPolicy]] = {cls.wire_name: cls for cls in (Median, ASHA, Hyperband)}


def policy_from_wire(wire: Any) -> StoppingPolicy:
    """The policy of an ``earlyStopping`` option, parsed as the service parses it (same defaults).

    Raises:
        schedy.errors.DefinitionError: in one sentence, the unknown policy or the missing, unknown or bad
            parameter.

    Example:
        >>> policy_from_wire({"median": {"resultName": "loss", "objective": "min", "compare": "value"}})
        Median({'resultName': 'loss', 'objective': 'min', 'warmupSteps': 0, 'minJobs': 5, 'compare': 'value'})

    """
    if not isinstance(wire, dict) or len(wire) != 1:
        raise DefinitionError(
            'earlyStopping must be an object with one key, the policy, e.g. {"asha": {"resultName": "loss", '
            '"objective": "min"}}.'
        )
    ((name, params),) = wire.items()
    cls = _POLICIES.get(name)
    if cls is None:
        raise DefinitionError(f"Unknown early-stopping policy {name!r}; use one of {', '.join(sorted(_POLICIES))}.")
    return cls.from_wire(params)


def parse_policy(wire: Any) -> StoppingPolicy | None:
    """The policy of an ``earlyStopping`` option as the service stores it.

    ``None`` if absent, or one this client cannot read (a newer service's); :func:`policy_from_wire` says why.
    """
    if wire is None:
        return None
    try:
        return policy_from_wire(wire)
    except DefinitionError:
        return None


def check_objective(policy: StoppingPolicy | None, target: tuple[str, str] | None, search: str) -> None:
    """Refuse a policy that ranks the search's own result the other way, as the service does.

    ``target`` is the ``(result name, "min" or "max")`` the search ranks
    jobs by (a TPE or PBT search's; ``None`` for the others), ``search``
    its name in the message. A policy watching another result may rank it
    either way.

    Raises:
        schedy.errors.DefinitionError: the policy would maximise what the search minimises, or the opposite.

    """
    if policy is None or target is None:
        return
    result, objective = target
    if policy.result_name == result and policy.objective != objective:
        raise DefinitionError(
            f"The {policy.wire_name} policy would {policy.objective}imise {result!r}, which this {search} "
            f"{objective}imises: use the same objective."
        )
