"""The first start on an empty database (``schedy/server/bootstrap.py``), with two services at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from schedy.server.store import Store, migrate
from schedy.testing import PostgresCluster, free_port


def _start(home: Path, database_url: str, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    """``schedy server`` in the background, as ServiceProcess does, without waiting for it to answer."""
    log = home / f"server-{port}.log"
    env = {**os.environ, "SCHEDY_HOME": str(home), "SCHEDY_CONFIG": str(home / "client.json")}
    argv = [sys.executable, "-m", "schedy.cli.main", "server", "--port", str(port), "--database", database_url]
    with log.open("ab") as out:
        process = subprocess.Popen([*argv, "--log-level", "warning"], env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, log


def _pg(url: str) -> psycopg.Connection:
    database = url.rsplit("/", 1)[1]
    port = url.rsplit(":", 1)[1].split("/")[0]
    return psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname={database}")


def test_two_services_starting_together_on_an_empty_database_both_serve_and_one_creates_the_admin(
    tmp_path: Path, pg_cluster: PostgresCluster
) -> None:
    url = pg_cluster.new_database()
    store = Store(url, pool_size=1)
    migrate.upgrade(store)  # as the first of them to get the migration lock does
    store.dispose()
    home = tmp_path / "home"  # one machine, one client configuration for both
    home.mkdir()
    ports = [free_port(), free_port()]
    started = []
    # Both start up to their first look at the users, then both find none: the race of a real first start,
    # made certain by holding the table until both wait on it.
    with _pg(url) as held:
        held.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        try:
            started = [_start(home, url, port) for port in ports]
            deadline = time.monotonic() + 60
            waiting = 0
            while waiting < 2 and time.monotonic() < deadline:
                assert all(p.poll() is None for p, _ in started), [log.read_text() for _, log in started]
                with _pg(url) as probe:
                    row = probe.execute(
                        "SELECT count(*) FROM pg_locks WHERE relation = 'users'::regclass AND NOT granted"
                    ).fetchone()
                waiting = row[0] if row else 0
                time.sleep(0.1)
            assert waiting == 2, "the services never reached the users table"
            held.rollback()  # both go on at once
            for port in ports:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    assert all(p.poll() is None for p, _ in started), [log.read_text() for _, log in started]
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/ping/", timeout=2).status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                else:
                    raise AssertionError(f"the service on {port} never answered")
            time.sleep(0.5)  # a loser that would die after "is serving" has done so by now
            assert all(p.poll() is None for p, _ in started), [log.read_text() for _, log in started]
            logs = [log.read_text() for _, log in started]
            config = (home / "client.json").read_text()
            token = json.loads(config)["token"]
            answers = [
                httpx.post(f"http://127.0.0.1:{port}/token/", json={"email": "admin@localhost", "token": token})
                for port in ports
            ]
        finally:
            for process, _ in started:
                process.terminate()
                process.wait(30)
    assert not any("Traceback" in log for log in logs), logs
    assert all(log.splitlines()[0].startswith("Schedy ") and " is serving " in log.splitlines()[0] for log in logs)
    assert sum("Created the first user, admin@localhost (password: " in log for log in logs) == 1, logs
    assert sum("Wrote a client configuration" in log for log in logs) == 1, logs
    # The configuration on disk is the winner's: its token logs in, on either service.
    assert [answer.status_code for answer in answers] == [200, 200]


def test_a_start_that_cannot_write_the_client_configuration_never_says_it_is_serving(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
    env |= {"HOME": str(tmp_path / "home"), "SCHEDY_CONFIG": str(tmp_path / "a-file" / "client.json")}
    argv = [sys.executable, "-m", "schedy.cli.main", "server", "--port", str(free_port()), "--log-level", "warning"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Cannot write the client configuration" in result.stderr
    assert "is serving" not in result.stdout  # an operator reading the log would think it up
