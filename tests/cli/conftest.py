"""Fixtures of the CLI tests: the ``schedy`` command, run as a subprocess against the real service.

``cli`` runs ``python -m schedy.cli.main --config FILE …`` for a fresh user
of the session's service (SQLite and PostgreSQL, through ``service``),
with a private HOME so that nothing reads or writes the real
``~/.schedy``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import schedy

#: Variables that would point the client elsewhere than the test's config.
_SCRUBBED = ("SCHEDY_ROOT", "SCHEDY_EMAIL", "SCHEDY_TOKEN", "SCHEDY_TOKEN_TYPE", "SCHEDY_CONFIG", "SCHEDY_HOME")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``schedy`` subprocess: no SCHEDY_* variable, a private HOME."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env["HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def schedy_argv(*args: str) -> list[str]:
    """The command line of the ``schedy`` console script, run by this interpreter."""
    return [sys.executable, "-m", "schedy.cli.main", *args]


@dataclass
class Cli:
    """Runs ``schedy`` commands as a user of the service, with a config file."""

    service: Any
    config: Path
    home: Path

    def argv(self, *args: str) -> list[str]:
        """``schedy --config FILE ARGS…``."""
        return schedy_argv("--config", str(self.config), *args)

    def __call__(
        self, *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run one command to its end; never raises on a non-zero exit."""
        return subprocess.run(
            self.argv(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=clean_env(self.home, **(env or {})),
            check=False,
        )

    def ok(self, *args: str, stdin: str = "") -> str:
        """Run a command that must succeed; return its standard output."""
        done = self(*args, stdin=stdin)
        assert done.returncode == 0, f"schedy {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return done.stdout

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a command without waiting for it."""
        return subprocess.Popen(self.argv(*args), env=clean_env(self.home), **kwargs)

    def db(self) -> schedy.SchedyDB:
        """The same user through the client library, to set up and check what the commands did."""
        return schedy.SchedyDB(config_override=self.service.client_config, heartbeat=0)


@pytest.fixture
def cli(service: Any, tmp_path: Path) -> Cli:
    """``schedy`` for a fresh user of the real service, configured by a file (``--config``)."""
    config = tmp_path / "client.json"
    config.write_text(json.dumps(service.client_config))
    home = tmp_path / "home"
    home.mkdir()
    return Cli(service=service, config=config, home=home)


@pytest.fixture
def offline(tmp_path: Path) -> Cli:
    """``schedy`` configured for a service that is not there (port 9): for errors found before any request."""
    config = tmp_path / "client.json"
    config.write_text(json.dumps({"root": "http://127.0.0.1:9/", "email": "a@b.c", "token": "t"}))
    home = tmp_path / "home"
    home.mkdir()
    return Cli(service=None, config=config, home=home)
