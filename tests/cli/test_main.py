"""What every command shares: clear help, one-line errors, exit statuses (no service needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from schedy import __version__
from tests.cli.conftest import clean_env, schedy_argv


def _schedy(tmp_path, *args, stdin=""):
    return subprocess.run(
        schedy_argv(*args), input=stdin, capture_output=True, text=True, timeout=120,
        env=clean_env(tmp_path), check=False,
    )  # fmt: skip


HELP = {
    (): ["add", "rm", "show", "list", "push", "run", "gen-token", "token", "export", "watch", "server", "user", "set"],
    ("add",): ["-s {RUNNING,DONE}", "manual", "random", "pbt"],
    ("add", "x", "random"): ["HP DIST PARAMETERS", "uniform, normal, loguniform, integer, choice, const",
                             "--sampler {iid,sobol,halton}"],
    ("add", "x", "tpe"): ["{min,max}", "RESULT", "HP DIST PARAMETERS", "--startup-jobs N"],
    ("add", "x", "grid"): ["HP VALUES", "exactly once"],
    ("import",): ["EXPERIMENT", "FILE", "--result NAME", "Optuna"],
    ("add", "x", "pbt"): ["{min,max} RESULT", "--truncate P", "--init HP DIST PARAMETERS", "--explore HP",
                          "--perturb HP MIN MAX", "--population N", "--max-generations N"],
    ("rm",): ["EXPERIMENT [JOB]", "-f, --force"],
    ("show",): ["EXPERIMENT [JOB]"],
    ("list",): ["-t, --table", "-p, --paragraph", "-s FIELD, --sort FIELD", "-d, --decreasing",
                "-f FIELD, --field FIELD", "missing values (and NaN) come last"],
    ("push",): ["-p NAME JSON", "-r NAME JSON", "-s {QUEUED,RUNNING,DONE,CRASHED,PRUNED}"],
    ("run",): ["EXPERIMENT COMMAND [ARG ...]", "--once", "--allow-empty-results", "--ignore-errors",
               "--requeue-on-interrupt", "--heartbeat SECONDS", "%h", "--- RESULTS ---", "exits with status 130",
               "--max-time SECONDS"],
    ("set",): ["EXPERIMENT", "--max-jobs N|none", "--early-stopping POLICY|none", "--seed N|none",
               "--max-retries N|none", "--max-run-time SECONDS|none"],
    ("gen-token",): ["--root ROOT", "--email EMAIL", "--password PASSWORD", "default http://127.0.0.1:8700/",
                     "mode 0600"],
    ("token",): ["list", "revoke"],
    ("token", "revoke"): ["ID"],
    ("export",): ["--format {csv,json}", "-o FILE, --output FILE"],
    ("watch",): ["--interval SECONDS", "--once", "--minimize RESULT", "--maximize RESULT"],
}  # fmt: skip


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: " ".join(c) or "schedy")
def test_help_of_every_command_names_its_arguments(tmp_path, command):
    done = _schedy(tmp_path, *command, "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # undo argparse's wrapping
    for expected in HELP[command]:
        assert expected in text, expected


def test_version_says_which_schedy_is_running(tmp_path):
    """Not the package index's 2018 client: the version, 'self-hosted', and where it is installed."""
    import schedy

    where = Path(schedy.__file__).parent
    narrow = dict(clean_env(tmp_path), COLUMNS="40")  # a long install path on a narrow terminal: still one line
    done = subprocess.run(
        schedy_argv("--version"), capture_output=True, text=True, timeout=120, env=narrow, check=False
    )
    assert done.returncode == 0
    assert done.stdout == f"schedy {__version__} (self-hosted service and client, {where})\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["push", "exp", "-p", "x"], "schedy: Give hyperparameters as NAME VALUE pairs"),
        (
            ["add", "exp", "random", "x", "uniform", "[0, 1, 2]"],
            "schedy: Hyperparameter 'x': uniform takes 2 numbers (low, high), got 3: e.g. x uniform 0 1.",
        ),
        (["run", "exp"], "schedy: Give the command to run after the experiment's name"),
        (["run", "--once", "-n", "2", "exp", "true"], "schedy: Give --once or --max-jobs, not both."),
        (["run", "-j", "0", "exp", "true"], "schedy: -j/--parallel needs at least 1 worker."),
        (
            ["run", "--once", "-j", "2", "exp", "true"],
            "schedy: --once runs one job; for one job per worker give --max-jobs 2.",
        ),
        (
            ["run", "--once", "--gpus", "0,1", "exp", "true"],
            "schedy: --once runs one job; for one job per worker give --max-jobs 2.",
        ),
        (["watch", "--interval", "0", "exp"], "schedy: --interval must be positive."),
    ],
)
def test_wrong_arguments_fail_in_one_line_before_any_request(offline, args, message):
    done = offline(*args)
    assert done.returncode == 2
    assert done.stderr.startswith(message)
    assert len(done.stderr.splitlines()) == 1


def test_argparse_usage_errors_exit_2(tmp_path):
    done = _schedy(tmp_path, "list", "-s")
    assert done.returncode == 2
    assert "expected one argument" in done.stderr


def test_a_gpu_list_with_a_gap_is_a_usage_error(tmp_path):
    done = _schedy(tmp_path, "run", "--gpus", "0,,2", "exp", "true")
    assert done.returncode == 2
    assert "argument --gpus: give device ids separated by commas, e.g. 0,1,2,3 (not '0,,2')" in done.stderr


def test_no_configuration_is_one_readable_line(tmp_path):
    done = _schedy(tmp_path, "list")
    assert done.returncode == 1
    assert done.stderr.startswith("schedy: No Schedy client configuration: ")
    assert "schedy gen-token" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_a_closed_pipe_is_not_an_error(tmp_path):
    # `schedy --help | head -1`: the reader leaves early.
    with subprocess.Popen(schedy_argv("list", "--help"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=clean_env(tmp_path)) as proc:  # fmt: skip
        proc.stdout.read(10)
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait(30)
    assert b"Traceback" not in err


def test_no_service_at_the_configured_url_is_said_at_once(offline):
    """Not a minute of retries labelled "HTTP error": which URL, and how to start a service."""
    import time

    started = time.monotonic()
    done = offline("list")
    assert time.monotonic() - started < 10
    assert done.returncode == 1
    assert done.stderr.startswith("schedy: Nothing answers at http://127.0.0.1:9/ (connection refused).")
    assert "schedy server" in done.stderr
    # Where to change the root: the file given with --config, not the default client.json.
    assert done.stderr.rstrip().endswith(f"(the 'root' of {offline.config}).")
    assert len(done.stderr.splitlines()) == 1
