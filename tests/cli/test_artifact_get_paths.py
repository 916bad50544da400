"""``schedy artifact get -o PATH`` (``job.load_artifact(name, to)``) with a PATH whose directory is missing.

Every missing parent directory of PATH was created, so a mistyped path (``-o /data/modles/best.pt``)
succeeded and quietly made a new tree; ``-o afile/x`` with ``afile`` a file said only ``afile: File
exists.``. Only the documented directory form, a path ending in ``/``, is now created; a file's
missing directory is one sentence and exit status 1, as ``schedy export -o`` says it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import schedy


def _artifact(cli, tmp_path: Path) -> str:
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("paths"))
        job = db.get_experiment("paths").add_job(hyperparameters={"x": 1})
        source = tmp_path / "a.txt"
        source.write_bytes(b"hello\n")
        job.save_artifact(source)
        return job.job_id


def test_a_file_in_a_missing_directory_is_refused_and_nothing_is_created(cli, tmp_path: Path) -> None:
    job_id = _artifact(cli, tmp_path)
    typo = tmp_path / "modles" / "deeper" / "best.txt"

    refused = cli("artifact", "get", "paths", job_id, "a.txt", "-o", str(typo))

    assert refused.returncode == 1
    assert refused.stderr.strip() == f"schedy: Cannot write {typo}: No such file or directory."
    assert not (tmp_path / "modles").exists()


def test_a_path_under_a_regular_file_says_that_file_is_not_a_directory(cli, tmp_path: Path) -> None:
    job_id = _artifact(cli, tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("keep")

    for output in (f"{afile}/x", f"{afile}/sub/x", f"{afile}/"):
        refused = cli("artifact", "get", "paths", job_id, "a.txt", "-o", output)
        assert refused.returncode == 1, output
        assert refused.stderr.strip() == f"schedy: Cannot write {output}: {afile} is not a directory.", output
    assert afile.read_text() == "keep"


def test_a_path_ending_in_a_slash_is_still_created(cli, tmp_path: Path) -> None:
    job_id = _artifact(cli, tmp_path)
    directory = tmp_path / "models" / "run1"

    said = cli.ok("artifact", "get", "paths", job_id, "a.txt", "-o", f"{directory}/")

    assert "6 B written" in said
    assert (directory / "a.txt").read_bytes() == b"hello\n"


def test_load_artifact_follows_the_same_rule(cli, tmp_path: Path) -> None:
    job_id = _artifact(cli, tmp_path)
    with cli.db() as db:
        job = db.get_experiment("paths").get_job(job_id)
        with pytest.raises(FileNotFoundError, match="No such file or directory"):
            job.load_artifact("a.txt", to=tmp_path / "missing" / "a.txt")
        assert not (tmp_path / "missing").exists()
        assert job.load_artifact("a.txt", to=f"{tmp_path}/made/") == tmp_path / "made" / "a.txt"
    assert (tmp_path / "made" / "a.txt").read_bytes() == b"hello\n"
