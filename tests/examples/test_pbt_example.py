"""examples/pbt: the scikit-learn PBT example, run as a user runs it, against the real service.

A short run (4 members x 3 generations, 2 worker processes) of
``examples/pbt/launch.py``, each worker in a working directory of its own
with no path shared: every job stores its model as an artifact and loads its
parent's with ``load_artifact(..., from_parent=True)``, the experiment ends
DONE, and the launcher reports the best member and its schedule.
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
    report_path = tmp_path / "report.json"
    command = [sys.executable, str(LAUNCH), "--members", "4", "--generations", "3", "--workers", "2"]
    command += ["--name", "digits", "--seed", "1", "--json", str(report_path)]
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
            # Each interval stored a checkpoint of its own with the service...
            (artifact,) = job.artifacts()
            assert artifact.name == "model.pkl"
            assert artifact.size > 0
            assert "model_path" not in job.results
            # ...and continued its parent's model, loaded from the parent's artifact: one more epoch behind it.
            parent = jobs.get(job.parent) if job.parent else None
            if parent is None:
                assert job.results["epochs"] == 1
                assert job.results["parent_sha256"] is None
            else:
                assert job.results["epochs"] == parent.results["epochs"] + 1
                assert job.results["parent_sha256"] == parent.artifacts()[0].sha256
    # Nothing was written where the launcher (or a worker) ran: no shared checkpoint directory exists.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.json"]
