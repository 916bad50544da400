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
PBT parent, or its previous attempt.
"""

from __future__ import annotations

import os
import tempfile
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

    Args:
        job: the job.
        name: the artifact's name, as the callback saved it.
        to: where to write it (default: a new temporary directory).
        from_parent: take it from the job this one continues (PBT).

    """
    if to is None:
        to = Path(tempfile.mkdtemp(prefix="schedy-checkpoint-")) / name
    try:
        if from_parent and not job.parent:
            return None
        return job.load_artifact(name, to, from_parent=from_parent)
    except ClientRequestError as exc:
        if exc.code == 404:
            return None
        raise
