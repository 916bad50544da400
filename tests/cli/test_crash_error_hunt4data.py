"""What a crashed job raised reaches every analysis path: ``Job.error``, ``to_dataframe()``, export, ``show``."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

import schedy
from schedy.random import Uniform
from tests.dashboard import fill

MESSAGE = "CUDA out of memory. Tried to allocate 2.00 GiB"


class OutOfMemoryError(RuntimeError):
    """A crash whose type a user would group jobs by."""


def _crashed(cli, name: str) -> tuple[str, str]:
    """An experiment with one job that raised :class:`OutOfMemoryError` and one DONE job; their ids."""
    with cli.db() as db:
        exp = db.add_experiment(schedy.RandomSearch(name, {"x": Uniform(0, 1)}))
        with pytest.raises(OutOfMemoryError), exp.next_job() as job:
            raise OutOfMemoryError(MESSAGE)
        assert job.error == {"type": f"{__name__}.OutOfMemoryError", "message": MESSAGE}
        with exp.next_job() as done:
            done.results["loss"] = 1.0
    return job.job_id, done.job_id


def test_a_crashed_jobs_error_is_in_job_to_dataframe_export_and_show(cli, tmp_path):
    crashed, done = _crashed(cli, "oom")
    kind = f"{__name__}.OutOfMemoryError"
    with cli.db() as db:
        exp = db.get_experiment("oom")
        assert exp.get_job(crashed).error == {"type": kind, "message": MESSAGE}
        assert exp.get_job(done).error is None
        listed = {job.job_id: job.error for job in exp.all_jobs()}
        assert listed == {crashed: {"type": kind, "message": MESSAGE}, done: None}
        frame = exp.to_dataframe()
    assert frame.loc[crashed, "error"] == f"{kind}: {MESSAGE}"
    assert pd.isna(frame.loc[done, "error"])
    assert list(frame.columns).index("error") > list(frame.columns).index("end_reason")

    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(cli.ok("export", "oom")))}
    assert rows[crashed]["error"] == f"{kind}: {MESSAGE}"
    assert rows[done]["error"] == ""
    jobs = {job["id"]: job for job in json.loads(cli.ok("export", "oom", "--format", "json"))}
    assert jobs[crashed]["error"] == {"type": kind, "message": MESSAGE}
    assert "error" not in jobs[done]

    shown = cli.ok("show", "oom", crashed)
    assert f"error: {kind}: {MESSAGE}" in shown.replace("  ", " ")
    assert "error" not in cli.ok("show", "oom", done)


def test_lists_carry_the_type_and_message_not_the_traceback(cli, service):
    crashed, _ = _crashed(cli, "lean")
    http = fill.client(service.user)
    try:
        listed = http.get("experiments/lean/jobs/").json()["items"]
        one = http.get(f"experiments/lean/jobs/{crashed}/")
        # A client sends back what it read: the job with its error is accepted (the error is the service's).
        body = {**one.json(), "results": {"loss": 2.0}}
        put = http.put(f"experiments/lean/jobs/{crashed}/", json=body, headers={"If-Match": one.headers["ETag"]})
    finally:
        http.close()
    error = next(job["error"] for job in listed if job["id"] == crashed)
    assert error == {"type": f"{__name__}.OutOfMemoryError", "message": MESSAGE}
    assert one.json()["error"] == error
    assert "Traceback" not in json.dumps(listed)
    assert put.status_code == 200, put.text
    assert put.json()["error"] == error


ODD_MESSAGES = [
    "",
    'quotes " and \' and back\\slashes \\n kept as written',
    "lines\nand\ttabs\r\nand a NUL-free control \x01 character",
    "ünïcödé, 中文, emoji 🧪 and a lone surrogate-free astral 𝔘",
    "x" * 10_000,  # the longest message the service accepts
]


@pytest.mark.parametrize("message", ODD_MESSAGES, ids=["empty", "quotes", "controls", "unicode", "longest"])
def test_an_errors_type_and_message_read_back_exactly(cli, service, message):
    # The database cuts the stored error to its type and message for every job read: whatever their
    # characters, a list, a job, an update and the client give back what the worker sent.
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("odd"))
    http = fill.client(service.user)
    try:
        job = http.post("experiments/odd/jobs/", json={"status": "CRASHED", "hyperparameters": {"x": 1}}).json()["id"]
        sent = {"type": "pkg.Odd'Error\"", "message": message, "traceback": "Traceback …\n" * 2000}
        assert http.put(f"experiments/odd/jobs/{job}/error/", json=sent).status_code == 204
        listed = next(item for item in http.get("experiments/odd/jobs/").json()["items"] if item["id"] == job)
        one = http.get(f"experiments/odd/jobs/{job}/")
        body, etag = {**one.json(), "results": {"loss": 1.0}}, one.headers["ETag"]
        put = http.put(f"experiments/odd/jobs/{job}/", json=body, headers={"If-Match": etag})
    finally:
        http.close()
    expected = {"type": sent["type"], "message": message}
    assert listed["error"] == expected
    assert one.json()["error"] == expected
    assert put.json()["error"] == expected
    with cli.db() as db:
        assert db.get_experiment("odd").get_job(job).error == expected
