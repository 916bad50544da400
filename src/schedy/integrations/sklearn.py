"""scikit-learn: cross-validation reporting fold by fold, and a search estimator (``pip install './[sklearn]'``).

A job's cross-validation is its training: :func:`cross_validate` fits and
scores the estimator with the job's hyperparameters fold after fold and
reports the mean score so far after each one (the step is the number of
folds scored), so an early-stopping policy stops a hopeless configuration
after its first folds instead of its last. Example::

    from schedy.integrations.sklearn import cross_validate

    for job in exp.jobs(max_jobs=50):
        with job:  # a stop from the service ends the job PRUNED, and the loop goes on
            cross_validate(job, make_pipeline(StandardScaler(), SVC()), X, y, cv=5,
                           param_map={"C": "svc__C", "gamma": "svc__gamma"})

:class:`SchedySearchCV` is the same loop in the shape of ``GridSearchCV``,
for code written around one: ``fit`` works through jobs of the experiment
(any number of processes may run it at once on the same experiment: each
is a worker of the one search), then refits the best configuration found
by all of them::

    search = SchedySearchCV(SVC(), exp, cv=5, max_jobs=50).fit(X_train, y_train)
    search.best_params_, search.best_score_, search.score(X_test, y_test)

Scores are scikit-learn's, greater is better (``neg_log_loss`` is minus the
loss): the search maximises them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.model_selection import check_cv
from sklearn.model_selection import cross_validate as sklearn_cross_validate
from sklearn.utils.validation import check_is_fitted

from schedy._experiments import RandomSearch, TPESearch
from schedy.errors import JobPruned

if TYPE_CHECKING:
    from schedy._experiments import Experiment
    from schedy._jobs import Job

__all__ = ["SchedySearchCV", "cross_validate", "cv_results", "estimator_params"]

#: The result a score is kept under when the experiment declares no objective.
DEFAULT_RESULT = "score"

Params = Mapping[str, str] | Iterable[str] | None


def _result_name(exp: Experiment, result: str | None) -> str:
    """The result to keep the score under; refuses a search that minimises it."""
    declared = exp.declared_objective()
    name = result or (declared[0] if declared is not None else DEFAULT_RESULT)
    if declared is not None and declared[0] == name and declared[1] == "min":
        raise ValueError(
            f"Experiment '{exp.name}' minimises {name!r}, but scikit-learn scores are greater-is-better "
            f"(neg_log_loss is minus the loss): declare the search's objective as max {name!r}."
        )
    return name


def estimator_params(estimator: Any, hyperparameters: Mapping[str, Any], param_map: Params = None) -> dict[str, Any]:
    """The estimator's parameters a job's hyperparameters set.

    Args:
        estimator: the scikit-learn estimator.
        hyperparameters: the job's.
        param_map: ``None``: every hyperparameter, under its own name; names:
            those hyperparameters only; a mapping: hyperparameter → the
            estimator's parameter (e.g. ``{"C": "svc__C"}`` in a pipeline).

    Raises:
        ValueError: a parameter the estimator does not have (naming those it has).

    """
    if param_map is None:
        chosen = {name: name for name in hyperparameters}
    elif isinstance(param_map, Mapping):
        chosen = dict(param_map)
    else:
        chosen = {name: name for name in param_map}
    valid = estimator.get_params(deep=True)
    out: dict[str, Any] = {}
    for hyperparameter, parameter in chosen.items():
        if hyperparameter not in hyperparameters:
            continue  # a conditional hyperparameter absent from this job: the estimator's default
        if parameter not in valid:
            known = ", ".join(sorted(valid)[:12]) + (", …" if len(valid) > 12 else "")
            raise ValueError(
                f"Hyperparameter {hyperparameter!r} sets {parameter!r}, which {type(estimator).__name__} does not "
                f"have (it has {known}); choose with param_map=, e.g. param_map={{{hyperparameter!r}: 'step__name'}}."
            )
        out[parameter] = hyperparameters[hyperparameter]
    return out


def cross_validate(
    job: Job,
    estimator: Any,
    X: Any,
    y: Any = None,
    *,
    cv: Any = 5,
    scoring: Any = None,
    result: str | None = None,
    param_map: Params = None,
    groups: Any = None,
) -> float:
    """Fit and score ``estimator`` set to the job's hyperparameters, fold by fold, reporting the mean so far.

    After each fold the job reports ``{result: mean of the folds scored}``
    at step = the number of folds scored. When the service says stop,
    :class:`~schedy.errors.JobPruned` is raised (``with job:`` ends the job
    PRUNED) after the results below are set for the folds scored.

    Args:
        job: a RUNNING job, inside ``with job:``.
        estimator: a scikit-learn estimator; a clone is fitted, not it.
        X: the data (anything scikit-learn accepts).
        y: the targets.
        cv: an int (folds; stratified for a classifier, as scikit-learn
            picks), a splitter, or an iterable of (train, test) indices.
        scoring: a scorer name or callable (default: the estimator's
            ``score``).
        result: the result and reported metric's name (default: the
            experiment's declared objective, else ``"score"``).
        param_map: which hyperparameters set which estimator parameters (see
            :func:`estimator_params`).
        groups: group labels for a group splitter.

    Returns:
        The mean score over the folds. ``job.results`` gets it under
        ``result``, with ``result + "_std"`` and each fold's score under
        ``result + "_folds"``.

    Raises:
        ValueError: a hyperparameter sets no parameter of the estimator,
            the experiment minimises ``result``, or ``scoring`` names
            several scores.
        schedy.errors.JobPruned: the service said stop.

    """
    if isinstance(scoring, (dict, list, tuple, set)):
        raise ValueError(
            "cross_validate ranks a job by one score: give scoring one scorer (a name or a callable), "
            f"not {len(scoring)}; compute the others after the search on its best configuration."
        )
    name = _result_name(job.experiment, result)
    model = clone(estimator).set_params(**estimator_params(estimator, job.hyperparameters, param_map))
    splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    scores: list[float] = []
    for fold, split in enumerate(splitter.split(X, y, groups), start=1):
        scored = sklearn_cross_validate(model, X, y, groups=groups, cv=[split], scoring=scoring, error_score="raise")
        scores.append(float(scored["test_score"][0]))
        _keep(job, name, scores)
        if job.report(fold, **{name: job.results[name]}):
            mean = job.results[name]
            raise JobPruned(f"Pruned after fold {fold} ({name} = {mean:g}).")
    return float(job.results[name])


def _keep(job: Job, name: str, scores: list[float]) -> None:
    finite = [s for s in scores if math.isfinite(s)]
    job.results[name] = float(np.mean(scores)) if len(finite) == len(scores) else math.nan
    job.results[f"{name}_std"] = float(np.std(scores)) if len(finite) == len(scores) else math.nan
    job.results[f"{name}_folds"] = list(scores)


def cv_results(exp: Experiment, result: str = DEFAULT_RESULT) -> dict[str, Any]:
    """The search's cross-validated jobs in ``GridSearchCV.cv_results_``'s layout (``pandas.DataFrame(...)`` reads it).

    One entry per DONE or PRUNED job with fold scores (every worker's, in
    the order they were created): ``params``, ``param_NAME`` (``None``
    where a job has no such hyperparameter), ``splitK_test_score`` (NaN for
    a fold a stopped job never reached), ``mean_test_score`` and
    ``std_test_score`` over the folds scored, ``rank_test_score`` (1 is
    best; a PRUNED job ranks after every DONE one, as TPE ranks them), and
    Schedy's ``job_id`` and ``status``.
    """
    jobs = [
        job
        for job in exp.all_jobs()
        if job.status in ("DONE", "PRUNED") and isinstance(job.results.get(f"{result}_folds"), list)
    ]
    folds = max((len(job.results[f"{result}_folds"]) for job in jobs), default=0)
    names = sorted({name for job in jobs for name in job.hyperparameters})
    out: dict[str, Any] = {
        "job_id": [job.job_id for job in jobs],
        "status": [job.status for job in jobs],
        "params": [dict(job.hyperparameters) for job in jobs],
    }
    for name in names:
        out[f"param_{name}"] = [job.hyperparameters.get(name) for job in jobs]
    scores = np.full((len(jobs), folds), np.nan)
    for row, job in enumerate(jobs):
        scored = [float(value) for value in job.results[f"{result}_folds"]]
        scores[row, : len(scored)] = scored
    for fold in range(folds):
        out[f"split{fold}_test_score"] = scores[:, fold]
    with np.errstate(all="ignore"):
        mean = np.array([np.nanmean(row) if np.isfinite(row).any() else np.nan for row in scores])
        std = np.array([np.nanstd(row) if np.isfinite(row).any() else np.nan for row in scores])
    out["mean_test_score"], out["std_test_score"] = mean, std
    # DONE before PRUNED, then by mean score (best first); NaN last; ties share a rank, as scikit-learn's.
    keys = [(job.status != "DONE", -m if math.isfinite(m) else math.inf) for job, m in zip(jobs, mean, strict=True)]
    ranks = np.empty(len(jobs), dtype=np.int32)
    rank, last = 0, None
    for position, index in enumerate(sorted(range(len(jobs)), key=keys.__getitem__)):
        if keys[index] != last:
            rank, last = position + 1, keys[index]
        ranks[index] = rank
    out["rank_test_score"] = ranks
    return out


def _work(
    exp: Experiment,
    estimator: Any,
    X: Any,
    y: Any,
    options: dict[str, Any],
    max_jobs: int | None,
    max_time: float | None,
) -> int:
    """One worker's loop of :class:`SchedySearchCV` (in this process or a joblib one); how many jobs it ran."""
    ran = 0
    for job in exp.jobs(max_jobs=max_jobs, max_time=max_time):
        with job:  # a stop ends the job PRUNED, and the loop goes on
            cross_validate(job, estimator, X, y, **options)
        ran += 1
    return ran


class SchedySearchCV(MetaEstimatorMixin, BaseEstimator):  # type: ignore[misc]
    """A hyperparameter search estimator over a Schedy experiment, in the shape of ``GridSearchCV``.

    ``fit`` is a worker loop: it claims jobs of ``experiment`` and
    cross-validates each (:func:`cross_validate`), until ``max_jobs`` jobs
    or ``max_time`` seconds (or the search is over); other processes may
    work on the same experiment meanwhile. Then it takes the best DONE job
    of the whole search (``best_job_``, ``best_params_``, ``best_score_``;
    every scored job in ``cv_results_``, see :func:`cv_results`) and, with
    ``refit``, fits the estimator so set on all of ``X``
    (``best_estimator_``), which ``predict``, ``score`` and the others use.

    Args:
        estimator: the scikit-learn estimator to tune.
        experiment: the experiment (bound to a :class:`schedy.SchedyDB`)
            whose hyperparameters set the estimator's.
        cv: as for :func:`cross_validate`.
        scoring: as for :func:`cross_validate`.
        result: as for :func:`cross_validate`.
        param_map: as for :func:`cross_validate`.
        max_jobs: jobs this ``fit`` runs at most (shared by its workers).
        max_time: seconds after which ``fit`` claims no new job.
        refit: fit the best configuration on all the data.
        n_workers: worker processes this ``fit`` runs side by side
            (scikit-learn's ``n_jobs``, through joblib: ``-1`` is one per
            core); each claims jobs of its own. Default 1, in this process.

    """

    def __init__(
        self,
        estimator: Any,
        experiment: Experiment,
        *,
        cv: Any = 5,
        scoring: Any = None,
        result: str | None = None,
        param_map: Params = None,
        max_jobs: int | None = None,
        max_time: float | None = None,
        refit: bool = True,
        n_workers: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.experiment = experiment
        self.cv = cv
        self.scoring = scoring
        self.result = result
        self.param_map = param_map
        self.max_jobs = max_jobs
        self.max_time = max_time
        self.refit = refit
        self.n_workers = n_workers

    def fit(self, X: Any, y: Any = None, *, groups: Any = None) -> SchedySearchCV:
        """Run jobs of the experiment, then take (and refit) the best configuration of the search.

        Raises:
            ValueError: nothing would end the loop (a random or TPE search
                without a budget, and neither ``max_jobs`` nor ``max_time``),
                or no job of the search finished with a score.

        """
        exp = self.experiment
        name = _result_name(exp, self.result)
        endless = isinstance(exp, (RandomSearch, TPESearch)) and exp.max_jobs is None
        if endless and self.max_jobs is None and self.max_time is None:
            raise ValueError(
                f"Experiment '{exp.name}' hands out jobs without end: give max_jobs= or max_time= "
                "(or the experiment a budget, max_jobs=)."
            )
        options = {
            "cv": self.cv,
            "scoring": self.scoring,
            "result": name,
            "param_map": self.param_map,
            "groups": groups,
        }
        workers = 1 if self.n_workers is None else effective_n_jobs(self.n_workers)
        if workers == 1:
            ran = _work(exp, self.estimator, X, y, options, self.max_jobs, self.max_time)
        else:
            # Each process gets the experiment pickled (a connection of its own) and its share of max_jobs.
            budget = self.max_jobs
            shares = (
                [None] * workers
                if budget is None
                else [budget // workers + (i < budget % workers) for i in range(workers)]
            )
            ran = sum(
                Parallel(n_jobs=workers)(
                    delayed(_work)(exp, self.estimator, X, y, options, share, self.max_time)
                    for share in shares
                    if share != 0
                )
            )
        best = exp.best_job(name, "max")
        if best is None:
            raise ValueError(f"No job of experiment '{exp.name}' has finished with a finite {name!r}.")
        self.n_jobs_run_ = ran
        self.best_job_ = best
        self.best_params_ = estimator_params(self.estimator, best.hyperparameters, self.param_map)
        self.best_score_ = float(best.results[name])
        self.cv_results_ = cv_results(exp, name)
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_).fit(X, y)
        return self

    def _fitted(self) -> Any:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    def predict(self, X: Any) -> Any:
        """The refitted best estimator's predictions."""
        return self._fitted().predict(X)

    def predict_proba(self, X: Any) -> Any:
        """The refitted best estimator's class probabilities."""
        return self._fitted().predict_proba(X)

    def decision_function(self, X: Any) -> Any:
        """The refitted best estimator's decision function."""
        return self._fitted().decision_function(X)

    def transform(self, X: Any) -> Any:
        """The refitted best estimator's transform."""
        return self._fitted().transform(X)

    def score(self, X: Any, y: Any = None) -> float:
        """The refitted best estimator's score on ``X`` (with ``scoring``, that scorer)."""
        model = self._fitted()
        if self.scoring is None:
            return float(model.score(X, y))
        from sklearn.metrics import check_scoring

        return float(check_scoring(model, scoring=self.scoring)(model, X, y))
