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
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from schedy.errors import ClientRequestError

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

    """
    if from_parent and not job.parent:
        return None
    directory = None if to is not None else Path(tempfile.mkdtemp(prefix="schedy-checkpoint-"))
    try:
        path = job.load_artifact(name, to if directory is None else directory / name, from_parent=from_parent)
    except BaseException as exc:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        if isinstance(exc, ClientRequestError) and exc.code == 404:
            return None
        raise
    if directory is not None:
        _keep_until_replaced(name, directory)
    return path


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
