"""``SCHEDY_CONFIG`` naming a directory stops the service's first start in one sentence, with no user created.

The first start used to take the directory for "the existing client configuration": it created the admin,
printed its password, wrote no configuration and said "Kept the existing client configuration …", and every
client then failed with "Is a directory" (the token was nowhere). docs/service.md: the configuration is
written before the user is committed; if it cannot be, the start stops with one sentence, creating no user.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from schedy.testing import ServiceProcess, free_port


def _env(home: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
    return {**env, "HOME": str(home), "SCHEDY_HOME": str(home), "SCHEDY_CONFIG": str(config)}


def test_a_directory_as_the_client_configuration_stops_the_first_start_and_creates_no_user(tmp_path: Path) -> None:
    home, directory = tmp_path / "home", tmp_path / "configs"
    directory.mkdir()
    database = f"sqlite:///{home / 'schedy.db'}"
    started = subprocess.run(
        [sys.executable, "-m", "schedy.cli.main", "server", "--port", str(free_port()), "--database", database],
        capture_output=True,
        text=True,
        timeout=60,  # the old start went on serving
        env=_env(home, directory),
        check=False,
    )
    assert started.returncode == 1, started.stdout + started.stderr
    assert started.stderr.splitlines()[-1] == (
        f"schedy: Cannot write the client configuration {directory}: it is a directory; set SCHEDY_CONFIG to the "
        f"path of a file, such as {directory / 'client.json'}, and start again; no user was created."
    )
    assert "Traceback" not in started.stderr
    assert "Created the first user" not in started.stdout + started.stderr  # no password of an account not there
    assert list(directory.iterdir()) == []
    listed = subprocess.run(
        [sys.executable, "-m", "schedy.cli.main", "user", "list", "--database", database],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(home, directory),
        check=False,
    )
    assert (listed.returncode, listed.stdout) == (0, ""), listed.stderr
    # Given a file's path, the next start creates the admin, whose configuration works.
    with ServiceProcess.start(home, database) as service:
        config = service.first_start_config()
        token = httpx.post(service.url + "token/", json={"email": config["email"], "token": config["token"]})
        assert "Created the first user, admin@localhost (password: " in service.log()
    assert token.status_code == 200, token.text
