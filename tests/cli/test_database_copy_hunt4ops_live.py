"""``schedy database copy --artifacts-to`` of a live service: a file the service deletes meanwhile is no failure.

A nightly backup of a running service used to fail now and then with "The
artifact file … is not in …: give --artifacts-from the store the source
service used": the service had deleted a job, and its artifact file, after
the copy's snapshot listed it. The seam is made deterministic: the first
artifact's file is a FIFO, so the copy waits on it, past its snapshot,
while the test deletes the second job through the service and waits for
the service to delete its file.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import schedy
from schedy.testing import PostgresCluster, ServiceProcess


def _copy_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "schedy.cli.main", "database", "copy", *args]


def _blob_files(home: Path) -> set[Path]:
    return {path for path in (home / "artifacts" / "blobs").rglob("*") if path.is_file() or path.is_fifo()}


def _open_for_writing(fifo: Path, copy: subprocess.Popen[str], timeout: float = 120) -> int:
    """Open ``fifo`` for writing once the copy opened it for reading (it then holds its snapshot)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        else:
            os.set_blocking(fd, True)
            return fd
        if copy.poll() is not None:
            out, err = copy.communicate()
            pytest.fail(f"the copy ended before reading the artifact files:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail("the copy did not open the first artifact file")
        time.sleep(0.02)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_live_backup_leaves_out_an_artifact_the_service_deleted_while_copying(
    backend: str, pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    home = tmp_path / "service"
    source_url = pg_cluster.new_database() if backend == "postgres" else f"sqlite:///{home / 'schedy.db'}"
    target, store = tmp_path / "backup.db", tmp_path / "backup-artifacts"
    kept, deleted = b"kept " * 5000, b"deleted " * 5000
    with ServiceProcess.start(home, source_url) as source:
        user = source.new_user()
        with schedy.SchedyDB(config_override=user.client_config) as db:
            exp = schedy.ManualSearch("m")
            db.add_experiment(exp)
            first, second = exp.add_job(hyperparameters={"i": 1}), exp.add_job(hyperparameters={"i": 2})
            (tmp_path / "kept.bin").write_bytes(kept)
            first.save_artifact(tmp_path / "kept.bin")
            (kept_file,) = _blob_files(home)
            (tmp_path / "deleted.bin").write_bytes(deleted)
            second.save_artifact(tmp_path / "deleted.bin")
            (deleted_file,) = _blob_files(home) - {kept_file}
            kept_file.unlink()
            os.mkfifo(kept_file)  # the copy waits on the first file until the test writes it
            copy = subprocess.Popen(
                _copy_argv(f"sqlite:///{target}", "--database", source_url, "--artifacts-to", str(store)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "SCHEDY_HOME": str(home)},
            )
            try:
                fd = _open_for_writing(kept_file, copy)
                try:
                    second.delete()  # a keep-the-last-N cleanup, after the copy's snapshot listed its artifact
                    deadline = time.monotonic() + 60
                    while deleted_file.exists():  # the service's next collection deletes the file
                        assert time.monotonic() < deadline, "the service did not delete the artifact file"
                        time.sleep(0.05)
                    os.write(fd, kept)
                finally:
                    os.close(fd)
                out, err = copy.communicate(timeout=120)
            finally:
                if copy.poll() is None:
                    copy.kill()
                    copy.communicate()
    assert copy.returncode == 0, err
    assert "  artifact files: 1 deleted by the service while copying (their artifacts are left out)" in out
    assert "Copied 2 users, 1 experiment, 2 jobs and 0 reports (1 artifact left out: the service deleted it " in out

    with (
        ServiceProcess.start(tmp_path / "restored", f"sqlite:///{target}", extra_args=("--artifacts", str(store))) as b,
        schedy.SchedyDB(config_override={**user.client_config, "root": b.url}) as db,
    ):
        jobs = {job.hyperparameters["i"]: job for job in db.get_experiment("m").all_jobs()}
        assert sorted(jobs) == [1, 2]  # both were in the snapshot
        assert [a.name for a in jobs[1].artifacts()] == ["kept.bin"]
        assert Path(jobs[1].load_artifact("kept.bin", to=tmp_path / "back.bin")).read_bytes() == kept
        assert jobs[2].artifacts() == []  # never listed without its file


def test_a_file_missing_whose_artifact_is_still_listed_names_the_store_and_leaves_no_target_file(
    tmp_path: Path,
) -> None:
    """A wrong --artifacts-from is still said so; the copy does not leave an empty, schema-only target file."""
    home = tmp_path / "service"
    target = tmp_path / "backup.db"
    with ServiceProcess.start(home) as source:
        user = source.new_user()
        with schedy.SchedyDB(config_override=user.client_config) as db:
            exp = schedy.ManualSearch("m")
            db.add_experiment(exp)
            (tmp_path / "model.bin").write_bytes(b"weights")
            exp.add_job(hyperparameters={}).save_artifact(tmp_path / "model.bin")
        stores = ("--artifacts-to", str(tmp_path / "to"), "--artifacts-from", str(tmp_path / "elsewhere"))
        wrong = subprocess.run(
            _copy_argv(f"sqlite:///{target}", "--database", source.database_url, *stores),
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "SCHEDY_HOME": str(home)},
            check=False,
        )
        assert wrong.returncode == 1
        assert wrong.stderr.startswith("schedy: The artifact file ")
        assert "give --artifacts-from the store the source service used" in wrong.stderr
        assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("backup")) == []
        # The service goes on, untouched.
        assert httpx.get(source.url + "ping/", timeout=30).status_code == 200
