"""Workers of the public 0.1.0b6 client drive a PBT experiment to the end, in parallel.

``test_client_0_1_0b6.py`` checks that the old client's PBT definition
round-trips and that one sequential worker gets its 4 × 2 jobs. Here
several old-client processes train at once, the way that client's users
ran PBT: each job continues the results its parent left (the old client
knows nothing of members or parents; it just reads ``job.results``), and
a worker that gets no job (every member busy) asks again until the
experiment is DONE.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tests.compat.conftest import wait_for

_PBT_WORKER = """
    import os, time
    db = connect()
    exp = db.get_experiment(ARGS["experiment"])
    open(ARGS["ready"], "w").close()
    while not os.path.exists(ARGS["go"]):
        time.sleep(0.005)
    OUT["seen"] = []
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            job = exp.next_job()
        except NoJobError:
            if db.get_experiment(ARGS["experiment"]).status == "DONE":
                break
            time.sleep(0.05)
            continue
        with job:
            OUT["seen"].append({"id": job.job_id, "results": dict(job.results)})
            steps = job.results.get("steps", 0) + 1
            job.results = dict(job.results, steps=steps, loss=job.hyperparameters["lr"] / steps)
    OUT["status"] = db.get_experiment(ARGS["experiment"]).status
"""


def test_old_client_workers_drive_pbt_to_done_each_job_continuing_its_parent(old: Any, raw: Any) -> None:
    population, generations, workers = 4, 4, 3
    old.run("""
        db = connect()
        db.add_experiment(schedy.PopulationBasedTraining(
            "pbt-parallel", objective=schedy.pbt.MINIMIZE, result_name="loss", exploit=Truncate(0.25),
            explore={"lr": Perturb()}, initial_distributions={"lr": Uniform(0.01, 0.1)},
            population_size=ARGS["population"], max_generations=ARGS["generations"]))
    """, population=population, generations=generations)
    go = old.workdir / "go"
    ready = [old.workdir / f"ready-{w}" for w in range(workers)]
    running = [old.start(_PBT_WORKER, experiment="pbt-parallel", ready=str(ready[w]), go=str(go))
               for w in range(workers)]
    wait_for(ready)
    go.touch()
    outs = [run.result() for run in running]
    assert [out["status"] for out in outs] == ["DONE"] * workers
    seen = [s for out in outs for s in out["seen"]]

    jobs = raw.http.get("experiments/pbt-parallel/jobs/", params={"limit": 1000}).json()["items"]
    by_id = {job["id"]: job for job in jobs}
    assert sorted(s["id"] for s in seen) == sorted(by_id)  # every job handed to exactly one worker
    assert {job["status"] for job in jobs} == {"DONE"}
    assert len(jobs) <= population * generations
    for s in seen:  # each job started from a copy of its parent's final results
        parent = by_id[s["id"]]["parent"]
        assert s["results"] == ({} if parent is None else by_id[parent]["results"])
    members: dict[str, list[int]] = defaultdict(list)
    for job in jobs:
        members[job["member"]].append(job["generation"])
        assert job["results"]["steps"] == job["generation"]  # the "checkpoint" travelled along the lineage
    assert len(members) == population
    assert all(max(gens) == generations and gens == sorted(set(gens)) for gens in members.values())
    assert raw.experiment("pbt-parallel").json()["status"] == "DONE"
    assert raw.http.get("experiments/pbt-parallel/nextjob/").status_code == 204
