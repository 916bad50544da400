"""A ``~`` left in ``SCHEDY_HOME`` or ``SCHEDY_CONFIG`` is the home directory, for the service as for the client.

The shell expands ``~`` only where it is unquoted at a word's start: ``SCHEDY_HOME='~/sh'``, a systemd
unit's ``Environment=`` or a job scheduler's environment hand Schedy the ``~`` itself. ``schedy gen-token``
always took it as the home directory; the service made a directory named ``~`` in its working directory
(its database, its client configuration), which no client found.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from schedy.server import settings
from schedy.testing import free_port
from tests.cli.conftest import clean_env, schedy_argv


def _list(home: Path, cwd: Path, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``schedy list`` in ``cwd``, with ``variables`` saying where the configuration is."""
    env = clean_env(home, **variables)
    return subprocess.run(
        schedy_argv("list"), capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False
    )


def test_the_service_puts_its_data_under_the_home_directory_and_clients_find_it(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = clean_env(home, SCHEDY_HOME="~/sh")
    argv = schedy_argv("server", "--port", str(free_port()), "--log-level", "warning")
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=work
    ) as server:
        try:
            assert server.stdout is not None
            lines = [server.stdout.readline() for _ in range(4)]
            assert f"is serving sqlite:///{home}/sh/schedy.db at " in lines[0], lines
            assert f"Wrote a client configuration to {home}/sh/client.json: " in lines[3], lines
            assert (home / "sh" / "schedy.db").is_file()
            assert list(work.iterdir()) == []  # no ./~/sh under the working directory
            # The client, given the same variable (or the file's path with a ~), finds that configuration.
            for variables in ({"SCHEDY_HOME": "~/sh"}, {"SCHEDY_CONFIG": "~/sh/client.json"}):
                done = _list(home, work, variables)
                for _ in range(50):  # the service may still be starting
                    if done.returncode == 0 or "Cannot reach" not in done.stderr:
                        break
                    done = _list(home, work, variables)
                assert done.returncode == 0, (variables, done.stderr)
        finally:
            server.terminate()
            server.wait(30)
    assert list(work.iterdir()) == []


def test_the_service_settings_expand_a_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SCHEDY_DATABASE_URL", raising=False)
    monkeypatch.delenv("SCHEDY_CONFIG", raising=False)
    monkeypatch.setenv("SCHEDY_HOME", "~/sh")
    assert settings.data_dir() == tmp_path / "sh"
    assert settings.default_database_url() == f"sqlite:///{tmp_path}/sh/schedy.db"
    assert settings.default_client_config_path() == tmp_path / "sh" / "client.json"
    monkeypatch.setenv("SCHEDY_CONFIG", "~/elsewhere/c.json")
    assert settings.default_client_config_path() == tmp_path / "elsewhere" / "c.json"


@pytest.mark.parametrize("how", ["--database", "SCHEDY_DATABASE_URL"])
def test_a_sqlite_url_written_as_the_help_shows_it_opens_the_file_in_the_home_directory(
    tmp_path: Path, how: str
) -> None:
    """``sqlite:///~/.schedy/other.db``, the form ``--help`` gives the default in, is under the home directory."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    url = "sqlite:///~/.schedy/other.db"
    env = clean_env(home, **({"SCHEDY_DATABASE_URL": url} if how == "SCHEDY_DATABASE_URL" else {}))
    argv = ["user", "add", "tilde@example.org", "--no-password"] + (["--database", url] if how == "--database" else [])
    done = subprocess.run(
        schedy_argv(*argv), capture_output=True, text=True, env=env, cwd=work, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (home / ".schedy" / "other.db").is_file()
    assert list(work.iterdir()) == []  # no ./~ under the working directory
    listing = ["user", "list"] + (["--database", url] if how == "--database" else [])
    listed = subprocess.run(
        schedy_argv(*listing), capture_output=True, text=True, env=env, cwd=work, timeout=60, check=False
    )
    assert "tilde@example.org" in listed.stdout, listed.stderr
