"""Every wrong argument: one line naming the option as typed, exit status 2, before any request (docs/cli.md)."""

from __future__ import annotations

import subprocess

import pytest

from schedy.errors import ResourceNotFoundError, ServerError
from tests.cli.conftest import clean_env, schedy_argv

_TPE = ["add", "t", "tpe", "min", "loss", "x", "uniform", "0", "1"]
_PBT = ["add", "p", "pbt", "max", "acc", "--init", "lr", "loguniform", "1e-4", "0.1"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        # Values out of range: argparse's converters and the library's rules, the same one line.
        ([*_TPE, "--max-jobs", "-1"], "argument --max-jobs: must be a positive integer, got -1."),
        ([*_TPE, "--max-jobs", "0"], "argument --max-jobs: must be a positive integer, got 0."),
        ([*_TPE, "--startup-jobs", "-1"], "argument --startup-jobs: must be an integer from 0 to 1000000, got -1."),
        ([*_TPE, "--seed", "-1"], "argument --seed: must not be negative, got -1."),
        ([*_TPE, "--seed", "99999999999999999999999"],
         "argument --seed: must be a non-negative integer below 2**63, got 99999999999999999999999."),
        ([*_TPE, "--max-run-time", "1e20"],
         "argument --max-run-time: must be a positive number of seconds up to 1,000,000,000, got '1e20'."),
        (["set", "rr", "--max-jobs", "0"], "argument --max-jobs: must be a positive integer or none, got 0."),
        (["set", "rr", "--max-run-time", "1e20"],
         "argument --max-run-time: must be a positive number of seconds up to 1,000,000,000 or none, got '1e20'."),
        (["run", "--max-time", "0", "rr", "true"], "argument --max-time: must be a positive number of seconds, got 0."),
        (["run", "-n", "-1", "rr", "true"], "--max-jobs cannot be negative."),
        # PBT: the CLI's options, checked before sending.
        (_PBT, "--init distributions need --population N: how many members to sample from them."),
        ([*_PBT, "--population", "0"], "argument --population: must be a positive integer, got 0."),
        ([*_PBT, "--population", "4", "--max-generations", "0"],
         "argument --max-generations: must be a positive integer, got 0."),
        ([*_PBT, "--population", "4", "--explore", "foo"],
         "--explore 'foo' names a hyperparameter no --init samples: add --init foo DIST PARAMETERS, "
         "or drop --explore foo."),
        ([*_PBT, "--population", "4", "--truncate", "0.9"],
         "argument --truncate: must be above 0 and at most 0.5, got 0.9."),
        # Names the service would refuse.
        (["add", "tab\tx", "manual"], "An experiment name must be printable characters; 'tab\\tx' holds '\\t'."),
        (["add", "L" * 5000, "manual"], "An experiment name has at most 1,000 characters; this one has 5,000."),
        (["add", "..", "manual"], "An experiment cannot be named '..': HTTP clients read it as a path step."),
        # Help and wording.
        (["watch", "big", "--once", "--until-done"], "argument --until-done: not allowed with argument --once."),
        (["add", "x", "tpe"], "the following arguments are required: {min,max}, RESULT, HP DIST PARAMETERS. "
                              "('schedy add EXPERIMENT tpe --help' tells more.)"),
        (["list", "--config", "x"],
         "unrecognized arguments: --config. --config goes before the command: schedy --config FILE COMMAND …"),
        (["add", "-x", "manual"], "the following arguments are required: SCHEDULER. '-x' was read as an option; "
                                  "if it is a name, put -- before it: schedy add -- -x …"),
        (["push", "m", "-p", "x", "1", "-r", "acc"],
         "Give results as NAME VALUE pairs; got 1 word (acc), so 'acc' has no value."),
    ],
    ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else None,
)  # fmt: skip
def test_a_wrong_argument_is_one_line_and_exit_status_2(offline, args, line):
    done = offline(*args)
    assert (done.returncode, done.stderr) == (2, f"schedy: {line}\n")


def test_an_integer_past_python_s_digit_limit_is_past_a_float_s_range_in_one_short_line(offline):
    done = offline("push", "m", "-p", "x", "1" * 5000)
    assert done.returncode == 2
    assert done.stderr == (
        "schedy: The value of hyperparameter 'x' cannot be sent: an integer of 5000 digits is past a float's "
        "range (1.8e308), which the service refuses: send it as a float or a string.\n"
    )


def _schedy(tmp_path, *args):
    env = clean_env(tmp_path, SCHEDY_HOME=str(tmp_path / "home"), SCHEDY_CONFIG=str(tmp_path / "home" / "c.json"))
    return subprocess.run(schedy_argv(*args), capture_output=True, text=True, timeout=120, env=env, check=False)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["server", "--port", "99999"], "--port must be between 1 and 65535, got 99999."),
        (["server", "--workers", "0", "--port", "8997"], "--workers must be between 1 and 256, got 0."),
        (["server", "--tls-key", "/x", "--port", "8997"],
         "--tls-key needs --tls-cert: pass the certificate too, or neither for plain HTTP."),
        (["database", "copy", "sqlite:///{tmp}/c.db", "--artifacts-from", "/x", "--database", "sqlite:///{tmp}/s.db"],
         "--artifacts-from needs --artifacts-to, the store to copy the artifact files into."),
        (["user", "add", "not an email", "--no-password", "--database", "sqlite:///{tmp}/u.db"],
         "'not an email' is not an email address: give one such as ada@example.com."),
    ],
    ids=["port", "workers", "tls-key", "artifacts-from", "email"],
)  # fmt: skip
def test_the_service_commands_refuse_a_wrong_argument_with_status_2(tmp_path, args, line):
    done = _schedy(tmp_path, *(arg.replace("{tmp}", str(tmp_path)) for arg in args))
    assert (done.returncode, done.stderr) == (2, f"schedy: {line}\n")
    assert not list(tmp_path.glob("*.db"))  # refused before anything was created


def test_a_refusal_says_the_service_s_sentence_without_the_route(cli):
    for args in (["show", "nosuch"], ["rm", "-f", "nosuch"], ["set", "nosuch", "--max-jobs", "3"]):
        done = cli(*args)
        assert (done.returncode, done.stderr) == (1, "schedy: Experiment 'nosuch' does not exist.\n"), args


def test_an_answer_without_a_sentence_keeps_the_status_and_route():
    from schedy.cli.main import error_line

    bare = ServerError("", 502)
    bare.args = ("HTTP error 502 on GET experiments/: an HTML page titled '502 Bad Gateway'",)
    assert error_line(bare) == "HTTP error 502 on GET experiments/: an HTML page titled '502 Bad Gateway'"
    empty = ResourceNotFoundError("", 404)
    empty.args = ("HTTP error 404 on GET experiments/x/: <no message from the service>",)
    assert error_line(empty).startswith("HTTP error 404 on GET experiments/x/")


def test_show_labels_tpe_options_in_words(cli):
    cli.ok(*_TPE, "--startup-jobs", "0")
    lines = cli.ok("show", "t").splitlines()
    assert "startup jobs: 0" in lines
    assert not [line for line in lines if line.startswith("nStartupJobs")]
