"""Quasi-random search and TPE's startup never hand out a point twice, whatever jobs are added by hand or deleted.

Through the real service over HTTP, on SQLite and PostgreSQL. The tester's sequence: 3 jobs added by
hand, 2 claims (points 3 and 4), the 3 hand jobs deleted, 3 more claims. The next index used to be
``max(len(jobs), decisions)``: after the deletions it fell back to 2, and the claims got points 3, 4, 2,
3, 4. docs/search.md: "deleted jobs keep theirs, so no point comes again".
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

SPACE = {"x": {"uniform": {"low": 0, "high": 1}}, "y": {"uniform": {"low": 0, "high": 1}}}
SEARCHES = {
    "sobol": ({"RandomSearch": SPACE}, {"sampler": "sobol"}),
    "halton": ({"RandomSearch": SPACE}, {"sampler": "halton"}),
    "tpe-startup": ({"TPESearch": {"distributions": SPACE, "objective": "min", "resultName": "loss"}}, {}),
}


def _claim(api: Any, path: str, worker: str = "w") -> tuple[str, tuple[float, float]]:
    answer = api.request("POST", path + "nextjob/", {"worker": worker})
    assert answer.status_code == 200, answer.text
    job = answer.json()
    return job["id"], (job["hyperparameters"]["x"], job["hyperparameters"]["y"])


def _add_by_hand(api: Any, name: str) -> str:
    answer = api.add_job(name, hyperparameters={"x": 0.5, "y": 0.5}, status="DONE", results={"loss": 1.0})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _delete(api: Any, path: str, job_id: str) -> None:
    assert api.http.delete(f"{path}jobs/{job_id}/", headers={"If-Match": "*"}).status_code == 204


@pytest.mark.parametrize("search", sorted(SEARCHES))
def test_deleting_jobs_added_by_hand_never_brings_a_point_back(api: Any, search: str) -> None:
    scheduler, options = SEARCHES[search]
    name = f"hand-deleted-{search}"
    path = api.create_experiment(name, scheduler, seed=1, **options)
    hand = [_add_by_hand(api, name) for _ in range(3)]
    points = [_claim(api, path)[1] for _ in range(2)]
    for job_id in hand:
        _delete(api, path, job_id)
    points += [_claim(api, path)[1] for _ in range(3)]
    assert len(set(points)) == 5, points

    # The same search without the hand jobs: the hand jobs took points 0-2, so the claims got 3 to 7.
    twin = f"no-hand-{search}"
    twin_path = api.create_experiment(twin, scheduler, seed=1, **options)
    sequence = [_claim(api, twin_path)[1] for _ in range(8)]
    assert points == sequence[3:]


@pytest.mark.parametrize("search", ["sobol", "tpe-startup"])
def test_claims_at_once_with_deletions_and_hand_jobs_get_distinct_points(api: Any, search: str) -> None:
    scheduler, options = SEARCHES[search]
    name = f"busy-{search}"
    path = api.create_experiment(name, scheduler, **options)
    points: list[tuple[float, float]] = []
    claimed: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def claimer(worker: str) -> None:
        try:
            for _ in range(8):
                job_id, point = _claim(api, path, worker)
                with lock:
                    points.append(point)
                    claimed.append(job_id)
        except BaseException as error:
            errors.append(error)

    def meddler() -> None:
        try:
            while not stop.is_set():
                _add_by_hand(api, name)
                with lock:
                    victim = claimed.pop(0) if claimed else None
                if victim is not None:
                    _delete(api, path, victim)  # a job already handed out: its point must not come again
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    other = threading.Thread(target=meddler)
    other.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    other.join()
    assert not errors, errors
    assert len(points) == 32
    assert len(set(points)) == 32, sorted(points)
