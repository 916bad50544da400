"""Service processes on one database with different artifact stores say so, instead of calling files lost.

The default store is each host's own ``~/.schedy/artifacts``: an artifact uploaded through one process
is not in another's store. That process's log says so at start, its downloads of the files its store
lacks answer 503 saying the file is in another store (not that it was lost), it refuses uploads
(they would go where the other processes never look), and a process given the same ``--artifacts``
agrees with the first.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schedy.testing import ServiceProcess
from tests.server.conftest import Api, exp_path

DATA = b"checkpoint " * 700


@pytest.fixture
def first(database_url: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    """A service storing artifacts in a directory of its own choosing."""
    with ServiceProcess.start(tmp_path / "a", database_url, extra_args=("--artifacts", str(tmp_path / "shared"))) as p:
        yield p


def _upload(http: httpx.Client, path: str, data: bytes) -> httpx.Response:
    return http.put(path, content=data, headers={"X-Schedy-Sha256": hashlib.sha256(data).hexdigest()})


def test_a_process_whose_artifact_store_is_another_says_so_and_one_sharing_the_store_serves_the_files(
    first: ServiceProcess, tmp_path: Path
) -> None:
    api = Api(first.url, first.new_user())
    # Started before any artifact exists (no complaint then), with the default store of its own data directory.
    with ServiceProcess.start(tmp_path / "b", first.database_url) as other:
        try:
            api.create_experiment("arts", {"Manual": None})
            added = api.add_job("arts", hyperparameters={})
            artifacts = f"{exp_path('arts')}jobs/{added.json()['id']}/artifacts/"
            assert _upload(api.http, artifacts + "ckpt.bin/", DATA).status_code == 201
            with httpx.Client(base_url=other.url, headers=dict(api.http.headers), timeout=60) as through_other:
                assert [a["name"] for a in through_other.get(artifacts).json()["items"]] == ["ckpt.bin"]
                download = through_other.get(artifacts + "ckpt.bin/")
                assert download.status_code == 503, download.text
                detail = download.json()["detail"]
                assert "artifact store is not the one the artifact 'ckpt.bin' was stored in" in detail, detail
                assert "same --artifacts" in detail
                assert "lost" not in detail.replace("not lost", "")
                upload = _upload(through_other, artifacts + "other.bin/", DATA)
                assert upload.status_code == 503, upload.text
                assert "same --artifacts" in upload.json()["detail"]
            assert [a["name"] for a in api.http.get(artifacts).json()["items"]] == ["ckpt.bin"]  # nothing half-saved
            assert "is not the one this database's artifacts are stored in" in other.log()
        finally:
            api.close()
    # Started once the database has artifacts: its log says so at once, naming both stores.
    with ServiceProcess.start(tmp_path / "c", first.database_url) as third:
        warning = next(line for line in third.log().splitlines() if "WARNING" in line and "artifact store" in line)
        assert str(tmp_path / "c" / "artifacts") in warning
        assert str(tmp_path / "shared") in warning
        assert "give every service process the same --artifacts" in warning
    # Given the same store, another process serves the file and takes uploads; its log has no such warning.
    shared = ("--artifacts", str(tmp_path / "shared"))
    with (
        ServiceProcess.start(tmp_path / "d", first.database_url, extra_args=shared) as same,
        httpx.Client(base_url=same.url, headers=dict(api.http.headers), timeout=60) as through_same,
    ):
        assert through_same.get(artifacts + "ckpt.bin/").content == DATA
        assert _upload(through_same, artifacts + "more.bin/", DATA).status_code == 201
        assert "artifact store" not in same.log()


@pytest.mark.parametrize("kept", [True, False], ids=["with-its-file", "all-deleted"])
def test_a_copy_with_its_artifact_files_serves_and_takes_them(
    first: ServiceProcess, tmp_path: Path, kept: bool
) -> None:
    """``schedy database copy --artifacts-to``: the copied store is the copied database's (no warning).

    Also when the source recorded its store and then lost every artifact (deleted): the copy holds no file
    to recognise its store by, and still takes uploads.
    """
    user = first.new_user()
    api = Api(first.url, user)
    try:
        api.create_experiment("arts", {"Manual": None})
        job = api.add_job("arts", hyperparameters={}).json()["id"]
        artifacts = f"{exp_path('arts')}jobs/{job}/artifacts/"
        assert _upload(api.http, artifacts + "ckpt.bin/", DATA).status_code == 201
        if not kept:
            assert api.http.delete(artifacts + "ckpt.bin/").status_code == 204
    finally:
        api.close()
    target, store = f"sqlite:///{tmp_path / 'copy.db'}", tmp_path / "copied-store"
    copy = [sys.executable, "-m", "schedy.cli.main", "database", "copy", target, "--database", first.database_url]
    copy += ["--artifacts-to", str(store), "--artifacts-from", str(tmp_path / "shared")]
    done = subprocess.run(copy, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    with ServiceProcess.start(tmp_path / "e", target, extra_args=("--artifacts", str(store))) as copied:
        again = Api(copied.url, user)
        try:
            if kept:
                assert again.http.get(artifacts + "ckpt.bin/").content == DATA
            uploaded = _upload(again.http, artifacts + "new.bin/", DATA)
            assert uploaded.status_code == 201, uploaded.text
            assert again.http.get(artifacts + "new.bin/").content == DATA
        finally:
            again.close()
        assert "WARNING" not in copied.log()


def test_a_lone_service_whose_store_was_emptied_takes_uploads_again(tmp_path: Path) -> None:
    """One service, its default store: ``rm -rf ~/.schedy/artifacts`` between two starts loses files, not uploads."""
    home = tmp_path / "lone"
    with ServiceProcess.start(home) as service:
        user = service.new_user()
        api = Api(service.url, user)
        try:
            api.create_experiment("arts", {"Manual": None})
            job = api.add_job("arts", hyperparameters={}).json()["id"]
            artifacts = f"{exp_path('arts')}jobs/{job}/artifacts/"
            assert _upload(api.http, artifacts + "old.bin/", DATA).status_code == 201
        finally:
            api.close()
    store = home / "artifacts"
    assert (store / "schedy-store-id").exists()
    shutil.rmtree(store)  # to free the disk, or a disk replaced
    with ServiceProcess.start(home) as again:
        api = Api(again.url, user)
        try:
            uploaded = _upload(api.http, artifacts + "new.bin/", DATA)
            assert uploaded.status_code == 201, uploaded.text
            assert api.http.get(artifacts + "new.bin/").content == DATA
            lost = api.http.get(artifacts + "old.bin/")
            assert lost.status_code == 404, lost.text
            assert "has lost the file" in lost.json()["detail"]
        finally:
            api.close()
        assert "is not the one this database's artifacts are stored in" not in again.log()
        assert "had no marker file" in again.log()


def test_a_marker_written_by_another_process_after_this_one_started_is_the_one_recorded(
    database_url: str, tmp_path: Path
) -> None:
    """Two processes starting at once on a new object store both write a marker (no exclusive create there).

    The last write wins in the store; the process that read its own back before it must record what the
    store holds, or every other process is refused as "another store".
    """
    shared = ("--artifacts", str(tmp_path / "shared"))
    with ServiceProcess.start(tmp_path / "a", database_url, extra_args=shared) as first:
        user = first.new_user()
        (tmp_path / "shared" / "schedy-store-id").write_text("0123456789abcdef0123456789abcdef\n")  # the later write
        api = Api(first.url, user)
        try:
            api.create_experiment("race", {"Manual": None})
            job = api.add_job("race", hyperparameters={}).json()["id"]
            artifacts = f"{exp_path('race')}jobs/{job}/artifacts/"
            assert _upload(api.http, artifacts + "a.bin/", DATA).status_code == 201
        finally:
            api.close()
        with ServiceProcess.start(tmp_path / "b", database_url, extra_args=shared) as second:
            other = Api(second.url, user)
            try:
                uploaded = _upload(other.http, artifacts + "b.bin/", DATA)
                assert uploaded.status_code == 201, uploaded.text
                assert other.http.get(artifacts + "a.bin/").content == DATA
            finally:
                other.close()
            assert "artifact store" not in second.log()
