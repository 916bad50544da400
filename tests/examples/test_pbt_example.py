"""examples/pbt: the scikit-learn PBT example, run as a user runs it, against the real service.

A short run (4 members x 3 generations, 2 worker processes) of
``examples/pbt/launch.py``: the workers reload their parent's checkpoint by
path from ``job.results``, the experiment ends DONE, and the launcher reports
the best member and its schedule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import schedy

LAUNCH = Path(__file__).resolve().parents[2] / "examples" / "pbt" / "launch.py"


def test_the_digits_example_trains_a_population_to_the_end(service: Any, tmp_path: Path) -> None:
    config = service.client_config
    env = {
        **os.environ,
        "SCHEDY_ROOT": config["root"],
        "SCHEDY_EMAIL": config["email"],
        "SCHEDY_TOKEN": config["token"],
    }
    report_path, checkpoints = tmp_path / "report.json", tmp_path / "ckpt"
    command = [sys.executable, str(LAUNCH), "--members", "4", "--generations", "3", "--workers", "2"]
    command += ["--name", "digits", "--checkpoints", str(checkpoints), "--seed", "1", "--json", str(report_path)]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Best member" in done.stdout

    report = json.loads(report_path.read_text())
    assert report["jobs"] <= 4 * 3
    assert [step["generation"] for step in report["schedule"]] == [1, 2, 3]
    assert report["validation_accuracy"] > 0.8
    assert report["test_accuracy"] > 0.8

    with schedy.SchedyDB(config_override=config, heartbeat=0) as db:
        exp = db.get_experiment("digits")
        assert exp.status == exp.DONE
        jobs = {job.id: job for job in exp.all_jobs()}
    for job in jobs.values():
        assert job.status == schedy.Job.DONE
        # Each interval saved a checkpoint of its own, named in its results...
        assert Path(job.results["model_path"]) == (checkpoints / "digits" / f"{job.id}.pkl").resolve()
        assert Path(job.results["model_path"]).exists()
        # ...and continued its parent's model: one more epoch behind it.
        parent = jobs.get(job.parent) if job.parent else None
        assert job.results["epochs"] == (1 if parent is None else parent.results["epochs"] + 1)
