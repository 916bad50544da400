"""A `schedy run` job's own clients ride out a short restart of the service, as the runner does (real service).

The checkpoint recipe of docs/cli.md "Artifacts": the command stores a file with `schedy artifact put`, and
reads the experiment with its own ``schedy.SchedyDB()``, while the service is stopped and started again 3 s
later on the same port and database. Before, both were new processes whose first connection was refused:
"Nothing answers at http://127.0.0.1:PORT/ (connection refused). Start a service there with `schedy
server`…" at once, the job ended CRASHED and the runner stopped.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import schedy
from schedy.testing import ServiceProcess
from tests.cli.conftest import clean_env, schedy_argv

_SCRIPT = """
while [ ! -e {stopped} ]; do sleep 0.1; done
{python} -c 'import os, schedy; print(schedy.SchedyDB().get_experiment(os.environ["SCHEDY_EXPERIMENT"]).name)' \\
    > {seen} &
own_db=$!
{schedy} artifact put "$SCHEDY_EXPERIMENT" "$SCHEDY_JOB_ID" {checkpoint} || exit 3
wait $own_db || exit 4
echo '--- RESULTS ---'
echo '{{"loss": 0.5}}'
"""


def _wait_for(path: Path, runner: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert runner.poll() is None, f"schedy run ended early:\n{runner.communicate()[0]}"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def test_a_run_jobs_artifact_put_and_own_client_ride_out_a_service_restart(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "service"
    service = ServiceProcess.start(home, database_url)
    try:
        user = service.new_user()
        config = tmp_path / "client.json"
        config.write_text(json.dumps(user.client_config))
        with schedy.SchedyDB(config_override=user.client_config, heartbeat=0) as db:
            db.add_experiment(schedy.ManualSearch("restarted")).add_job(hyperparameters={"x": 1})
        checkpoint = tmp_path / "ckpt.pt"
        checkpoint.write_bytes(b"weights" * 100)
        started, stopped, seen = tmp_path / "started", tmp_path / "stopped", tmp_path / "seen.txt"
        script = f"touch {shlex.quote(str(started))}\n" + _SCRIPT.format(
            stopped=shlex.quote(str(stopped)),
            python=shlex.quote(sys.executable),
            seen=shlex.quote(str(seen)),
            schedy=shlex.join(schedy_argv()),
            checkpoint=shlex.quote(str(checkpoint)),
        )
        runner = subprocess.Popen(
            schedy_argv("--config", str(config), "run", "--once", "restarted", "bash", "-c", script),
            env=clean_env(tmp_path / "home"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            _wait_for(started, runner)  # the job runs
            service.stop()
            stopped.touch()  # the command's clients start now, with nothing listening
            time.sleep(3)
            service = ServiceProcess.start(home, database_url, port=service.port)
            output, _ = runner.communicate(timeout=120)
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.wait()
        assert runner.returncode == 0, output
        assert "Nothing answers" not in output, output
        assert seen.read_text().strip() == "restarted"
        with schedy.SchedyDB(config_override=user.client_config, heartbeat=0) as db:
            (job,) = db.get_experiment("restarted").all_jobs()
            assert job.status == schedy.Job.DONE, output
            assert [(a.name, a.size) for a in job.artifacts()] == [("ckpt.pt", 700)]
    finally:
        service.stop()
