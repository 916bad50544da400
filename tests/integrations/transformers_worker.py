"""A transformers.Trainer worker for the tests: ``torchrun --nproc-per-node 2 transformers_worker.py CONFIG EXP N``.

Every process builds the same Trainer (``use_cpu=True``: accelerate joins
the processes with the gloo backend); only rank 0 claims a job and talks to
the service, the others get the callback with ``job=None``. Prints ``RANK
<r> STEP <global step> WORLD <n>`` for each rank.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import torch
import transformers
from sklearn.datasets import load_digits

import schedy
from schedy.integrations.transformers import SchedyCallback

warnings.filterwarnings("ignore")


def main() -> None:
    config, name, epochs = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))
    transformers.set_seed(0)
    data = load_digits()
    tokens = torch.tensor(data.data.round(), dtype=torch.long)  # pixel intensities 0-16 as tokens
    rows = [{"input_ids": tokens[i], "labels": int(data.target[i])} for i in range(384)]
    model = transformers.BertForSequenceClassification(
        transformers.BertConfig(
            vocab_size=17,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
            num_labels=10,
        )
    )
    args = transformers.TrainingArguments(
        "out",
        num_train_epochs=epochs,
        per_device_train_batch_size=32,
        per_device_eval_batch_size=64,
        learning_rate=3e-3,
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    db = schedy.SchedyDB(config_override=config) if rank == 0 else None
    job = db.get_experiment(name).next_job() if db is not None else None
    callback = SchedyCallback(job, "eval_loss")
    trainer = transformers.Trainer(model, args, train_dataset=rows[:256], eval_dataset=rows[256:], callbacks=[callback])
    world = args.world_size
    if job is None:
        trainer.train()
    else:
        with job:
            try:
                trainer.train()
            finally:
                print(f"RANK {rank} STEP {trainer.state.global_step} WORLD {world}", flush=True)
        db.close()  # type: ignore[union-attr]
    if job is None:
        print(f"RANK {rank} STEP {trainer.state.global_step} WORLD {world}", flush=True)
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
