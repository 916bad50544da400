"""Two clients changing one experiment at once: neither undoes the other's change.

``push_updates`` sends what was assigned or changed since the experiment was
read, and the service keeps what a body leaves out (its row locked while it
merges), so ``schedy set --max-jobs`` in one shell and a pause in another
both hold, whatever the order their reads and writes interleave in.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx

import schedy


def _two(service: Any) -> tuple[schedy.SchedyDB, schedy.SchedyDB]:
    return (
        schedy.SchedyDB(config_override=service.client_config),
        schedy.SchedyDB(config_override=service.client_config),
    )


def test_a_change_pushed_from_a_stale_copy_keeps_a_pause_made_meanwhile(service):
    first, second = _two(service)
    with first, second:
        first.add_experiment(schedy.RandomSearch("shared", {"x": schedy.random.Uniform(0, 1)}))
        stale = first.get_experiment("shared")  # read, as `schedy set` does
        pauser = second.get_experiment("shared")
        pauser.status = pauser.DONE
        pauser.push_updates()
        stale.max_jobs = 5
        stale.push_updates()
        now = second.get_experiment("shared")
        assert now.status == now.DONE  # the pause holds: no job is handed out
        assert now.max_jobs == 5
        assert stale.status == stale.DONE  # the pushing copy took the service's status
        try:
            first.get_experiment("shared").next_job()
        except schedy.errors.NoJobError:
            pass
        else:
            raise AssertionError("a paused experiment handed out a job")


def test_options_changed_by_two_clients_are_both_kept(service):
    first, second = _two(service)
    with first, second:
        first.add_experiment(schedy.ManualSearch("options"))
        a, b = first.get_experiment("options"), second.get_experiment("options")
        b.max_retries = 3
        b.push_updates()
        a.max_jobs = 7
        a.push_updates()
        now = first.get_experiment("options")
        assert (now.max_jobs, now.max_retries) == (7, 3)
        assert (a.max_jobs, a.max_retries) == (7, 3)  # the local copy is the service's now


def test_an_explicit_assignment_is_sent_even_when_it_equals_the_stale_copy(service):
    first, second = _two(service)
    with first, second:
        first.add_experiment(schedy.ManualSearch("resume"))
        stale = first.get_experiment("resume")  # RUNNING
        pauser = second.get_experiment("resume")
        pauser.status = pauser.DONE
        pauser.push_updates()
        stale.status = stale.RUNNING  # the owner resumes it on purpose
        stale.push_updates()
        assert second.get_experiment("resume").status == schedy.Experiment.RUNNING


def test_an_experiment_deleted_meanwhile_is_made_again_by_a_push(service):
    first, second = _two(service)
    with first, second:
        first.add_experiment(schedy.RandomSearch("again", {"x": schedy.random.Uniform(0, 1)}, max_jobs=4))
        exp = first.get_experiment("again")
        second.get_experiment("again").delete()
        exp.seed = 3
        exp.push_updates()
        back = second.get_experiment("again")
        assert isinstance(back, schedy.RandomSearch)
        assert (back.max_jobs, back.seed) == (4, 3)


def test_a_body_without_a_scheduler_changes_only_what_it_names(service):
    with httpx.Client(base_url=service.url, timeout=30) as http:
        session = http.post("token/", json={"email": service.email, "token": service.api_token}).json()
        http.headers["Authorization"] = f"Bearer {session['token']}"
        missing = http.put("experiments/nowhere/", json={"maxJobs": 3})
        assert missing.status_code == 422, missing.text
        assert "does not exist, and a new experiment needs a scheduler" in missing.json()["detail"]
        assert http.get("experiments/nowhere/").status_code == 404  # nothing made
        assert http.put("experiments/here/", json={"scheduler": {"Manual": None}}).status_code == 201
        taken = http.put("experiments/here/", json={"maxJobs": 3}, headers={"If-None-Match": "*"})
        assert taken.status_code == 412, taken.text  # the name is taken, whatever the body lacks
        assert "already exists" in taken.json()["detail"]
        tpe = {
            "TPESearch": {
                "distributions": {"x": {"uniform": {"low": 0, "high": 1}}},
                "objective": "min",
                "resultName": "loss",
            }
        }
        assert http.put("experiments/tpe/", json={"scheduler": tpe}).status_code == 201
        opposite = http.put(
            "experiments/tpe/", json={"earlyStopping": {"asha": {"resultName": "loss", "objective": "max"}}}
        )
        assert opposite.status_code == 422, opposite.text
        assert "use the same objective" in opposite.json()["detail"]
        assert http.put("experiments/tpe/", json={"maxJobs": 9}).status_code == 200
        stored = http.get("experiments/tpe/").json()
        assert stored["scheduler"] == tpe
        assert stored["maxJobs"] == 9
        assert "earlyStopping" not in stored


def test_many_concurrent_changes_of_different_options_all_land(service):
    first, second = _two(service)
    rounds = 25
    errors: list[BaseException] = []

    def change(db: schedy.SchedyDB, option: str) -> None:
        try:
            for value in range(1, rounds + 1):
                exp = db.get_experiment("busy")
                setattr(exp, option, value)
                exp.push_updates()
        except BaseException as exc:  # reported below
            errors.append(exc)

    with first, second:
        first.add_experiment(schedy.ManualSearch("busy"))
        threads = [
            threading.Thread(target=change, args=(first, "max_jobs")),
            threading.Thread(target=change, args=(second, "max_retries")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        now = first.get_experiment("busy")
        assert (now.max_jobs, now.max_retries) == (rounds, rounds)
