"""``schedy status`` and ``schedy add --max-jobs`` against the real service."""

from __future__ import annotations


def test_status_prints_and_marks_done_and_running(cli):
    cli.ok("add", "--max-jobs", "5", "exp", "random", "x", "uniform", '{"low": 0, "high": 1}')
    assert cli.ok("status", "exp").strip() == "RUNNING"
    done = cli("status", "exp", "done")
    assert done.returncode == 0
    assert "was RUNNING, now DONE" in done.stderr
    with cli.db() as db:
        exp = db.get_experiment("exp")
        assert exp.status == "DONE"
        assert exp.max_jobs == 5
        assert exp.distributions["x"].high == 1  # the definition was kept
    assert cli.ok("status", "exp").strip() == "DONE"
    cli.ok("status", "exp", "RUNNING")
    with cli.db() as db:
        assert db.get_experiment("exp").status == "RUNNING"


def test_status_refuses_an_unknown_status_and_a_missing_experiment(cli):
    cli.ok("add", "exp2", "manual")
    bad = cli("status", "exp2", "PAUSED")
    assert bad.returncode != 0
    assert "invalid choice" in bad.stderr
    missing = cli("status", "nope", "DONE")
    assert missing.returncode != 0
    assert "nope" in missing.stderr
    refused = cli("add", "--max-jobs", "0", "exp3", "manual")
    assert refused.returncode == 2
    assert "argument --max-jobs: must be a positive integer, got 0" in refused.stderr
