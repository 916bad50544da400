"""A Lightning worker for the tests: ``python lightning_worker.py CONFIG_JSON EXPERIMENT DEVICES EPOCHS [INTERVAL]``.

Run as a script because Lightning's DDP launcher starts the other ranks by
running this file again (with ``LOCAL_RANK`` set): only rank 0 claims a job
and talks to the service. Prints ``RANK <r> EPOCHS <n>`` for each rank.
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
from schedy.integrations.lightning import SchedyCallback

warnings.filterwarnings("ignore")


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


def loaders() -> tuple[DataLoader, DataLoader]:
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.int64)
    return (
        DataLoader(TensorDataset(x[:1000], y[:1000]), batch_size=100),
        DataLoader(TensorDataset(x[1000:1400], y[1000:1400]), batch_size=100),
    )


def main() -> None:
    config, name, devices, epochs = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    # An optional fifth argument: Trainer(val_check_interval=...), a fraction of an epoch ("0.5") or batches ("3").
    # Or "none": fit() without validation loaders.
    interval: float | int = 1.0
    validate = sys.argv[5:] != ["none"]
    if len(sys.argv) > 5 and validate:
        interval = float(sys.argv[5]) if "." in sys.argv[5] else int(sys.argv[5])
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    db = schedy.SchedyDB(config_override=config) if rank == 0 else None
    job = db.get_experiment(name).next_job() if db is not None else None
    callback = SchedyCallback(job, "val_loss", checkpoint="last.ckpt", checkpoint_every=2)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        callbacks=[callback],
        val_check_interval=interval,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    model = Net()
    train, valid = loaders()
    if not validate:
        valid = None
    if job is None:
        trainer.fit(model, train, valid)
    else:
        with job:
            try:
                trainer.fit(model, train, valid)
                callback.check_pruned()
            finally:
                print(f"RANK {rank} EPOCHS {trainer.current_epoch}", flush=True)
        db.close()  # type: ignore[union-attr]
    if job is None:
        print(f"RANK {rank} EPOCHS {trainer.current_epoch}", flush=True)
    # Leave together, then exit without running destructors. The DDP model's reducer owns the gloo group;
    # freeing it when main() returns joins gloo's worker thread while holding the GIL, and if that thread is
    # still releasing a finished collective's tensors it waits for the GIL too: both wait forever
    # (pytorch/pytorch#56297; seen once in about ten runs on a loaded 2-core machine). Everything this
    # process had to say is printed and flushed by then.
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
