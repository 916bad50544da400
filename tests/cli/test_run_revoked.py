"""``schedy run`` with an API token revoked while its job runs: the worker stops it, says why, locks nobody out.

Its heartbeats logged in again every interval with the revoked token, were told
"wrong email or API token", warned "will try again" and went on; the command
ran to its end, its results could not be saved, and the failed logins locked
the user's *live* tokens out of that address (429) for a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

import schedy
from schedy.random import Uniform
from tests.cli.conftest import clean_env, schedy_argv

_SLOW = "import time; time.sleep(60); print('--- RESULTS ---'); print('{\"loss\": 1}')"


def test_a_worker_whose_token_is_revoked_stops_its_command_and_the_live_token_still_works(cli, tmp_path: Path) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.RandomSearch("revoked", {"x": Uniform(0, 1)}, max_jobs=1))
    config = cli.service.client_config
    with httpx.Client(base_url=config["root"], timeout=30) as http:
        jwt = http.post("token/", json={"email": config["email"], "token": config["token"]}).json()["token"]
        http.headers["Authorization"] = f"Bearer {jwt}"
        cluster = http.post("resettoken/", json={"label": "cluster"}).json()
        (listed,) = [t for t in http.get("tokens/").json()["items"] if t["label"] == "cluster"]
        worker_config = tmp_path / "cluster.json"
        worker_config.write_text(json.dumps(cluster))
        argv = schedy_argv("--config", str(worker_config), "run", "--heartbeat", "1", "revoked")
        worker = subprocess.Popen(
            [*argv, sys.executable, "-c", _SLOW],
            env=clean_env(cli.home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)  # the command runs, heartbeats go out
        assert http.delete(f"tokens/{listed['id']}/").status_code == 204
        started = time.monotonic()
        out, err = worker.communicate(timeout=60)
        stopped_after = time.monotonic() - started

    assert stopped_after < 40, (out, err)  # stopped, not run to its 60 s end
    assert "This API token was revoked" in out + err
    # The user's live token (the configuration's) still logs in: the worker's logins locked nothing.
    assert cli("list").returncode == 0
    with cli.db() as db:
        (job,) = db.get_experiment("revoked").all_jobs()
        assert job.status != "DONE"
