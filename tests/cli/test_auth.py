"""``schedy gen-token`` and ``schedy token list|revoke`` against the real service."""

from __future__ import annotations

import json
import socket
import stat
import subprocess

import httpx

from tests.cli.conftest import clean_env, schedy_argv


def _gen_token(cli, *args, stdin="", env=None, config=None):
    argv = schedy_argv(*(["--config", str(config)] if config else []), "gen-token", "--root", cli.service.url, *args)
    # A new session has no controlling terminal, so getpass reads standard input.
    return subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(cli.home, **(env or {})),
        start_new_session=True,
        check=False,
    )


def _logs_in(url, config):
    answer = httpx.post(url + "token/", json={"email": config["email"], "token": config["token"]})
    return answer.status_code == 200


def test_gen_token_writes_a_private_working_config(cli, tmp_path):
    target = tmp_path / "fresh" / "dir" / "client.json"
    done = _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password, config=target)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Your token has been saved to {target}.\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    written = json.loads(target.read_text())
    assert written == {
        "root": cli.service.url,
        "email": cli.service.email,
        "token": written["token"],
        "token_type": "api_token",
    }
    assert written["token"] not in (cli.service.api_token, cli.service.password)
    assert _logs_in(cli.service.url, written)
    assert [p.name for p in target.parent.iterdir()] == ["client.json"]  # no temporary file left


def test_gen_token_takes_the_password_on_stdin_as_schedy_user_does(cli, tmp_path):
    target = tmp_path / "client.json"
    args = ("--email", cli.service.email, "--password-stdin", "--label", "ci runner")
    done = _gen_token(cli, *args, stdin=f"{cli.service.password}\n", config=target)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Your token has been saved to {target}.\n"  # no prompt
    assert _logs_in(cli.service.url, json.loads(target.read_text()))
    both = _gen_token(cli, "--password", "x", "--password-stdin", config=tmp_path / "other.json")
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr
    empty = _gen_token(cli, "--email", cli.service.email, "--password-stdin", config=tmp_path / "none.json")
    assert empty.returncode == 1
    assert empty.stderr.startswith("schedy: No email or password given")
    assert not (tmp_path / "none.json").exists()


def test_gen_token_prompts_for_what_is_missing(cli, tmp_path):
    target = tmp_path / "client.json"
    done = _gen_token(cli, stdin=f"{cli.service.email}\n{cli.service.password}\n", config=target)
    assert done.returncode == 0, done.stderr
    assert "Email: " in done.stdout
    assert done.stderr == ""  # no "password input may be echoed" warning: a pipe, nobody sees it
    assert _logs_in(cli.service.url, json.loads(target.read_text()))


def test_gen_token_without_a_terminal_or_input_says_what_to_pass(cli, tmp_path):
    done = _gen_token(cli, "--email", cli.service.email, stdin="", config=tmp_path / "client.json")
    assert done.returncode == 1
    assert done.stderr.startswith("schedy: No email or password given: pass --email and --password")
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_gen_token_replaces_an_open_config_with_a_private_one(cli, tmp_path):
    target = tmp_path / "client.json"
    target.write_text("{}")
    target.chmod(0o644)
    done = _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password, config=target)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["email"] == cli.service.email


def test_gen_token_finds_the_config_path_like_the_client(cli, tmp_path):
    by_env = tmp_path / "env" / "client.json"
    done = _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password,
                      env={"SCHEDY_CONFIG": str(by_env)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert by_env.exists()
    schedy_home = tmp_path / "schedy-home"
    done = _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password,
                      env={"SCHEDY_HOME": str(schedy_home)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (schedy_home / "client.json").exists()
    done = _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((cli.home / ".schedy" / "client.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((cli.home / ".schedy").stat().st_mode) == 0o700


def test_gen_token_with_a_wrong_password_writes_nothing(cli, tmp_path):
    target = tmp_path / "nope" / "client.json"
    done = _gen_token(cli, "--email", cli.service.email, "--password", "wrong-password", config=target)
    assert done.returncode == 1
    assert done.stderr == "schedy: Wrong email or password.\n"
    assert not target.parent.exists()


def _token_rows(output):
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in output.splitlines()[3:-1]]


def test_token_list_and_revoke(cli, tmp_path):
    second = tmp_path / "second.json"
    assert _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password,
                      config=second).returncode == 0  # fmt: skip
    listed = cli.ok("token", "list")
    header = [cell.strip() for cell in listed.splitlines()[1].strip("|").split("|")]
    assert header == ["id", "label", "created", "revoked", "used here"]
    rows = _token_rows(listed)
    assert [(row[1], row[3], row[4]) for row in rows] == [
        ("test", "", "yes (this configuration)"),  # the configuration this command ran with
        (f"gen-token on {socket.gethostname()}", "", ""),
    ]
    assert cli.service.api_token not in listed
    assert json.loads(second.read_text())["token"] not in listed
    # Revoke the new token; the test's own keeps working.
    assert cli.ok("token", "revoke", rows[1][0]) == f"API token {rows[1][0]} revoked.\n"
    after = _token_rows(cli.ok("token", "list"))
    assert after[0][3] == ""
    assert after[1][3].endswith("Z")
    assert not _logs_in(cli.service.url, json.loads(second.read_text()))
    refused = cli("--config", str(second), "list")
    assert refused.returncode == 1
    assert (
        "This API token was revoked: 'schedy gen-token' logs in with your password and saves a new one."
        in refused.stderr
    )


def test_token_revoke_someone_elses_token_is_not_found(cli):
    other = cli.service.new_user()
    with httpx.Client(base_url=cli.service.url) as http:
        jwt = http.post("token/", json={"email": other.email, "token": other.api_token}).json()["token"]
        theirs = http.get("tokens/", headers={"Authorization": f"Bearer {jwt}"}).json()["items"][0]["id"]
    done = cli("token", "revoke", str(theirs))
    assert done.returncode == 1
    assert done.stderr == f"schedy: You have no API token with id {theirs}: 'schedy token list' lists yours.\n"
    assert _logs_in(cli.service.url, {"email": other.email, "token": other.api_token})


def test_gen_token_label_names_the_token_in_token_list(cli, tmp_path):
    done = _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password, "--label", "gpu-node-3",
                      config=tmp_path / "node3.json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [row[1] for row in _token_rows(cli.ok("token", "list"))] == ["test", "gpu-node-3"]
    refused = _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password, "--label", "",
                         config=tmp_path / "empty.json")  # fmt: skip
    assert refused.returncode == 1
    assert "A token's label is 1 to 200 printable characters" in refused.stderr
    assert not (tmp_path / "empty.json").exists()
