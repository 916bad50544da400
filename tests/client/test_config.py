"""Where the client configuration comes from, and what is refused."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import schedy
from schedy._config import load_config
from schedy.errors import ConfigurationError, SchedyError

FILE = {"root": "http://file:8700/", "email": "file@x.org", "token": "file-token", "token_type": "api_token"}
ENV = {"SCHEDY_ROOT": "http://env:8700", "SCHEDY_EMAIL": "env@x.org", "SCHEDY_TOKEN": "env-token"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".schedy").mkdir()
    (tmp_path / ".schedy" / "client.json").write_text(json.dumps(FILE))
    return tmp_path


def write(path: Path, values: dict[str, str]) -> Path:
    path.write_text(json.dumps(values))
    return path


def test_the_default_file_is_home_schedy_client_json(home: Path) -> None:
    config = load_config(environ={}, home=home)
    assert (config.root, config.email, config.token, config.token_type) == (
        "http://file:8700/",
        "file@x.org",
        "file-token",
        "api_token",
    )
    assert config.auth_path == "token/"


def test_environment_variables_beat_the_default_file(home: Path) -> None:
    config = load_config(environ=ENV, home=home)
    assert (config.root, config.email, config.token) == ("http://env:8700/", "env@x.org", "env-token")


def test_schedy_token_type_selects_password_login(home: Path) -> None:
    config = load_config(environ={**ENV, "SCHEDY_TOKEN_TYPE": "password"}, home=home)
    assert config.token_type == "password"
    assert config.auth_path == "passauth/"


def test_incomplete_environment_names_what_is_missing(home: Path) -> None:
    with pytest.raises(ConfigurationError, match="SCHEDY_ROOT, SCHEDY_EMAIL are set but not SCHEDY_TOKEN"):
        load_config(environ={"SCHEDY_ROOT": "http://env/", "SCHEDY_EMAIL": "e@x.org"}, home=home)


def test_schedy_config_names_the_file(home: Path, tmp_path: Path) -> None:
    other = write(tmp_path / "other.json", {**FILE, "email": "other@x.org"})
    assert load_config(environ={"SCHEDY_CONFIG": str(other)}, home=home).email == "other@x.org"


def test_config_path_beats_the_environment(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "explicit.json", {**FILE, "email": "explicit@x.org"})
    assert load_config(path, environ=ENV, home=home).email == "explicit@x.org"
    assert load_config(str(path), environ=ENV, home=home).email == "explicit@x.org"


def test_config_path_may_be_an_open_file(home: Path) -> None:
    assert load_config(io.StringIO(json.dumps(FILE)), environ={}, home=home).email == "file@x.org"


def test_a_complete_override_reads_nothing_else(tmp_path: Path) -> None:
    override = {"root": "http://o:1", "email": "o@x.org", "token": "t"}
    config = load_config(config_override=override, environ={"SCHEDY_CONFIG": "/nonexistent"}, home=tmp_path)
    assert (config.root, config.email) == ("http://o:1/", "o@x.org")


def test_a_partial_override_replaces_keys_of_the_source_found(home: Path) -> None:
    config = load_config(config_override={"root": "http://other:1/"}, environ={}, home=home)
    assert (config.root, config.email, config.token) == ("http://other:1/", "file@x.org", "file-token")


def test_keys_are_never_mixed_between_environment_and_file(home: Path) -> None:
    # The message says why the file's email and token were not used.
    message = "SCHEDY_ROOT is set but not SCHEDY_EMAIL, SCHEDY_TOKEN: the environment replaces client.json as a whole"
    with pytest.raises(ConfigurationError, match=message):
        load_config(environ={"SCHEDY_ROOT": "http://env/"}, home=home)


def test_no_configuration_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="gen-token") as info:
        load_config(environ={}, home=tmp_path)
    assert isinstance(info.value, SchedyError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**FILE, "token_type": "apiToken"}, "token_type must be one of api_token, password"),
        ({**FILE, "root": "ftp://x/"}, "root must be an http"),
        ({**FILE, "root": "http://x/?a=1"}, "query"),
        ({**FILE, "email": 3}, "email must be a string"),
        ({"root": "http://x/"}, "missing email, token"),
    ],
)
def test_invalid_configurations_are_refused(tmp_path: Path, values: dict[str, object], message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigurationError, match=message):
        load_config(path, environ={}, home=tmp_path)


def test_unreadable_and_invalid_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Cannot read"):
        load_config(tmp_path / "missing.json", environ={}, home=tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_config(tmp_path / "bad.json", environ={}, home=tmp_path)
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ConfigurationError, match="JSON object"):
        load_config(tmp_path / "list.json", environ={}, home=tmp_path)


def test_a_file_saved_with_a_byte_order_mark_is_read_and_one_in_another_encoding_refused(tmp_path: Path) -> None:
    """Windows' Notepad may save UTF-8 with a byte-order mark; Latin-1 is refused in a sentence, not a traceback."""
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(FILE).encode())
    assert load_config(path, environ={}, home=tmp_path).email == "file@x.org"
    path.write_bytes(json.dumps({**FILE, "email": "jos\u00e9@x.org"}).encode("latin-1").replace(b"\\u00e9", b"\xe9"))
    with pytest.raises(ConfigurationError, match=r"bom\.json is not UTF-8 text: save it as UTF-8\."):
        load_config(path, environ={}, home=tmp_path)


def test_unknown_keys_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", {**FILE, "future": "x"})
    assert load_config(path, environ={}, home=tmp_path).email == "file@x.org"


def test_the_token_is_not_shown_in_repr(home: Path) -> None:
    assert "file-token" not in repr(load_config(environ={}, home=home))


def test_schedydb_reads_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with schedy.SchedyDB() as db:
        assert db.root == "http://env:8700/"


def test_schedydb_without_configuration_raises_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for key in (*ENV, "SCHEDY_CONFIG", "SCHEDY_TOKEN_TYPE", "SCHEDY_HOME"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigurationError):
        schedy.SchedyDB()


def test_schedy_home_holds_the_default_file_as_for_the_server(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write(data / "client.json", {**FILE, "email": "home@x.org"})
    assert load_config(environ={"SCHEDY_HOME": str(data)}, home=home).email == "home@x.org"
