"""XGBoost: report an evaluation metric every boosting round (``pip install './[xgboost]'`` from a checkout).

Example::

    from schedy.integrations.xgboost import SchedyCallback

    with exp.next_job() as job:
        booster = xgb.train(
            {"eta": job.hyperparameters["eta"], "eval_metric": "logloss"},
            dtrain,
            num_boost_round=200,
            evals=[(dvalid, "validation")],
            callbacks=[SchedyCallback(job, "validation-logloss", checkpoint="model.json", checkpoint_every=20)],
        )
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import xgboost as xgb

from schedy.integrations._monitor import Monitor, missing_metric

if TYPE_CHECKING:
    from schedy._jobs import Job

__all__ = ["SchedyCallback"]


class SchedyCallback(xgb.callback.TrainingCallback):
    """Report ``monitor`` (``"DATA-METRIC"``, e.g. ``"validation-logloss"``) after every round.

    The step is the round (0-based; a resumed booster counts on). Raises
    :class:`schedy.errors.JobPruned` out of ``xgb.train`` when the service
    says stop. With ``checkpoint``, the booster is saved every
    ``checkpoint_every`` rounds as that artifact (a ``.json`` or ``.ubj``
    name picks the format); resume with ``xgb.train(...,
    xgb_model=str(load_checkpoint(job, "model.json")))``. With
    ``report_every=SECONDS``, the rounds' values are sent together at most
    every that many seconds (for rounds of a few milliseconds, where a round
    trip each would slow training; a stop then comes with the next send).
    """

    def __init__(
        self,
        job: Job,
        monitor: str,
        *,
        checkpoint: str | None = None,
        checkpoint_every: int = 1,
        report_every: float = 0.0,
    ) -> None:
        super().__init__()
        self._monitor = Monitor(job, monitor, checkpoint, checkpoint_every, report_every)

    def _value(self, evals_log: dict[str, dict[str, Any]]) -> float:
        wanted = self._monitor.monitor
        for data, metrics in evals_log.items():
            if wanted.startswith(data + "-") and wanted[len(data) + 1 :] in metrics:
                last = metrics[wanted[len(data) + 1 :]][-1]
                return float(last[0] if isinstance(last, tuple) else last)  # cv logs (mean, std)
        available = [f"{data}-{metric}" for data, metrics in evals_log.items() for metric in metrics]
        raise missing_metric(wanted, available)

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, Any]]) -> bool:
        """Report this round's value; checkpoint; raise JobPruned when told to stop."""
        self._monitor.maybe_checkpoint(epoch, lambda path: model.save_model(str(path)))
        if self._monitor.report(epoch, self._value(evals_log)):
            raise self._monitor.pruned()
        return False
