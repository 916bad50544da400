"""``schedy artifact list|get|put|rm``: a job's files from the command line, against the real service."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import schedy
from schedy import pbt
from schedy.random import Uniform
from tests.cli.conftest import clean_env


def cli_in(cli, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``schedy ARGS`` from the directory ``cwd``."""
    return subprocess.run(
        cli.argv(*args), cwd=cwd, capture_output=True, text=True, timeout=120, env=clean_env(cli.home), check=False
    )


def _job(cli, name: str = "files") -> str:
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch(name))
        return db.get_experiment(name).add_job(hyperparameters={"x": 1}).job_id


def test_put_list_get_and_rm_round_trip_a_file(cli, tmp_path: Path) -> None:
    job_id = _job(cli)
    content = os.urandom(3 * (1 << 20) + 17)  # more than one MiB chunk, not a whole number of them
    source = tmp_path / "weights.bin"
    source.write_bytes(content)

    said = cli.ok("artifact", "put", "files", job_id, str(source), "--name", "model.pt")
    assert said.strip() == (
        f"model.pt: 3.0 MiB stored with job '{job_id}' (sha256 {hashlib.sha256(content).hexdigest()})."
    )
    with cli.db() as db:  # what the Python client sees: the same artifact
        (stored,) = db.get_experiment("files").get_job(job_id).artifacts()
    assert (stored.name, stored.size) == ("model.pt", len(content))

    shown = cli.ok("show", "files", job_id).splitlines()
    assert "artifacts: model.pt (3.0 MiB)" in shown
    listed = cli.ok("artifact", "list", "files", job_id)
    (row,) = [line for line in listed.splitlines() if "model.pt" in line]
    assert "3.0 MiB" in row
    assert hashlib.sha256(content).hexdigest() in row

    # -o FILE, -o DIR/ (created), and the default ./NAME in the working directory.
    out = tmp_path / "out"
    out.mkdir()  # a file's directory must exist: only DIR/ is created (tests/cli/test_artifact_get_paths.py)
    said = cli.ok("artifact", "get", "files", job_id, "model.pt", "-o", str(out / "best.pt"))
    assert said.strip() == f"model.pt: 3.0 MiB written to {out / 'best.pt'}."
    assert (out / "best.pt").read_bytes() == content
    cli.ok("artifact", "get", "files", job_id, "model.pt", "-o", str(tmp_path / "models") + "/")
    assert (tmp_path / "models" / "model.pt").read_bytes() == content
    here = tmp_path / "here"
    here.mkdir()
    done = cli_in(cli, here, "artifact", "get", "files", job_id, "model.pt")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "model.pt: 3.0 MiB written to model.pt."
    assert (here / "model.pt").read_bytes() == content

    # FILE -: read from standard input (a pipe: tar c … |), which needs --name.
    said = cli.ok("artifact", "put", "files", job_id, "-", "--name", "notes.txt", stdin="from a pipe\n")
    assert said.startswith(f"notes.txt: 12 B stored with job '{job_id}'")
    cli.ok("artifact", "get", "files", job_id, "notes.txt", "-o", str(out / "notes.txt"))
    assert (out / "notes.txt").read_text() == "from a pipe\n"
    unnamed = cli("artifact", "put", "files", job_id, "-", stdin="x")
    assert unnamed.returncode == 2
    assert unnamed.stderr.strip() == (
        "schedy: Name the artifact read from standard input with --name, e.g. --name checkpoint.tar."
    )
    cli.ok("artifact", "rm", "files", job_id, "notes.txt")

    # -o -: the bytes on standard output, for a pipe (| tar x, | jq), and nothing else there.
    piped = subprocess.run(
        cli.argv("artifact", "get", "files", job_id, "model.pt", "-o", "-"),
        capture_output=True, timeout=120, env=clean_env(cli.home), check=False,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == content
    absent = subprocess.run(
        cli.argv("artifact", "get", "files", job_id, "absent.pt", "-o", "-"),
        capture_output=True, timeout=120, env=clean_env(cli.home), check=False,
    )  # fmt: skip
    assert (absent.returncode, absent.stdout) == (1, b"")
    assert b"has no artifact 'absent.pt'" in absent.stderr

    assert (
        cli.ok("artifact", "rm", "files", job_id, "model.pt").strip()
        == f"Artifact 'model.pt' of job '{job_id}' deleted."
    )
    assert (
        cli.ok("artifact", "list", "files", job_id).strip() == f"Job '{job_id}' of experiment 'files' has no artifacts."
    )
    assert not any(line.startswith("artifacts:") for line in cli.ok("show", "files", job_id).splitlines())


def test_bad_input_is_one_line_and_changes_nothing(cli, tmp_path: Path) -> None:
    job_id = _job(cli, "careful")
    real = tmp_path / "real.bin"
    real.write_bytes(b"x" * 100)
    spaced = tmp_path / "my model.pt"  # a file name that cannot be an artifact's: the error says to name it
    spaced.write_bytes(b"x")

    cases = [
        (("put", "careful", job_id, str(spaced)), "(name= in Python, --name on the command line), e.g. 'my_model.pt'"),
        (("put", "careful", job_id, str(tmp_path / "missing.bin")), "No file to save as an artifact at"),
        (("put", "careful", job_id, str(tmp_path)), "is a directory: an artifact is one file"),
        (("put", "careful", job_id, str(real), "--name", "../escape"), "An artifact name is 1 to 200 ASCII letters"),
        (("put", "careful", "nosuchjob", str(real)), "nosuchjob"),
        (("put", "nosuchexp", job_id, str(real)), "nosuchexp"),
        (("get", "careful", job_id, "absent.pt", "-o", str(tmp_path / "absent.pt")), "absent.pt"),
        (("get", "careful", job_id, ".hidden"), "An artifact name is 1 to 200 ASCII letters"),
        (("get", "careful", job_id, "real.bin", "--from-parent"), "has no parent job"),
        (("rm", "careful", job_id, "absent.pt"), "absent.pt"),
        (("list", "careful", "nosuchjob"), "nosuchjob"),
    ]
    for args, expected in cases:
        done = cli("artifact", *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, args
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("schedy: "), (args, line)
        assert expected in line, (args, line)
    assert not (tmp_path / "absent.pt").exists()  # a refused download leaves no file behind
    with cli.db() as db:
        assert db.get_experiment("careful").get_job(job_id).artifacts() == []


def test_a_shell_command_under_schedy_run_resumes_from_its_checkpoint_after_preemption(cli, tmp_path: Path) -> None:
    """A worker with no Python client keeps its checkpoint with the job across a preemption."""
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("resume"))
        job_id = db.get_experiment("resume").add_job(hyperparameters={"epochs": 4}).job_id
    schedy_cmd = f"{sys.executable} -m schedy.cli.main"
    # First run: trains 2 epochs, checkpoints, then its node is preempted (the runner gets SIGTERM).
    # Second run, elsewhere: resumes at epoch 2 from the checkpoint stored with the job.
    script = f"""
if {schedy_cmd} artifact get "$SCHEDY_EXPERIMENT" "$SCHEDY_JOB_ID" ckpt.txt 2>/dev/null >&2; then
  start=$(cat ckpt.txt)
else
  start=0
fi
echo "job $SCHEDY_JOB_ID starts at epoch $start"
if [ "$start" = 0 ]; then
  echo 2 > ckpt.txt
  {schedy_cmd} artifact put "$SCHEDY_EXPERIMENT" "$SCHEDY_JOB_ID" ckpt.txt >&2 || exit 9
  kill -TERM $PPID
  sleep 60
  exit 1
fi
echo '--- RESULTS ---'
echo "{{\\"resumed_at\\": $start}}"
"""
    first_node, second_node = tmp_path / "node1", tmp_path / "node2"
    for node in (first_node, second_node):
        node.mkdir()
        (node / "train.sh").write_text(script)
    first = cli_in(cli, first_node, "run", "--once", "--requeue-on-interrupt", "resume", "sh", "train.sh")
    assert first.returncode == 143, first.stderr
    assert f"job {job_id} starts at epoch 0" in first.stdout
    second = cli_in(cli, second_node, "run", "--once", "resume", "sh", "train.sh")
    assert second.returncode == 0, second.stderr
    assert f"job {job_id} starts at epoch 2" in second.stdout
    with cli.db() as db:
        job = db.get_experiment("resume").get_job(job_id)
    assert (job.status, job.results) == (schedy.Job.DONE, {"resumed_at": 2})


def test_get_from_parent_downloads_the_checkpoint_a_pbt_job_continues(cli, tmp_path: Path) -> None:
    with cli.db() as db:
        db.add_experiment(
            schedy.PopulationBasedTraining(
                "pbt-files", pbt.MAXIMIZE, "score", pbt.Truncate(), {"x": pbt.Perturb()}, {"x": Uniform(0, 1)},
                population_size=2,
            )
        )  # fmt: skip
        exp = db.get_experiment("pbt-files")
        for score in (0.2, 0.8):
            with exp.next_job() as job:
                checkpoint = tmp_path / f"{job.job_id}.ckpt"
                checkpoint.write_text(f"weights of {job.job_id}")
                job.save_artifact(checkpoint, "model.ckpt")
                job.results["score"] = score
        child = exp.next_job()
        assert child.parent is not None
        child.put()
    done = cli_in(cli, tmp_path, "artifact", "get", "pbt-files", child.job_id, "model.ckpt", "--from-parent")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model.ckpt").read_text() == f"weights of {child.parent}"
