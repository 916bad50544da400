"""The rule for an artifact's name, as the client and the service say it and apply it (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client import test_artifacts

#: What the client's ValueError and the service's 422 both say of a name they refuse.
RULE = (
    "An artifact name is 1 to 200 ASCII letters, digits, '.', '_', '=', '+' or '-', starting with a letter, "
    "a digit or '_' (no '/'), got "
)


_session = test_artifacts._session
job = test_artifacts.job  # the fixture: a job of a manual search, of a new user


def test_a_name_starting_with_a_dash_or_a_sign_is_refused_saying_what_a_name_may_start_with(job, service, tmp_path):
    data = tmp_path / "data"
    data.write_bytes(b"data")
    for name in ("-v.pt", "=3", "+x", ".env"):
        with pytest.raises(ValueError, match="An artifact name is ") as refused:
            job.save_artifact(data, name=name)
        assert str(refused.value) == f"{RULE}{name!r}."
    for name in ("_best.pt", "3.ckpt", "epoch=3+warm-up.pt"):  # what the rule lets in, the service takes
        assert job.save_artifact(data, name=name).name == name
    path = f"experiments/names/jobs/{job.job_id}/artifacts/"
    with _session(service) as http:
        for name in ("-v.pt", "=3", "+x"):
            answer = http.put(path + name + "/", content=b"data")
            assert answer.status_code == 422, name
            assert answer.json()["detail"] == f"{RULE}{name!r}."  # as the client says it
    assert sorted(a.name for a in job.artifacts()) == ["3.ckpt", "_best.pt", "epoch=3+warm-up.pt"]


def test_a_file_whose_name_starts_with_a_dash_is_refused_with_a_name_the_rule_takes(job, tmp_path: Path):
    dashed = tmp_path / "--model.pt"
    dashed.write_bytes(b"x")
    with pytest.raises(ValueError, match="starting with a letter, a digit or '_'") as refused:
        job.save_artifact(dashed)
    assert str(refused.value).endswith("e.g. 'model.pt'.")
    assert job.save_artifact(dashed, name="model.pt").name == "model.pt"
