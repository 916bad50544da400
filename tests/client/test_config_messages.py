"""Configuration messages: the Python API's name SchedyDB's arguments; a caller may name its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schedy import errors
from schedy._config import ClientConfig, load_config
from schedy._transport import RetryPolicy, Transport
from schedy.errors import ConfigurationError

NOBODY = "http://127.0.0.1:9/"  # the discard port: nothing listens
NAMES = {"root": "--root", "email": "the email", "token": "the password"}


def test_no_configuration_names_schedydbs_arguments_by_default_or_the_callers_way(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"or pass config_path or config_override to SchedyDB\.$"):
        load_config(environ={}, home=tmp_path)
    with pytest.raises(ConfigurationError, match=r"or name a file with --config FILE\.$"):
        load_config(environ={}, home=tmp_path, other_way="name a file with --config FILE")


def test_an_empty_file_is_said_to_be_empty(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("  \n")
    with pytest.raises(ConfigurationError, match=r"^Schedy configuration file .*c\.json is empty: write it with"):
        load_config(path, environ={}, home=tmp_path)


def test_keys_given_otherwise_are_named_as_given() -> None:
    def message(**values: str) -> str:
        with pytest.raises(ConfigurationError) as info:
            ClientConfig.from_mapping({"root": NOBODY, "email": "a@b.c", "token": "pw", **values}, "x", names=NAMES)
        return str(info.value)

    assert message(token="") == "The password is empty."
    assert message(email="", token="") == "The email and the password are empty."
    assert message(root="ftp://x") == "--root must be an http(s) URL like 'http://127.0.0.1:8700/', got 'ftp://x'."
    # Without names, as before: the source and the key.
    with pytest.raises(ConfigurationError, match=r"^Schedy configuration from config_override: root must be an"):
        load_config(config_override={"root": "ftp://x", "email": "a@b.c", "token": "t"}, environ={})


def test_an_unreachable_root_given_otherwise_is_named_as_given() -> None:
    config = ClientConfig.from_mapping({"root": NOBODY, "email": "a@b.c", "token": "t"}, "x", names=NAMES)
    transport = Transport(config, retry=RetryPolicy(attempts=1))
    with pytest.raises(errors.ServiceUnreachableError) as info:
        transport.request("GET", "experiments/")
    transport.close()
    assert str(info.value).endswith("point the client at the right one (--root).")


def test_a_file_config_keeps_naming_its_file(tmp_path: Path) -> None:
    path = tmp_path / "lab.json"
    path.write_text(json.dumps({"root": NOBODY, "email": "a@b.c", "token": "t"}))
    assert load_config(path, environ={}).root_name == ""
