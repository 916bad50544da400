"""Callbacks that connect training frameworks to a Schedy job (docs/integrations.md).

One small module per framework, each importing only its framework, each an
optional extra (``pip install './[xgboost]'`` from a checkout):

* :mod:`schedy.integrations.xgboost` — ``SchedyCallback`` for ``xgboost.train`` and the scikit-learn API;
* :mod:`schedy.integrations.lightgbm` — ``schedy_callback`` for ``lightgbm.train`` and ``LGBM*.fit``;
* :mod:`schedy.integrations.keras` — ``SchedyCallback`` for Keras 3 ``model.fit`` (any backend);
* :mod:`schedy.integrations.lightning` — ``SchedyCallback`` for PyTorch Lightning, correct under DDP;
* :mod:`schedy.integrations.transformers` — ``SchedyCallback`` for Hugging Face ``transformers.Trainer``;
* :mod:`schedy.integrations.sklearn` — ``cross_validate``, reporting fold by fold, and ``SchedySearchCV``.

Each callback reports the monitored metric once per epoch or boosting round
with :meth:`schedy.Job.report` (the step is the epoch or round), keeps its
latest value in ``job.results[monitor]``, stops training when the service
says so by raising :class:`schedy.errors.JobPruned` (``with job:`` then ends
the job PRUNED), and can save a checkpoint as an artifact of the job every
N steps. :func:`load_checkpoint` fetches one back, from the job itself, its
PBT parent, or its previous attempt (into a temporary copy that Schedy removes).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from schedy.errors import ClientRequestError, ResourceNotFoundError

if TYPE_CHECKING:
    from schedy._jobs import Job

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(job: Job, name: str, write: Callable[[Path], object]) -> None:
    """Call ``write(path)`` on a temporary path, then store that file as the job's artifact ``name``."""
    with tempfile.TemporaryDirectory(prefix="schedy-checkpoint-") as directory:
        path = Path(directory) / name
        write(path)
        job.save_artifact(path, name)


def load_checkpoint(
    job: Job,
    name: str,
    to: str | os.PathLike[str] | None = None,
    *,
    from_parent: bool = False,
) -> Path | None:
    """Download the checkpoint artifact ``name``; ``None`` when there is none to resume from.

    ``None`` means "start from scratch": the job has not saved ``name`` yet (a
    first attempt), or, with ``from_parent``, it has no parent (a new PBT
    member). A job that has a parent continues that parent's model and keeps
    its results and generation, so a parent without ``name`` (or deleted) is
    an error, not ``None``: training from scratch there would pass a new
    model off as the parent's.

    Without ``to``, the copy goes to a temporary directory of this process
    that Schedy removes: at the next ``load_checkpoint`` of the same
    ``name`` in this process (so a worker going from job to job keeps one
    copy per name, not one per job) and when the process exits. Read it
    before loading that name again, or give ``to`` to keep it. A miss
    leaves nothing behind.

    Args:
        job: the job.
        name: the artifact's name, as the callback saved it.
        to: where to write it (a file, or an existing directory); then it is yours to remove.
        from_parent: take it from the job this one continues (PBT).

    Raises:
        schedy.errors.ResourceNotFoundError: ``from_parent`` and the parent has no artifact ``name`` or no longer
            exists; or the job itself no longer exists.

    """
    if from_parent and not job.parent:
        return None
    directory = None if to is not None else Path(tempfile.mkdtemp(prefix="schedy-checkpoint-"))
    try:
        path = job.load_artifact(name, to if directory is None else directory / name, from_parent=from_parent)
    except BaseException as exc:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        if not (isinstance(exc, ClientRequestError) and exc.code == 404):
            raise
        if from_parent:
            raise _no_parent_checkpoint(job, name, exc) from None
        job.artifacts()  # a 404 of its own if the job is gone; else it has merely saved no `name` yet
        return None
    if directory is not None:
        _keep_until_replaced(name, directory)
    return path


def _no_parent_checkpoint(job: Job, name: str, exc: ClientRequestError) -> ResourceNotFoundError:
    """The error for a PBT job whose parent has no checkpoint ``name`` to continue from, in one sentence."""
    try:
        detail = str(json.loads(exc.body)["detail"])
    except (ValueError, TypeError, KeyError):
        detail = exc.body.strip() or f"job '{job.parent}' has no artifact {name!r}"
    detail = detail[:1].lower() + detail[1:].rstrip(".")  # the service's sentence, inside this one
    error = ResourceNotFoundError(exc.body, 404)
    error.args = (
        f"Job '{job.job_id}' continues job '{job.parent}' (its parent), but {detail}: starting "
        "from scratch would train a new model under the parent's results and generation, so keep the parent "
        f"and save {name!r} in every job (the callback's checkpoint=), under the name you load.",
    )
    return error


_scratch_lock = threading.Lock()
_scratch: dict[str, Path] = {}  # key -> the temporary directory holding its current copy


def _keep_until_replaced(key: str, directory: Path) -> None:
    """Keep ``directory`` as ``key``'s temporary copy: remove the previous one now, this one at exit.

    For every helper that hands out a temporary copy (``load_checkpoint``, a framework's own resume
    helper with a key of its own): a worker running job after job holds one copy per key, not one per job.
    """
    with _scratch_lock:
        previous = _scratch.get(key)
        _scratch[key] = directory
    if previous is not None and previous != directory:
        shutil.rmtree(previous, ignore_errors=True)


@atexit.register
def _remove_scratch() -> None:
    with _scratch_lock:
        directories = list(_scratch.values())
        _scratch.clear()
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)
