"""A Lightning worker for tests/integrations/test_lightning_hunt4.py: ``python ... CONFIG_JSON EXPERIMENT MODE``.

MODE is one of:

* ``spawn``: ``strategy="ddp_spawn"`` on 2 CPU processes; this process claims the job and calls
  ``check_pruned()`` after ``fit`` (the spawned ranks train with copies of the callback);
* ``resume``: ``strategy="ddp"`` on 2 ranks resuming with ``resume_path(job, "last.ckpt")``;
* ``rank0-only``: the same, but only rank 0 loads the checkpoint (rank 1 starts from scratch).

Prints ``RANK <r> START <epoch>`` when training starts, ``RANK <r> EPOCHS <n>`` when it ends, and
``RANK <r> ERROR <message>`` for an error out of ``fit``.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import lightning.pytorch as pl
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

import schedy
from schedy.integrations import load_checkpoint
from schedy.integrations.lightning import SchedyCallback, resume_path

warnings.filterwarnings("ignore")

EPOCHS = 4


class Net(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))

    def training_step(self, batch, _):  # type: ignore[no-untyped-def]
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, _):  # type: ignore[no-untyped-def]
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y), sync_dist=True)

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.Adam(self.parameters(), lr=0.01)


class Start(pl.Callback):
    """Says at which epoch each rank starts training."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        print(f"RANK {trainer.global_rank} START {trainer.current_epoch}", flush=True)


def loaders() -> tuple[DataLoader, DataLoader]:
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.int64)
    return (
        DataLoader(TensorDataset(x[:1000], y[:1000]), batch_size=100),
        DataLoader(TensorDataset(x[1000:1400], y[1000:1400]), batch_size=100),
    )


def trainer(callbacks: list[pl.Callback], strategy: str) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        devices=2,
        strategy=strategy,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def spawn(config: dict[str, str], name: str) -> None:
    with schedy.SchedyDB(config_override=config) as db:
        job = db.get_experiment(name).next_job()
        callback = SchedyCallback(job, "val_loss", checkpoint="last.ckpt")
        with job:
            trainer([callback, Start()], "ddp_spawn").fit(Net(), *loaders())
            print(f"PRUNED {callback.pruned}", flush=True)
            callback.check_pruned()
        print(f"ENDED {job.status} {job.results}", flush=True)


def ddp(config: dict[str, str], name: str, mode: str) -> None:
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    db = schedy.SchedyDB(config_override=config) if rank == 0 else None
    job = db.get_experiment(name).next_job() if db is not None else None
    if mode == "resume":
        ckpt_path = resume_path(job, "last.ckpt")  # on rank 0, before fit() starts rank 1
    else:
        ckpt_path = load_checkpoint(job, "last.ckpt") if job is not None else None
    pl_trainer = trainer([SchedyCallback(job, "val_loss", checkpoint="last.ckpt"), Start()], "ddp")
    try:
        if job is None:
            pl_trainer.fit(Net(), *loaders(), ckpt_path=ckpt_path)
        else:
            with job:
                pl_trainer.fit(Net(), *loaders(), ckpt_path=ckpt_path)
    except RuntimeError as error:
        print(f"RANK {rank} ERROR {error}", flush=True)
        sys.stdout.flush()
        os._exit(3)
    print(f"RANK {rank} EPOCHS {pl_trainer.current_epoch}", flush=True)
    if db is not None:
        db.close()
    # Leave together, then exit without running destructors (see lightning_worker.py: pytorch/pytorch#56297).
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    config, name, mode = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    if mode == "spawn":
        spawn(config, name)
    else:
        ddp(config, name, mode)


if __name__ == "__main__":
    main()
