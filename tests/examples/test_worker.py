"""examples/worker.py as the README points to it: ``python examples/worker.py`` in several terminals at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import schedy

WORKER = Path(__file__).resolve().parents[2] / "examples" / "worker.py"


def test_workers_started_as_the_readme_says_share_one_search(service: Any, tmp_path: Path) -> None:
    config = service.client_config
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
    env.update(SCHEDY_ROOT=config["root"], SCHEDY_EMAIL=config["email"], SCHEDY_TOKEN=config["token"])
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "--trials", "5"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], outputs
    assert all("This worker ran 5 jobs." in output and "Best so far: loss " in output for output in outputs)
    with schedy.SchedyDB(config_override=config, heartbeat=0) as db:
        jobs = list(db.get_experiment("toy-random-search").all_jobs())
    assert [job.status for job in jobs] == [schedy.Job.DONE] * 15
    assert all(set(job.hyperparameters) == {"x", "y", "lr"} and "loss" in job.results for job in jobs)
