"""The CLI's configuration messages name what its user types (--config, the file), not SchedyDB's arguments."""

from __future__ import annotations

import subprocess

from tests.cli.conftest import clean_env, schedy_argv


def _schedy(tmp_path, *args, **env):
    return subprocess.run(
        schedy_argv(*args), capture_output=True, text=True, timeout=120, env=clean_env(tmp_path, **env), check=False
    )


def test_no_configuration_suggests_config_not_schedydb(tmp_path):
    done = _schedy(tmp_path, "list")
    assert done.returncode == 1
    assert done.stderr == (
        f"schedy: No Schedy client configuration: {tmp_path / '.schedy' / 'client.json'} does not exist. Write it "
        "with `schedy gen-token`, set SCHEDY_ROOT, SCHEDY_EMAIL and SCHEDY_TOKEN, or name a file with --config FILE "
        "(before the command).\n"
    )


def test_an_empty_configuration_file_is_said_to_be_empty(tmp_path):
    (tmp_path / "empty.json").write_text("\n")
    done = _schedy(tmp_path, "--config", str(tmp_path / "empty.json"), "list")
    assert (done.returncode, done.stderr) == (
        1,
        f"schedy: Schedy configuration file {tmp_path / 'empty.json'} is empty: write it with `schedy gen-token`.\n",
    )


def test_help_states_the_real_order_of_the_configuration_sources(tmp_path):
    text = " ".join(_schedy(tmp_path, "--help").stdout.split())
    assert (
        "--config FILE Client configuration file. Without it, the first of: the SCHEDY_ROOT/SCHEDY_EMAIL/"
        "SCHEDY_TOKEN variables, the file $SCHEDY_CONFIG, $SCHEDY_HOME/client.json, ~/.schedy/client.json." in text
    )


def test_the_variables_win_over_schedy_config_as_the_help_says(tmp_path):
    (tmp_path / "b.json").write_text('{"root": "ftp://from-the-file/", "email": "b@x.org", "token": "t"}')
    # The variables are taken (and refused: only SCHEDY_ROOT), the file is never read.
    done = _schedy(tmp_path, "list", SCHEDY_CONFIG=str(tmp_path / "b.json"), SCHEDY_ROOT="http://127.0.0.1:9/")
    assert done.returncode == 1
    assert "SCHEDY_ROOT is set but not SCHEDY_EMAIL, SCHEDY_TOKEN" in done.stderr
    assert "from-the-file" not in done.stderr


def test_user_add_admin_help_promises_nothing_the_service_does_not_do(tmp_path):
    text = " ".join(_schedy(tmp_path, "user", "add", "--help").stdout.split())
    assert "the service grants it nothing more" in text
    assert "Make the user an administrator" not in text
