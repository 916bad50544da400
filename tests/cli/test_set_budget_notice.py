"""``schedy set --max-jobs`` at or below the jobs already made: the change that spends the budget says so."""

from __future__ import annotations


def _made(cli, name: str, count: int, *, finish: bool = True) -> None:
    """Let the search make ``count`` jobs (no budget yet); finish them, or leave the last one running."""
    with cli.db() as db:
        exp = db.get_experiment(name)
        for i in range(count):
            job = exp.next_job()
            if finish or i < count - 1:
                with job:
                    job.results["loss"] = 0.5


def test_set_spending_the_budget_says_done_the_first_time(cli):
    cli.ok("add", "bud", "random", "x", "uniform", "0", "1")
    _made(cli, "bud", 3)
    done = cli("set", "bud", "--max-jobs", "2")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "Experiment 'bud': max jobs none → 2.",
        "It is DONE: its search made 3 jobs, so the budget of 2 is spent and it hands out no job "
        "(a larger --max-jobs, then 'schedy status bud RUNNING', goes on with the search).",
    ]
    assert cli.ok("status", "bud") == "DONE\n"  # at once, not after the service's next sweep


def test_the_library_reads_done_right_after_the_budget_is_spent(cli):
    cli.ok("add", "bud2", "random", "x", "uniform", "0", "1")
    _made(cli, "bud2", 3)
    with cli.db() as db:
        exp = db.get_experiment("bud2")
        exp.max_jobs = 2
        exp.push_updates()
        assert db.get_experiment("bud2").status == "DONE"


def test_a_spent_budget_with_a_job_running_says_when_it_ends(cli):
    cli.ok("add", "busy", "random", "x", "uniform", "0", "1")
    _made(cli, "busy", 2, finish=False)
    done = cli("set", "busy", "--max-jobs", "2")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "Its budget is spent (2 of 2 jobs made): it hands out no new job and becomes DONE once its job queued "
        "or running ends."
    )
    assert cli.ok("status", "busy") == "RUNNING\n"


def test_a_budget_left_to_spend_says_nothing_more(cli):
    cli.ok("add", "room", "random", "x", "uniform", "0", "1")
    _made(cli, "room", 1)
    done = cli("set", "room", "--max-jobs", "5")
    assert done.stderr.splitlines() == ["Experiment 'room': max jobs none → 5."]
