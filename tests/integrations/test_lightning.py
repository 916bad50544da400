"""The PyTorch Lightning callback (CPU) with the real library against the real service, in one process and DDP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import schedy
from schedy.integrations import load_checkpoint
from tests.integrations.conftest import framework

framework("torch")
framework("lightning")

WORKER = Path(__file__).with_name("lightning_worker.py")


def _run(service, name: str, devices: int, epochs: int, *extra: str) -> str:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, str(WORKER), json.dumps(service.client_config), name, str(devices), str(epochs), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_lightning_reports_every_epoch_and_checkpoints(service, experiment, tmp_path: Path) -> None:
    import torch

    exp = experiment("val_loss")
    exp.add_job(hyperparameters={})
    assert "RANK 0 EPOCHS 4" in _run(service, exp.name, 1, 4)
    (job,) = exp.all_jobs()
    assert job.status == schedy.Job.DONE
    reports = job.reports()
    assert [r["step"] for r in reports] == [0, 1, 2, 3]
    assert reports[-1]["metrics"]["val_loss"] < reports[0]["metrics"]["val_loss"]
    path = load_checkpoint(job, "last.ckpt", tmp_path / "last.ckpt")
    assert path is not None
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint["epoch"] == 3  # saved at the end of the 4th epoch (every 2)


def test_lightning_validating_twice_an_epoch_reports_each_validation_at_its_own_step(
    service, experiment, tmp_path: Path
) -> None:
    import torch

    # 10 batches an epoch, validation every half epoch: at optimizer steps 5, 10, 15, 20 (not epochs 0, 0, 1, 1).
    exp = experiment("val_loss")
    exp.add_job(hyperparameters={})
    assert "RANK 0 EPOCHS 2" in _run(service, exp.name, 1, 2, "0.5")
    (job,) = exp.all_jobs()
    assert job.status == schedy.Job.DONE
    assert [r["step"] for r in job.reports()] == [5, 10, 15, 20]
    # checkpoint_every=2 counts validations here: the last checkpoint is the fourth validation's.
    path = load_checkpoint(job, "last.ckpt", tmp_path / "last.ckpt")
    assert path is not None
    assert torch.load(path, weights_only=False)["global_step"] == 20


def test_lightning_stops_when_told_and_the_job_ends_pruned(service, experiment) -> None:
    exp = experiment("val_loss", prune=True)
    exp.add_job(hyperparameters={})
    out = _run(service, exp.name, 1, 30)
    assert "RANK 0 EPOCHS 2" in out
    job = next(j for j in exp.all_jobs() if not j.hyperparameters.get("leader"))
    assert job.status == schedy.Job.PRUNED
    assert [r["step"] for r in job.reports()] == [0, 1]


def test_under_ddp_only_rank_0_reports_and_every_rank_stops(service, experiment) -> None:
    exp = experiment("val_loss", prune=True)
    exp.add_job(hyperparameters={})
    out = _run(service, exp.name, 2, 30)
    # Both ranks stopped after the second epoch (the first rung), on rank 0's word.
    assert "RANK 0 EPOCHS 2" in out
    assert "RANK 1 EPOCHS 2" in out
    jobs = [j for j in exp.all_jobs() if not j.hyperparameters.get("leader")]
    assert len(jobs) == 1  # rank 1 claimed nothing
    assert jobs[0].status == schedy.Job.PRUNED
    assert [r["step"] for r in jobs[0].reports()] == [0, 1]


def test_lightning_without_validation_warns_that_nothing_was_reported(service, experiment) -> None:
    exp = experiment("val_loss")
    exp.add_job(hyperparameters={})
    out = _run(service, exp.name, 1, 2, "none")
    assert "RANK 0 EPOCHS 2" in out
    (job,) = exp.all_jobs()
    assert job.status == schedy.Job.DONE
    assert job.reports() == []
    assert f"SchedyCallback reported no 'val_loss' for job {job.job_id} (no validation ran: give fit()" in out
