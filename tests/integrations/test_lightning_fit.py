"""The Lightning callback in one process: what it reports and checkpoints around ``fit`` (CPU, the real service)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytest

import schedy
from schedy.integrations import load_checkpoint
from tests.integrations.conftest import framework, next_job

torch = framework("torch")
framework("lightning")

import lightning.pytorch as pl  # noqa: E402  (after the framework check, which skips without it)

from schedy.integrations.lightning import SchedyCallback  # noqa: E402

# Lightning's advice for real runs (more dataloader workers, a logger...), and its use of a torch API torch
# deprecates: not what these tests are about.
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]


class Net(pl.LightningModule):
    """Logs ``val_loss`` every validation and ``val_rare`` (the loss plus 100) at even epochs only."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(64, 10)

    def training_step(self, batch, _):  # type: ignore[no-untyped-def]
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, _):  # type: ignore[no-untyped-def]
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("val_loss", loss)
        if self.current_epoch % 2 == 0:
            self.log("val_rare", loss + 100)

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.SGD(self.parameters(), lr=0.5)


def _loaders(digits) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
    from torch.utils.data import DataLoader, TensorDataset

    x, y = (torch.tensor(a) for a in digits)
    return (
        DataLoader(TensorDataset(x[:200], y[:200]), batch_size=100),
        DataLoader(TensorDataset(x[200:300], y[200:300]), batch_size=100),
    )


def _trainer(callback: SchedyCallback, epochs: int, **options: Any) -> pl.Trainer:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pl.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            callbacks=[callback],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            **options,
        )


def _losses(job: schedy.Job, metric: str = "val_loss") -> list[tuple[int, float]]:
    return [(r["step"], r["metrics"][metric]) for r in job.reports()]


def test_validate_before_and_after_fit_reports_only_the_validations_of_fit(experiment, digits) -> None:
    exp = experiment("val_loss")
    job = next_job(exp)
    train, valid = _loaders(digits)
    model = Net()
    with job:
        trainer = _trainer(SchedyCallback(job, "val_loss"), 2)
        (baseline,) = trainer.validate(model, valid, verbose=False)  # the untrained model: not epoch 0
        trainer.fit(model, train, valid)
        (after,) = trainer.validate(model, valid, verbose=False)  # epoch 2 was never trained
    reports = _losses(exp.get_job(job.job_id))
    assert [step for step, _ in reports] == [0, 1]
    assert reports[0][1] < baseline["val_loss"]  # epoch 0's own validation, after training
    assert reports[1][1] == pytest.approx(after["val_loss"])  # the same model as epoch 1's


def test_a_metric_logged_at_some_epochs_is_reported_at_those_epochs_only(experiment, digits) -> None:
    exp = experiment("val_rare")
    job = next_job(exp)
    with job:
        _trainer(SchedyCallback(job, "val_rare"), 4).fit(Net(), *_loaders(digits))
    reports = _losses(exp.get_job(job.job_id), "val_rare")
    assert [step for step, _ in reports] == [0, 2]  # not epochs 1 and 3 again with the value of 0 and 2
    assert reports[1][1] != reports[0][1]


@pytest.mark.parametrize(
    ("options", "validate", "last_epoch"),
    [
        ({"check_val_every_n_epoch": 2}, True, 2),  # validations after epochs 1 and 3; checkpoints after 2 and 5
        ({}, False, 5),  # no validation at all: checkpoints still every 3 epochs
    ],
    ids=["validating-every-other-epoch", "never-validating"],
)
def test_lightning_checkpoints_every_n_epochs_whatever_the_validations(
    experiment, digits, tmp_path: Path, monkeypatch, options: dict[str, Any], validate: bool, last_epoch: int
) -> None:
    exp = experiment("val_loss")
    job = next_job(exp)
    train, valid = _loaders(digits)
    saved: list[int] = []
    callback = SchedyCallback(job, "val_loss", checkpoint="last.ckpt", checkpoint_every=3)
    trainer = _trainer(callback, last_epoch + 1, **options)
    original = schedy.Job.save_artifact

    def save_artifact(self: schedy.Job, path: str | os.PathLike[str], name: str | None = None) -> Any:
        saved.append(trainer.current_epoch)
        return original(self, path, name)

    monkeypatch.setattr(schedy.Job, "save_artifact", save_artifact)
    with job:
        trainer.fit(Net(), train, valid if validate else None)
    assert saved == [2, 5][: (last_epoch + 1) // 3]
    path = load_checkpoint(job, "last.ckpt", tmp_path / "last.ckpt")
    assert path is not None
    assert torch.load(path, weights_only=False)["epoch"] == last_epoch
