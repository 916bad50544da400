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

    The step is the round (0-based; a resumed booster counts on from the
    rounds it has). Raises :class:`schedy.errors.JobPruned` out of
    ``xgb.train`` when the service says stop. With ``checkpoint``, the
    booster is saved every ``checkpoint_every`` rounds as that artifact (a
    ``.json`` or ``.ubj`` name picks the format; not with ``xgb.cv``, which
    trains one booster per fold: refused before the first round); resume
    with ``xgb_model=`` the booster of ``load_checkpoint(job,
    "model.json")``, and ``num_boost_round`` reduced by the rounds it has
    (xgboost trains that many *more*). With
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
        self._start = 0

    def before_training(self, model: Any) -> Any:
        """Count on from the rounds a resumed booster has; refuse a checkpoint of ``xgb.cv``'s folds."""
        if self._monitor.checkpoint and not isinstance(model, xgb.Booster):
            raise ValueError(
                f"checkpoint={self._monitor.checkpoint!r} saves a booster, and xgb.cv trains one per fold: "
                "leave checkpoint out with xgb.cv (its reports, the folds' mean, are sent as usual)."
            )
        # xgboost numbers the rounds of a continued training from 0 again (its EarlyStopping adds them too).
        self._start = model.num_boosted_rounds()
        return model

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
        step = self._start + epoch
        self._monitor.maybe_checkpoint(step, lambda path: model.save_model(str(path)))
        if self._monitor.report(step, self._value(evals_log)):
            raise self._monitor.pruned()
        return False
