"""Notices of ``schedy token revoke`` and ``schedy gen-token`` that change who this machine is.

Revoking the token the configuration itself uses logged the machine out with only ``API token 5
revoked.``; the next command failed. ``gen-token`` over another user's configuration replaced it
without a word. Each now says so in one line on standard error.
"""

from __future__ import annotations

import json

from tests.cli.test_auth import _gen_token, _token_rows


def test_revoking_this_configurations_own_token_says_the_machine_is_logged_out(cli, tmp_path):
    second = tmp_path / "second.json"
    made = _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password, config=second)
    assert made.returncode == 0, made.stderr
    [own] = [row[0] for row in _token_rows(cli.ok("--config", str(second), "token", "list")) if row[4]]

    other = cli("token", "revoke", own)  # from the test's own configuration: not its token, no notice
    assert (other.returncode, other.stdout, other.stderr) == (0, f"API token {own} revoked.\n", "")
    third = tmp_path / "third.json"
    assert _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password,
                      config=third).returncode == 0  # fmt: skip
    [mine] = [row[0] for row in _token_rows(cli.ok("--config", str(third), "token", "list")) if row[4]]

    done = cli("--config", str(third), "token", "revoke", mine)

    assert done.returncode == 0
    assert done.stdout == f"API token {mine} revoked.\n"
    assert done.stderr == (
        "schedy: that was this configuration's token: this machine is logged out; "
        f"schedy --config {third} gen-token logs in with your password and saves a new one.\n"
    )
    assert cli("--config", str(third), "list").returncode == 1  # as said: logged out


def test_gen_token_over_another_users_configuration_names_the_email_replaced(cli, tmp_path):
    other = cli.service.new_user()
    target = tmp_path / "client.json"
    target.write_text(json.dumps({"root": cli.service.url, "email": other.email, "token": other.api_token}))

    done = _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password, config=target)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Your token has been saved to {target}.\n"
    assert done.stderr == (
        f"schedy: it replaced the configuration of {other.email} (whose token stays valid); "
        "--config FILE keeps one configuration per user.\n"
    )
    assert json.loads(target.read_text())["email"] == cli.service.email
    again = _gen_token(cli, "--email", cli.service.email, "--password", cli.service.password, config=target)
    assert (again.returncode, again.stderr) == (0, "")  # the same user's: nothing to say
