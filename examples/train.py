"""A training script for ``schedy run``: hyperparameters in as arguments, results out as JSON.

``schedy run`` fills ``%h`` with ``--lr 0.003 --layers 1`` (the job's
hyperparameters), streams what this prints, sends each ``--- REPORT ---``
line to the service (which may stop a hopeless run early: then this gets
SIGTERM), and stores the JSON printed after ``--- RESULTS ---`` as the
job's results::

    schedy add mnist random lr loguniform '{"low": 1e-4, "high": 0.1}' layers choice '{"values": [1, 2, 3]}'
    schedy run -n 4 --minimize loss mnist python examples/train.py %h

The "training" is a toy curve, so the example runs anywhere in a second: a
loss that falls with each epoch to ``(log10(lr) + 2.5) ** 2 + 0.05 * layers``
(best near lr = 0.003 with one layer), the numbers of the sessions in the
README and docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import math
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    loss = (math.log10(args.lr) + 2.5) ** 2 + 0.05 * args.layers  # stands in for training
    for epoch in range(1, args.epochs + 1):
        print(f"epoch {epoch}: loss {loss * (1 + 1 / epoch):.4f}")
        print("--- REPORT --- " + json.dumps({"step": epoch, "loss": loss * (1 + 1 / epoch)}), flush=True)
        time.sleep(0.02)
    print("--- RESULTS ---")
    print(json.dumps({"loss": round(loss, 4)}))


if __name__ == "__main__":
    main()
