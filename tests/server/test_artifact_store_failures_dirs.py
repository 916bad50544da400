"""The local artifact store broken under a running service: its directory deleted, or its disk refusing writes.

* The data directory's ``artifacts/`` deleted (``rm -rf``): uploads go on (the
  store makes its directories again), and a download of an artifact whose
  file went with it says that the store lost the file, not that somebody
  replaced or deleted the artifact.
* A store that refuses writes: each upload is answered 503 with
  ``Retry-After``, and the log gets one line, not a traceback per request.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schedy.testing import ServiceProcess
from tests.conftest import BACKENDS, _database_url
from tests.server.conftest import Api, exp_path


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A service storing artifacts in its data directory (the default store)."""
    home = tmp_path_factory.mktemp(f"artifact-dirs-{request.param}")
    process = ServiceProcess.start(home, _database_url(request.param, request, home))
    yield process
    process.stop()


@pytest.fixture
def api(served: ServiceProcess) -> Iterator[Api]:
    client = Api(served.url, served.new_user())
    yield client
    client.close()


def _job(api: Api, experiment: str) -> str:
    """A new experiment with one job; the job's artifacts' path."""
    api.create_experiment(experiment)
    added = api.add_job(experiment, hyperparameters={}, status="QUEUED")
    assert added.status_code == 201, added.text
    return f"{exp_path(experiment)}jobs/{added.json()['id']}/artifacts/"


def _upload(api: Api, artifacts: str, name: str, data: bytes) -> httpx.Response:
    return api.http.put(
        f"{artifacts}{name}/", content=data, headers={"X-Schedy-Sha256": hashlib.sha256(data).hexdigest()}
    )


def test_uploads_go_on_after_the_artifact_directory_is_deleted_and_a_lost_file_is_said_so(
    served: ServiceProcess, api: Api
) -> None:
    artifacts = _job(api, "artifact-dir-deleted")
    before, after = b"checkpoint" * 500, b"weights" * 700
    first = _upload(api, artifacts, "a.bin", before)
    assert first.status_code == 201, first.text

    shutil.rmtree(served.home / "artifacts")

    for name in ("b.bin", "c.bin"):  # not only the first one after the deletion
        answer = _upload(api, artifacts, name, after)
        assert answer.status_code == 201, answer.text
    back = api.http.get(f"{artifacts}b.bin/")
    assert back.status_code == 200, back.text
    assert back.content == after

    lost = api.http.get(f"{artifacts}a.bin/")
    assert lost.status_code == 404, lost.text
    detail = lost.json()["detail"]
    assert "artifact store has lost the file of the artifact 'a.bin'" in detail, detail
    assert "administrator" in detail
    assert "replaced or deleted meanwhile" not in detail
    # Deleted for real, an artifact is still said to be gone the usual way.
    assert api.http.delete(f"{artifacts}b.bin/").status_code == 204
    assert api.http.get(f"{artifacts}b.bin/").status_code == 404

    log = served.log()
    assert "were missing (deleted while the service ran?) and were made again" in log
    assert "has no file for an artifact that is still listed" in log
    assert "Traceback" not in log
    assert "Unexpected error" not in log


def test_a_store_that_refuses_writes_answers_503_with_retry_after_and_logs_one_line(
    served: ServiceProcess, api: Api
) -> None:
    artifacts = _job(api, "artifact-store-refuses")
    tmp = served.home / "artifacts" / "tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text("not a directory: writes fail as on a disk that refuses them")
    try:
        answers = [_upload(api, artifacts, f"m{i}.bin", b"x" * 1000) for i in range(3)]
    finally:
        tmp.unlink()
        tmp.mkdir()
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "30"
        assert "The service's artifact store could not write the file" in answer.json()["detail"]
    log = served.log()
    assert log.count("failed to write a blob") == 1, log
    assert "Traceback" not in log
    # Repaired: uploads work again, without a restart.
    again = _upload(api, artifacts, "m.bin", b"x" * 1000)
    assert again.status_code == 201, again.text


def test_the_lost_wording_needs_the_row_still_listed(tmp_path: Path) -> None:
    """Guard of the test above: the wording for a replaced artifact is kept (the store read during a replace)."""
    from schedy.server.errors import NotFound
    from schedy.server.service.artifacts import Artifacts
    from schedy.server.service.blobs import blob_store
    from schedy.server.store import Store, migrate
    from schedy.server.store.artifacts import ArtifactRow

    store = Store(f"sqlite:///{tmp_path / 'schedy.db'}")
    try:
        migrate.upgrade(store)
        service = Artifacts(store, blob_store(None, tmp_path), max_bytes=1 << 20, quota=1 << 20)
        with pytest.raises(NotFound, match="was replaced or deleted meanwhile"):
            service.open_checked(ArtifactRow("gone.bin", 1, "0" * 64, "ab/none", 0.0))
    finally:
        store.dispose()
