"""examples/worker.py as the README points to it: ``python examples/worker.py`` in several terminals at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import schedy

WORKER = Path(__file__).resolve().parents[2] / "examples" / "worker.py"
EPOCHS = 9  # examples/worker.py's


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
    assert all("This worker ran 5 jobs; the service stopped " in output for output in outputs), outputs
    assert all("Best so far: loss " in output for output in outputs), outputs
    said = sum(int(re.search(r"the service stopped (\d+) of them", output).group(1)) for output in outputs)
    with schedy.SchedyDB(config_override=config, heartbeat=0) as db:
        exp = db.get_experiment("toy-search")
        jobs = list(exp.all_jobs())
        assert isinstance(exp, schedy.TPESearch)
        # Each job reported every epoch it trained; a stopped one ended PRUNED with fewer than all of them.
        for job in jobs:
            steps = [report["step"] for report in job.reports()]
            assert steps == list(range(1, job.results["epochs"] + 1))
            assert (job.status == schedy.Job.PRUNED) == (len(steps) < EPOCHS)
    statuses = [job.status for job in jobs]
    assert len(jobs) == 15
    assert set(statuses) <= {schedy.Job.DONE, schedy.Job.PRUNED}
    assert statuses.count(schedy.Job.PRUNED) == said
    assert all(set(job.hyperparameters) == {"x", "y", "lr"} and "loss" in job.results for job in jobs)
