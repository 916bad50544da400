"""LightGBM: report an evaluation metric every boosting round (``pip install './[lightgbm]'`` from a checkout).

Example::

    from schedy.integrations.lightgbm import schedy_callback

    with exp.next_job() as job:
        booster = lgb.train(
            {"learning_rate": job.hyperparameters["lr"], "metric": "binary_logloss", "verbose": -1},
            train_set,
            num_boost_round=200,
            valid_sets=[valid_set],
            valid_names=["valid"],
            callbacks=[schedy_callback(job, "valid-binary_logloss", checkpoint="model.txt", checkpoint_every=20)],
        )
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from schedy.integrations._monitor import Monitor, missing_metric

if TYPE_CHECKING:
    from schedy._jobs import Job

__all__ = ["SchedyCallback", "schedy_callback"]


class SchedyCallback:
    """A LightGBM callback reporting ``monitor`` (``"DATA-METRIC"``, e.g. ``"valid-l2"``) every round.

    The step is the round (0-based; a resumed booster counts on from the
    rounds it has). Raises :class:`schedy.errors.JobPruned` out of
    ``lgb.train`` when the service says stop. With ``checkpoint``, the
    booster is saved (text format) every ``checkpoint_every`` rounds as that
    artifact; resume with ``lgb.train(..., init_model=load_checkpoint(job,
    "model.txt"))`` (``None``, a first attempt, starts from scratch), and
    ``num_boost_round`` reduced by the rounds the checkpoint has (LightGBM
    trains that many *more*). With
    ``report_every=SECONDS``, the rounds' values are sent together at most
    every that many seconds (for rounds of a few milliseconds, where a round
    trip each would slow training; a stop then comes with the next send).
    """

    order = 30  # after LightGBM's own logging and recording callbacks
    before_iteration = False

    def __init__(
        self,
        job: Job,
        monitor: str,
        *,
        checkpoint: str | None = None,
        checkpoint_every: int = 1,
        report_every: float = 0.0,
    ) -> None:
        self._monitor = Monitor(job, monitor, checkpoint, checkpoint_every, report_every)

    def __call__(self, env: Any) -> None:
        """Report this round's value; checkpoint; raise JobPruned when told to stop."""
        wanted = self._monitor.monitor
        value = None
        for item in env.evaluation_result_list or ():
            data, metric, result = item[0], item[1], item[2]
            if f"{data}-{metric}" == wanted or (data == "cv_agg" and f"valid-{metric}" == wanted):
                value = float(result)
                break
        else:
            raise missing_metric(wanted, [f"{item[0]}-{item[1]}" for item in env.evaluation_result_list or ()])
        self._monitor.maybe_checkpoint(env.iteration, lambda path: env.model.save_model(str(path)))
        if self._monitor.report(env.iteration, value):
            raise self._monitor.pruned()


def schedy_callback(
    job: Job, monitor: str, *, checkpoint: str | None = None, checkpoint_every: int = 1, report_every: float = 0.0
) -> SchedyCallback:
    """The callback, named like LightGBM's own (``lgb.early_stopping``, ``lgb.log_evaluation``)."""
    return SchedyCallback(
        job, monitor, checkpoint=checkpoint, checkpoint_every=checkpoint_every, report_every=report_every
    )
