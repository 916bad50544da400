"""Claims queued behind a long decision never hold up another user's login or requests.

Claims of one experiment take turns; they used to wait for their turn in
the thread pool, so 80 claims of a costly TPE search filled it and another
user's login waited for most of them (62.7 s).
"""

from __future__ import annotations

import asyncio
import random

import httpx

from tests import aio
from tests.security.conftest import exp_path, login

DIMS = 20
CLAIMS = 80
DONE_JOBS = 600
# As costly as a TPE decision may be made (MAX_DECISION_WORK): about 0.2 s a claim here.
TPE = {
    "TPESearch": {
        "distributions": {f"x{i}": {"uniform": {"low": 0, "high": 1}} for i in range(DIMS)},
        "objective": "min",
        "resultName": "loss",
        "nEiCandidates": 500,
        "maxObservations": 1000,
        "nStartupJobs": 0,
    }
}


def _costly_experiment(url: str, user) -> tuple[httpx.Client, str]:
    http = login(url, user.email, user.api_token)
    name = "storm"
    created = http.put(exp_path(name), json={"status": "RUNNING", "scheduler": TPE}, headers={"If-None-Match": "*"})
    assert created.status_code == 201, created.text
    rng = random.Random(7)
    for _ in range(DONE_JOBS):
        job = {
            "status": "DONE",
            "hyperparameters": {f"x{i}": rng.random() for i in range(DIMS)},
            "results": {"loss": rng.random()},
        }
        assert http.post(exp_path(name) + "jobs/", json=job).status_code == 201
    return http, name


async def _storm(url: str, owner: httpx.Client, name: str, other) -> tuple[int, int, int, list[int]]:
    """Claim CLAIMS times at once; meanwhile another user logs in twice and lists. Claims still out after each."""
    limits = httpx.Limits(max_connections=CLAIMS + 4)
    headers = {"Authorization": owner.headers["Authorization"]}
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits, headers=headers) as claimer:
        first = asyncio.Event()
        finished = 0

        async def claim(i: int) -> int:
            nonlocal finished
            answer = await claimer.post(exp_path(name) + "nextjob/", json={"worker": f"w{i}"})
            finished += 1
            first.set()
            return answer.status_code

        claims = [asyncio.create_task(claim(i)) for i in range(CLAIMS)]
        await first.wait()  # the storm is on: the others are queued behind the first decisions
        async with httpx.AsyncClient(base_url=url, timeout=600) as client:
            by_token = await client.post("token/", json={"email": other.email, "token": other.api_token})
            assert by_token.status_code == 200, by_token.text
            out_after_token = CLAIMS - finished
            by_password = await client.post("passauth/", json={"email": other.email, "token": other.password})
            assert by_password.status_code == 200, by_password.text
            out_after_password = CLAIMS - finished
            client.headers["Authorization"] = "Bearer " + by_password.json()["token"]
            listed = await client.get("experiments/")  # runs in the default thread pool
            assert listed.status_code == 200, listed.text
            out_after_list = CLAIMS - finished
        statuses = await asyncio.gather(*claims)
    return out_after_token, out_after_password, out_after_list, statuses


def test_claims_waiting_for_a_costly_decision_do_not_hold_up_another_users_requests(service):
    owner, name = _costly_experiment(service.url, service.user)
    other = service.new_user()
    try:
        out_after_token, out_after_password, out_after_list, statuses = aio.run(_storm(service.url, owner, name, other))
    finally:
        owner.close()
    assert statuses == [200] * CLAIMS  # every claim got its job, one decision at a time
    # Both logins were answered while most claims still waited for their turn. Before, every claim beyond
    # the thread pool's 40 threads went before a login: at most 39 were still out when it was answered.
    assert out_after_token >= CLAIMS - 25, out_after_token
    assert out_after_password >= CLAIMS - 30, out_after_password
    # And a request of the default thread pool (a list): claims wait for their turn in threads of their own.
    assert out_after_list >= CLAIMS - 35, out_after_list
