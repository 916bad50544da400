"""A root with a bad port (``:87000``, ``:87OO``) or a broken IPv6 address is one sentence, never a traceback.

It used to pass the configuration's check (scheme and host only) and fail where the root was first used,
``urlsplit``'s ``ValueError`` ("Port out of range 0-65535"): a traceback from every ``schedy`` command, a
bare ``ValueError`` from ``SchedyDB()``. A good root still reaches the real service (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import schedy
from schedy.errors import ConfigurationError

BAD = {
    "http://127.0.0.1:87000/": " (its port must be a number up to 65535)",
    "http://127.0.0.1:87OO/": " (its port must be a number up to 65535)",
    "http://127.0.0.1:-1/": " (its port must be a number up to 65535)",
    "http://[::1/": "",
    "http://[::1]:99999/": " (its port must be a number up to 65535)",
}


def _sentence(subject: str, root: str) -> str:
    return f"{subject} must be an http(s) URL like 'http://127.0.0.1:8700/', got {root!r}{BAD[root]}."


@pytest.mark.parametrize("root", list(BAD))
def test_schedydb_says_a_bad_root_as_a_configuration_error(root: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        schedy.SchedyDB(config_override={"root": root, "email": "a@b.c", "token": "t"})
    assert str(raised.value) == _sentence("Schedy configuration from config_override: root", root)
    config = tmp_path / "client.json"
    config.write_text(json.dumps({"root": root, "email": "a@b.c", "token": "t"}))
    with pytest.raises(ConfigurationError) as raised:
        schedy.SchedyDB(config_path=config)
    assert str(raised.value) == _sentence(f"Schedy configuration from file {config}: root", root)


def _schedy(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
    return subprocess.run(
        [sys.executable, "-m", "schedy.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, "HOME": str(home), **env},
        check=False,
    )


def test_every_way_to_give_the_cli_a_bad_root_is_one_line(tmp_path: Path) -> None:
    environment = "Schedy configuration from the environment (SCHEDY_ROOT, SCHEDY_EMAIL, SCHEDY_TOKEN): root"
    for root in ("http://127.0.0.1:87000/", "http://[::1/"):
        done = _schedy("list", home=tmp_path, SCHEDY_ROOT=root, SCHEDY_EMAIL="a@b.c", SCHEDY_TOKEN="t")
        assert (done.returncode, done.stdout, done.stderr) == (1, "", f"schedy: {_sentence(environment, root)}\n")
    config = tmp_path / ".schedy" / "client.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"root": "http://127.0.0.1:87OO/", "email": "a@b.c", "token": "t"}))
    done = _schedy("list", home=tmp_path)
    subject = f"Schedy configuration from file {config}: root"
    assert (done.returncode, done.stderr) == (1, f"schedy: {_sentence(subject, 'http://127.0.0.1:87OO/')}\n")
    done = _schedy(
        "gen-token", "--root", "http://127.0.0.1:87000/", "--email", "a@b.c", "--password", "x", home=tmp_path
    )
    assert done.returncode != 0
    assert done.stderr == f"schedy: {_sentence('--root', 'http://127.0.0.1:87000/')}\n"


def test_a_root_with_a_good_port_still_reaches_the_service(service: Any) -> None:
    with schedy.SchedyDB(config_override=service.client_config) as db:
        db.add_experiment(schedy.ManualSearch("port-ok"))
        assert db.get_experiment("port-ok").name == "port-ok"
