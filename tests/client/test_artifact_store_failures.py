"""An artifact store that fails while the service runs: a 503 with one sentence, nothing half-saved.

The local store is broken under a running service (its ``tmp/`` or ``blobs/``
directory replaced by a file, as a full or unmounted disk would refuse it),
then repaired: uploads and downloads answer 503 with a sentence while it is
broken, the job's artifacts stay as they were, and everything works again
once it is repaired, without a restart.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import schedy
from schedy import errors
from schedy.testing import ServiceProcess
from tests.conftest import BACKENDS, _database_url


@pytest.fixture(scope="module", params=BACKENDS)
def stored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    home = tmp_path_factory.mktemp(f"store-{request.param}")
    process = ServiceProcess.start(
        home, _database_url(request.param, request, home), extra_args=("--artifacts", str(home / "store"))
    )
    yield process
    process.stop()


def _swap_for_a_file(directory: Path) -> Path:
    """Replace ``directory`` by a file of the same name; return where the directory went."""
    aside = directory.with_name(directory.name + "-aside")
    directory.rename(aside)
    directory.write_text("not a directory")
    return aside


def _restore(directory: Path, aside: Path) -> None:
    directory.unlink()
    aside.rename(directory)


def test_a_failing_store_answers_503_in_a_sentence_and_changes_nothing(stored: ServiceProcess, tmp_path: Path):
    store = stored.home / "store"
    model = tmp_path / "model.pt"
    model.write_bytes(hashlib.sha256(b"weights").digest() * 40_000)
    # One attempt: the client retries a 503 for about a minute by default.
    with schedy.SchedyDB(config_override=stored.new_user().client_config, max_attempts=1) as db:
        exp = schedy.ManualSearch("failing-store")
        db.add_experiment(exp)
        job = exp.add_job(hyperparameters={})
        job.save_artifact(model)

        aside = _swap_for_a_file(store / "tmp")  # uploads cannot write
        try:
            with pytest.raises(errors.ServerError) as info:
                job.save_artifact(model, name="second.pt")
        finally:
            _restore(store / "tmp", aside)
        assert info.value.code == 503
        assert "The service's artifact store could not write the file (Not a directory); nothing was saved" in str(
            info.value
        )
        assert str(store) not in str(info.value)  # where the store is, is the administrator's business
        assert [a.name for a in job.artifacts()] == ["model.pt"]

        aside = _swap_for_a_file(store / "blobs")  # downloads cannot read
        try:
            with pytest.raises(errors.ServerError) as info:
                job.load_artifact("model.pt", tmp_path / "back.pt")
        finally:
            _restore(store / "blobs", aside)
        assert info.value.code == 503
        assert "could not read the file (Not a directory)" in str(info.value)
        assert not (tmp_path / "back.pt").exists()

        # Repaired: both work again, without a restart.
        job.save_artifact(model, name="second.pt")
        assert job.load_artifact("model.pt", tmp_path / "back.pt").read_bytes() == model.read_bytes()
        assert sorted(a.name for a in job.artifacts()) == ["model.pt", "second.pt"]
    assert "The artifact store" in stored.log_path.read_text()


def test_a_blob_the_store_fails_to_delete_is_deleted_once_it_works_again(stored: ServiceProcess, tmp_path: Path):
    """Deleting a job while the store refuses deletes: its blob goes at a later collection, not never."""
    store = stored.home / "store"
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights" * 1000)
    with schedy.SchedyDB(config_override=stored.new_user().client_config, max_attempts=1) as db:
        exp = schedy.ManualSearch("deleted-while-failing")
        db.add_experiment(exp)
        job = exp.add_job(hyperparameters={})
        saved = job.save_artifact(model)
        blob_files = {p for p in (store / "blobs").rglob("*") if p.is_file()}
        mine = [p for p in blob_files if hashlib.sha256(p.read_bytes()).hexdigest() == saved.sha256]
        assert len(mine) == 1
        # The blob's directory made unwritable for a delete: a file where its parent was.
        parent = mine[0].parent
        aside = _swap_for_a_file(parent)
        try:
            job.delete()
            _wait(lambda: "failed to delete a blob" in stored.log_path.read_text())
        finally:
            _restore(parent, aside)
        _wait(lambda: not mine[0].exists(), timeout=15)


def _wait(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
