"""A training script for ``schedy run``: hyperparameters in as arguments, results out as JSON.

``schedy run`` fills ``%h`` with ``--lr 0.003 --layers 1`` (the job's
hyperparameters), streams what this prints, sends each ``--- REPORT ---``
line to the service (which may stop a hopeless run early: then this gets
SIGTERM), and stores the JSON printed after ``--- RESULTS ---`` as the
job's results::

    schedy add mnist random lr loguniform '{"low": 1e-4, "high": 0.1}' layers choice '{"values": [1, 2, 3]}'
    schedy run -n 4 --minimize loss mnist python examples/train.py %h

The "training" is a toy curve, so the example runs anywhere in a second: a
loss that falls with each epoch, fastest for lr near 1e-2 and one layer.
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
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    floor = abs(math.log10(args.lr / 1e-2)) * 0.3 + 0.02 * (args.layers - 1)
    loss = math.inf
    for epoch in range(args.epochs):
        loss = floor + math.exp(-(epoch + 1) * 0.5)
        print(f"epoch {epoch}: loss {loss:.4f}")
        print("--- REPORT --- " + json.dumps({"step": epoch, "loss": loss}), flush=True)
        time.sleep(0.02)
    print("--- RESULTS ---")
    print(json.dumps({"loss": round(loss, 4)}))


if __name__ == "__main__":
    main()
