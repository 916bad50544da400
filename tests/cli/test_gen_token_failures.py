"""``schedy gen-token`` that cannot finish leaves no live token nobody knows; its errors name what was typed."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from schedy.cli import main as cli_main
from tests.cli.test_auth import _gen_token, _token_rows

#: A port where nothing listens (the discard port).
NOBODY = "http://127.0.0.1:9/"


def _tokens(cli):
    """``(id, revoked)`` of the user's API tokens."""
    return [(row[0], row[3]) for row in _token_rows(cli.ok("token", "list"))]


def _login(cli):
    return ("--email", cli.service.email, "--password", cli.service.password)


def test_a_directory_as_destination_fails_before_any_token_is_made(cli, tmp_path):
    before = _tokens(cli)
    done = _gen_token(cli, *_login(cli), config=tmp_path)
    assert done.returncode == 1
    assert done.stderr == f"schedy: Cannot write the configuration {tmp_path}: Is a directory.\n"
    assert _tokens(cli) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client.json", "home"]  # no temporary file left


def test_a_directory_that_cannot_be_made_fails_before_any_token_is_made(cli, tmp_path):
    (tmp_path / "plain").write_text("a file, not a directory")
    before = _tokens(cli)
    done = _gen_token(cli, *_login(cli), config=tmp_path / "plain" / "client.json")
    assert done.returncode == 1
    assert done.stderr.startswith(f"schedy: Cannot write the configuration {tmp_path / 'plain' / 'client.json'}: ")
    assert _tokens(cli) == before


def test_a_write_that_fails_after_the_token_revokes_it(cli, tmp_path, monkeypatch, capsys):
    for name in ("SCHEDY_ROOT", "SCHEDY_EMAIL", "SCHEDY_TOKEN", "SCHEDY_CONFIG", "SCHEDY_HOME"):
        monkeypatch.delenv(name, raising=False)
    target = tmp_path / "new.json"

    def full_disk(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    argv = ["--config", str(target), "gen-token", "--root", cli.service.url, *_login(cli), "--label", "lost"]
    assert cli_main.main(argv) == 1
    monkeypatch.undo()
    error = capsys.readouterr().err
    rows = _token_rows(cli.ok("token", "list"))
    lost = [row for row in rows if row[1] == "lost"]
    assert len(lost) == 1
    assert lost[0][3].endswith("Z")  # revoked
    assert error == (
        f"schedy: Cannot write the configuration {target}: No space left on device; "
        f"the new API token {lost[0][0]} was revoked, nothing was written.\n"
    )
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".new.json")] == []


def test_it_warns_when_the_schedy_variables_will_be_used_instead_of_the_file(cli):
    env = {"SCHEDY_ROOT": cli.service.url, "SCHEDY_EMAIL": cli.service.email, "SCHEDY_TOKEN": "stale"}
    done = _gen_token(cli, *_login(cli), env=env)
    assert done.returncode == 0, done.stderr
    written = cli.home / ".schedy" / "client.json"
    assert done.stdout == f"Your token has been saved to {written}.\n"
    assert done.stderr == (
        f"schedy: SCHEDY_ROOT, SCHEDY_EMAIL, SCHEDY_TOKEN are set and will be used instead of {written}: "
        f"unset them (or pass --config {written}) to use the new token.\n"
    )
    one = _gen_token(cli, *_login(cli), env={"SCHEDY_TOKEN": "stale"})
    assert one.stderr.startswith("schedy: SCHEDY_TOKEN is set and will be used instead of")
    # --config beats the variables: the file written is the one used, nothing to warn about.
    named = _gen_token(cli, *_login(cli), env=env, config=cli.home / "named.json")
    assert named.returncode == 0, named.stderr
    assert named.stderr == ""


def test_an_empty_password_is_said_so_and_no_other_file_is_read(cli, tmp_path):
    # A default file that the old code fell back to (and named in its message).
    (cli.home / ".schedy").mkdir()
    (cli.home / ".schedy" / "client.json").write_text(json.dumps(cli.service.client_config))
    target = tmp_path / "x.json"
    done = _gen_token(cli, "--email", cli.service.email, "--password-stdin", stdin="\n", config=target)
    assert (done.returncode, done.stderr) == (1, "schedy: The password is empty.\n")
    empty_email = _gen_token(cli, "--password", "x", stdin="\n", config=target)
    assert (empty_email.returncode, empty_email.stderr) == (1, "schedy: The email is empty.\n")
    assert not target.exists()


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("ftp://x", "schedy: --root must be an http(s) URL like 'http://127.0.0.1:8700/', got 'ftp://x'.\n"),
        ("http://x/?a=1", "schedy: --root must not have a query or fragment.\n"),
        ("", "schedy: --root is empty.\n"),
    ],
)
def test_a_bad_root_is_named_as_typed(cli, tmp_path, root, message):
    done = _gen_token(cli, "--root", root, *_login(cli), config=tmp_path / "x.json")
    assert (done.returncode, done.stderr) == (1, message)


def test_nothing_listening_at_the_root_names_root(cli, tmp_path):
    done = _gen_token(cli, "--root", NOBODY, *_login(cli), config=tmp_path / "x.json")
    assert done.returncode == 1
    assert done.stderr.startswith(f"schedy: Nothing answers at {NOBODY} (connection refused).")
    assert done.stderr.endswith("or point the client at the right one (--root).\n")
    assert not list(tmp_path.glob(".x.json.*"))  # the temporary file made beforehand is gone


@pytest.mark.parametrize("token_id", ["0", "-5", "abc", "99999999999999999999999"])
def test_token_revoke_words_every_unknown_id_alike(cli, token_id):
    done = cli("token", "revoke", token_id)
    assert (done.returncode, done.stderr) == (
        1,
        f"schedy: You have no API token with id {token_id}: 'schedy token list' lists yours.\n",
    )


def test_an_api_token_sent_as_the_session_token_gets_a_hint(cli):
    answer = httpx.get(cli.service.url + "experiments/", headers={"Authorization": f"Bearer {cli.service.api_token}"})
    assert answer.status_code == 401
    assert "API tokens go to token/" in answer.json()["detail"]
