"""A ``~`` left in a configuration path is the home directory, as ``schedy gen-token`` and ``schedy server`` take it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import schedy
from schedy._config import load_config

FILE = {"root": "http://file:8700/", "email": "file@x.org", "token": "file-token"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "sh").mkdir()
    (tmp_path / "sh" / "client.json").write_text(json.dumps(FILE))
    return tmp_path


def test_a_tilde_in_schedy_home_or_schedy_config_is_the_home_directory(home: Path) -> None:
    assert load_config(environ={"SCHEDY_HOME": "~/sh"}, home=home).email == "file@x.org"
    assert load_config(environ={"SCHEDY_HOME": "~/sh/"}, home=home).email == "file@x.org"
    assert load_config(environ={"SCHEDY_CONFIG": "~/sh/client.json"}, home=home).email == "file@x.org"
    assert load_config("~/sh/client.json", environ={}, home=home).email == "file@x.org"


def test_schedydb_finds_the_file_of_a_quoted_tilde(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``SCHEDY_HOME='~/sh' python train.py``: the user's own home, from the environment."""
    monkeypatch.setenv("HOME", str(home))
    for name in ("SCHEDY_ROOT", "SCHEDY_EMAIL", "SCHEDY_TOKEN", "SCHEDY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SCHEDY_HOME", "~/sh")
    with schedy.SchedyDB() as db:
        assert db.root == "http://file:8700/"


def test_a_missing_file_is_named_with_the_home_directory(tmp_path: Path) -> None:
    with pytest.raises(schedy.errors.ConfigurationError, match=f"No Schedy client configuration: {tmp_path}/nowhere/"):
        load_config(environ={"SCHEDY_HOME": "~/nowhere"}, home=tmp_path)
