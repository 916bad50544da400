"""The Lightning callback across processes and restarts: ddp_spawn, resuming every DDP rank, ``min_epochs``.

Real Lightning (CPU, gloo) against the real service; the multi-process runs go through
``lightning_hunt4_worker.py``, as Lightning's launchers need a script.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import schedy
from tests.integrations.conftest import framework, next_job

torch = framework("torch")
framework("lightning")

import lightning.pytorch as pl  # noqa: E402  (after the framework check, which skips without it)

from schedy.integrations.lightning import SchedyCallback  # noqa: E402
from tests.integrations.lightning_hunt4_worker import Net, loaders  # noqa: E402

WORKER = Path(__file__).with_name("lightning_hunt4_worker.py")

# Lightning's advice for real runs (more dataloader workers, a logger...), and its use of a torch API torch
# deprecates: not what these tests are about.
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]


def _run(service: Any, name: str, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WORKER), json.dumps(service.client_config), name, mode],
        capture_output=True,
        text=True,
        timeout=240,  # a hang (the defects these tests pin) fails here instead of blocking the suite
        check=False,
    )


def _trainer(callback: SchedyCallback, **options: Any) -> pl.Trainer:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pl.Trainer(
            accelerator="cpu",
            callbacks=[callback],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            **options,
        )


def _retry_with_checkpoint(exp: schedy.Experiment) -> schedy.Job:
    """A job whose first attempt trained epochs 0 and 1 (checkpointed) and then vanished: queued again."""
    job = next_job(exp)
    _trainer(SchedyCallback(job, "val_loss", checkpoint="last.ckpt"), max_epochs=2).fit(Net(), *loaders())
    again = exp.get_job(job.job_id)
    again.status = schedy.Job.QUEUED
    again.put()
    return again


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # the ranks' side; PostgreSQL in test_lightning
def test_under_ddp_spawn_the_job_ends_pruned_with_the_value_it_was_stopped_at(service, experiment) -> None:
    exp = experiment("val_loss", prune=True)
    exp.add_job(hyperparameters={})
    result = _run(service, exp.name, "spawn")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    job = next(j for j in exp.all_jobs() if not j.hyperparameters.get("leader"))
    reports = job.reports()
    assert [r["step"] for r in reports] == [0, 1]  # stopped at the first rung
    assert job.status == schedy.Job.PRUNED
    assert job.results == {"val_loss": reports[-1]["metrics"]["val_loss"]}
    assert job.stop_reason
    assert "PRUNED False" in out  # fit() returned in this process, which learned the verdict from the service
    assert "reported no 'val_loss'" not in out  # the spawned rank 1 has a copy of the job, and reports nothing


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # the ranks' side; PostgreSQL in test_lightning
def test_every_ddp_rank_resumes_a_retry_from_the_same_checkpoint(service, experiment) -> None:
    exp = experiment("val_loss")
    job = _retry_with_checkpoint(exp)
    result = _run(service, exp.name, "resume")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for rank in (0, 1):
        assert f"RANK {rank} START 2" in out
        assert f"RANK {rank} EPOCHS 4" in out
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.DONE
    assert [(r["attempt"], r["step"]) for r in job.reports()] == [(1, 0), (1, 1), (2, 2), (2, 3)]


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # how the ranks start: nothing of the store's
def test_ddp_ranks_resuming_from_different_checkpoints_stop_with_an_error_not_a_hang(service, experiment) -> None:
    exp = experiment("val_loss")
    job = _retry_with_checkpoint(exp)
    result = _run(service, exp.name, "rank0-only")  # rank 0 loads the checkpoint, rank 1 starts from scratch
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    message = (
        "The ranks would start fit from different points (rank 0 from the checkpoint of epoch 1 (global step 20), "
        "rank 1 from scratch) and then wait for each other forever: give every rank the same ckpt_path"
    )
    assert f"RANK 0 ERROR {message}" in out
    assert f"RANK 1 ERROR {message}" in out
    assert "START" not in out  # before any training
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.CRASHED
    assert [r["attempt"] for r in job.reports()] == [1, 1]


def test_min_epochs_trains_on_after_the_stop_without_reporting_and_the_job_keeps_its_stopped_value(
    experiment, caplog
) -> None:
    exp = experiment("val_loss", prune=True)
    job = next_job(exp)
    trainer = _trainer(SchedyCallback(job, "val_loss"), min_epochs=4, max_epochs=8)
    with caplog.at_level(logging.WARNING, logger="schedy"), job:
        trainer.fit(Net(), *loaders())
    assert trainer.current_epoch == 4  # Lightning trains until min_epochs, whatever should_stop says
    job = exp.get_job(job.job_id)
    reports = job.reports()
    assert [r["step"] for r in reports] == [0, 1]  # nothing after the stop
    assert job.status == schedy.Job.PRUNED
    assert job.results == {"val_loss": reports[1]["metrics"]["val_loss"]}
    warned = [r.getMessage() for r in caplog.records if "training went on" in r.getMessage()]
    assert warned == [
        f"The service told job {job.job_id} to stop at step 1, but training went on (Trainer(min_epochs=4) is not "
        "met yet): SchedyCallback reports nothing more, and the job keeps the 'val_loss' of step 1."
    ]
