"""``schedy database copy``: a service's whole database into another, empty one (SQLite → PostgreSQL and back).

The source is filled through a real service (users, tokens, a search with
reports and early stopping, a crashed and re-queued job, notes, an
artifact), copied by the command, and the copy served by a real service on
the other database: everything reads the same over HTTP with the old
credentials, and the copy goes on where the source stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import schedy
from schedy.random import Uniform
from schedy.stopping import ASHA
from schedy.testing import PostgresCluster, ServiceProcess

OTHER = {"sqlite": "postgres", "postgres": "sqlite"}


def _schedy(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schedy.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **({"SCHEDY_HOME": str(home)} if home else {})},
        check=False,
    )


def _url(backend: str, pg_cluster: PostgresCluster, directory: Path) -> str:
    return pg_cluster.new_database() if backend == "postgres" else f"sqlite:///{directory / 'schedy.db'}"


def _session(service: ServiceProcess, email: str, token: str) -> httpx.Client:
    answer = httpx.post(service.url + "token/", json={"email": email, "token": token}, timeout=30)
    assert answer.status_code == 200, answer.text
    return httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {answer.json()['token']}"}, timeout=30)


def _everything(http: httpx.Client) -> dict[str, Any]:
    """What a user reads of their experiments over HTTP: experiments, jobs with ETags, reports, notes, artifacts."""
    seen: dict[str, Any] = {"experiments": http.get("experiments/").json()["items"]}
    for exp in seen["experiments"]:
        name = exp["name"]
        jobs = http.get(f"experiments/{name}/jobs/", params={"limit": 1000}).json()["items"]
        seen[name] = {
            "counts": http.get(f"experiments/{name}/", params={"counts": "true"}).json(),
            "jobs": jobs,
            "etags": [http.get(f"experiments/{name}/jobs/{j['id']}/").headers["ETag"] for j in jobs],
            "reports": http.get(f"experiments/{name}/reports/", params={"limit": 1000}).json()["items"],
            "stopping": http.get(f"experiments/{name}/stopping/").json(),
            "notes": http.get(f"experiments/{name}/notes/").json(),
            # The dashboard's view of each job: its attempts, lineage and note too.
            "details": [http.get(f"dashboard/api/experiments/{name}/jobs/{j['id']}/").json() for j in jobs],
            "job notes": [http.get(f"experiments/{name}/jobs/{j['id']}/notes/").json() for j in jobs],
            "artifacts": [http.get(f"experiments/{name}/jobs/{j['id']}/artifacts/").json()["items"] for j in jobs],
        }
    return seen


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_copy_serves_everything_the_source_held_and_goes_on_from_there(
    backend: str, pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    source_url = _url(backend, pg_cluster, tmp_path / "source")
    (tmp_path / "source").mkdir()
    with ServiceProcess.start(home, source_url) as source:
        alice, bob = source.new_user(), source.new_user()
        with schedy.SchedyDB(config_override=alice.client_config) as db:
            exp = schedy.TPESearch("tpe", {"x": Uniform(0, 1)}, "min", "loss", early_stopping=ASHA("loss", "min", 1))
            db.add_experiment(exp)
            for _ in range(6):
                with exp.next_job() as job:
                    x = job.hyperparameters["x"]
                    for step in (1, 2, 3):
                        if job.report(step, loss=x + 1 / step):
                            raise schedy.errors.JobPruned()
                    job.results["loss"] = x
            crashed = exp.next_job()
            with pytest.raises(RuntimeError), crashed:
                raise RuntimeError("out of memory")
            manual = schedy.ManualSearch("by hand")
            db.add_experiment(manual)
            manual.add_job(hyperparameters={"lr": 0.1})
        with _session(source, alice.email, alice.api_token) as http:
            tag = http.get(f"experiments/tpe/jobs/{crashed.job_id}/").headers["ETag"]
            path = f"dashboard/api/experiments/tpe/jobs/{crashed.job_id}/requeue/"
            assert http.post(path, headers={"If-Match": tag}).status_code == 200  # its next attempt
            assert http.put("experiments/tpe/notes/", json={"text": "first runs"}).status_code == 200
            assert http.put(f"experiments/tpe/jobs/{crashed.job_id}/notes/", json={"text": "OOM"}).status_code == 200
        with schedy.SchedyDB(config_override=alice.client_config) as db, db.get_experiment("tpe").next_job() as job:
            assert job.job_id == crashed.job_id  # the re-queued job, stored with an artifact
            (tmp_path / "model.pt").write_bytes(b"weights " * 1000)
            job.save_artifact(tmp_path / "model.pt")
            job.results["loss"] = 0.5
        with schedy.SchedyDB(config_override=bob.client_config) as db:
            db.add_experiment(schedy.ManualSearch("bob's"))
        with _session(source, alice.email, alice.api_token) as http:
            before = _everything(http)
        assert before["tpe"]["notes"]["text"] == "first runs"
        earlier = next(d["attempts"] for d in before["tpe"]["details"] if d["id"] == crashed.job_id)
        assert [(a["status"], a["error"]["message"]) for a in earlier] == [("CRASHED", "out of memory")]

    target_url = _url(OTHER[backend], pg_cluster, tmp_path / "target")
    (tmp_path / "target").mkdir(exist_ok=True)
    copied = _schedy("database", "copy", target_url, "--database", source_url)
    assert copied.returncode == 0, copied.stderr
    jobs = sum(len(before[exp["name"]]["jobs"]) for exp in before["experiments"])  # bob's experiment has none
    # The first start's admin, alice and bob; alice's two experiments and bob's.
    assert f"Copied 3 users, 3 experiments, {jobs} jobs and " in copied.stdout

    with ServiceProcess.start(home, target_url) as target:
        assert "Created the first user" not in target.log()  # the admin was copied
        with _session(target, alice.email, alice.api_token) as http:  # the same API token
            after = _everything(http)
            assert after == before
            download = http.get(f"experiments/tpe/jobs/{crashed.job_id}/artifacts/model.pt/")
            assert download.content == b"weights " * 1000
        password = httpx.post(target.url + "passauth/", json={"email": bob.email, "token": bob.password}, timeout=30)
        assert password.status_code == 200  # the password hash came along
        # The copy goes on: new jobs and reports get keys past the copied ones (PostgreSQL's sequences moved).
        with schedy.SchedyDB(config_override={**alice.client_config, "root": target.url}) as db:
            exp = db.get_experiment("tpe")
            for _ in range(2):
                with exp.next_job() as job:
                    job.report(1, loss=0.1)
                    job.results["loss"] = 0.1
            assert len(list(exp.all_jobs())) == len(before["tpe"]["jobs"]) + 2
            assert len(job.reports()) == 1
            db.get_experiment("by hand").add_job(hyperparameters={"lr": 0.2})


def test_the_target_must_be_empty_and_another_database(pg_cluster: PostgresCluster, tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    target_url = pg_cluster.new_database()
    with ServiceProcess.start(tmp_path / "a", source_url):
        pass
    with ServiceProcess.start(tmp_path / "b", target_url) as target:
        target.new_user()
    refused = _schedy("database", "copy", target_url, "--database", source_url)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.startswith("schedy: The target database is not empty (it holds rows in users (2)")
    assert len(refused.stderr.strip().splitlines()) == 1
    same = _schedy("database", "copy", source_url, "--database", source_url)
    assert same.returncode == 2  # a wrong argument
    assert "The source and the target are the same database" in same.stderr
    # A mistyped source is not created empty and "copied".
    missing = _schedy(
        "database", "copy", f"sqlite:///{tmp_path / 'c.db'}", "--database", f"sqlite:///{tmp_path / 'typo.db'}"
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"schedy: There is no database at {tmp_path / 'typo.db'}: ")
    assert not (tmp_path / "typo.db").exists()
    assert not (tmp_path / "c.db").exists()


def test_a_row_the_target_refuses_leaves_it_empty(pg_cluster: PostgresCluster, tmp_path: Path) -> None:
    """PostgreSQL refuses a NUL character in text, which SQLite keeps: the copy stops and writes nothing.

    Nor does it leave the artifact files it copied before the rows in the target store.
    """
    import sqlite3

    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    with ServiceProcess.start(tmp_path / "a", source_url) as source:
        user = source.new_user()
        with schedy.SchedyDB(config_override=user.client_config) as db:
            exp = schedy.ManualSearch("m")
            db.add_experiment(exp)
            for i in range(3):
                exp.add_job(hyperparameters={"i": i})
            with exp.next_job() as job:
                for name in ("model.bin", "log.txt"):
                    (tmp_path / name).write_bytes(b"checkpoint " * 1000)
                    job.save_artifact(tmp_path / name)
    with sqlite3.connect(tmp_path / "source.db") as raw:
        raw.execute("UPDATE jobs SET worker = 'a' || char(0) || 'b' WHERE pk = (SELECT max(pk) FROM jobs)")
    target_url = pg_cluster.new_database()
    store = tmp_path / "new-store"
    failed = _schedy(
        "database", "copy", target_url, "--database", source_url, "--artifacts-to", str(store), home=tmp_path / "a"
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith("schedy: The target refused a row of the table jobs (")
    assert failed.stderr.rstrip().endswith("nothing was copied.")
    assert "  artifact files: 2 of 2" in failed.stdout  # copied before the rows...
    assert f"  artifact files: removed the 2 copied into {store}" in failed.stdout  # ...and removed after them
    assert [path for path in store.rglob("*") if path.is_file()] == []
    # The source's own files are untouched.
    assert len([path for path in (tmp_path / "a").rglob("blobs/**/*") if path.is_file()]) == 2
    with ServiceProcess.start(tmp_path / "b", target_url) as target:
        assert "Created the first user" in target.log()  # an empty database: the first start's admin is the only user


def test_artifact_files_go_along_into_another_store_or_nothing_is_copied(tmp_path: Path) -> None:
    """A laptop's service keeps files in its data directory; the new one, elsewhere, reads them from its store."""
    laptop, server = tmp_path / "laptop", tmp_path / "server"
    source_url, target_url = f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"
    payload = bytes(range(256)) * 12_000  # 3 MiB: several chunks
    with ServiceProcess.start(laptop, source_url) as source:
        user = source.new_user()
        with schedy.SchedyDB(config_override=user.client_config) as db:
            exp = schedy.ManualSearch("m")
            db.add_experiment(exp)
            exp.add_job(hyperparameters={})
            with exp.next_job() as job:
                (tmp_path / "model.bin").write_bytes(payload)
                job.save_artifact(tmp_path / "model.bin")
    store = tmp_path / "shared-store"

    # A wrong --artifacts-from: the file is not there, and the target database stays empty.
    wrong = _schedy(
        "database", "copy", target_url, "--database", source_url, "--artifacts-to", str(store),
        "--artifacts-from", str(tmp_path / "elsewhere"), home=laptop,
    )  # fmt: skip
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("schedy: The artifact file ")
    assert "the target database is unchanged" in wrong.stderr
    with ServiceProcess.start(tmp_path / "probe", target_url) as probe:
        assert "Created the first user" in probe.log()  # empty: the first start made its admin
    (tmp_path / "target.db").unlink()

    copied = _schedy(
        "database", "copy", target_url, "--database", source_url, "--artifacts-to", str(store), home=laptop
    )
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout.splitlines()[1] == "  artifact files: 1 of 1"  # after the heading, before the rows
    assert f"--artifacts {store}" in copied.stdout
    with (
        ServiceProcess.start(server, target_url, extra_args=("--artifacts", str(store))) as target,
        schedy.SchedyDB(config_override={**user.client_config, "root": target.url}) as db,
    ):
        job = next(iter(db.get_experiment("m").all_jobs()))
        assert [a.name for a in job.artifacts()] == ["model.bin"]
        loaded = job.load_artifact("model.bin", to=tmp_path / "back.bin")
        assert Path(loaded).read_bytes() == payload


def _at_first_revision(url: str) -> None:
    """A database as a service of Schedy's first schema revision left it, with one user."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from schedy.server.store import Store, migrate

    store = Store(url)
    with store.write() as conn:
        config = Config()
        config.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            text(
                "INSERT INTO users (id, email, password_hash, is_admin, created_at) VALUES (1, 'old@b.c', NULL, :no, 1)"
            ),
            {"no": False},
        )
    store.dispose()


def _revision(url: str) -> str | None:
    """The schema revision of the database at ``url`` (``None``: no Schedy tables)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        revision = (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            if inspect(conn).has_table("alembic_version")
            else None
        )
    engine.dispose()
    return revision


def test_a_source_at_an_older_schema_is_copied_and_left_byte_for_byte(tmp_path: Path) -> None:
    """Copying an old backup used to upgrade the backup itself, in place."""
    source = tmp_path / "backup.db"
    source_url, target_url = f"sqlite:///{source}", f"sqlite:///{tmp_path / 'target.db'}"
    _at_first_revision(source_url)
    before = source.read_bytes()
    copied = _schedy("database", "copy", target_url, "--database", source_url, home=tmp_path / "home")
    assert copied.returncode == 0, copied.stderr
    assert source.read_bytes() == before
    assert _revision(source_url) == "0001"
    assert copied.stdout.splitlines()[0] == (
        "The source has the schema of an older Schedy (revision 0001): copying from an upgraded copy of it in a "
        "temporary directory; the source is left as it is."
    )
    assert "Copied 1 user, 0 experiments, 0 jobs and 0 reports" in copied.stdout
    listed = _schedy("user", "list", "--database", target_url)
    assert (listed.returncode, listed.stdout) == (0, "old@b.c\n"), listed.stderr


def test_a_postgresql_source_at_an_older_schema_or_none_is_refused_and_left_as_it_is(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    """Upgrading a PostgreSQL source is its service's start: the copy says so instead of doing it."""
    from schedy.server.store import migrate

    old, empty = pg_cluster.new_database(), pg_cluster.new_database()
    _at_first_revision(old)
    target = tmp_path / "target.db"
    refused = _schedy("database", "copy", f"sqlite:///{target}", "--database", old, home=tmp_path / "home")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        f"schedy: The source database {old} has the schema of an older Schedy (revision 0001, this one's is "
        f"{migrate.head()}), and a copy never changes its source: upgrade it first by starting this version's "
        f"service on it once (schedy server --database {old}, then stop it), then copy.\n"
    )
    assert _revision(old) == "0001"
    # A database that holds no Schedy tables (a mistyped --database) is not filled with them and copied.
    refused = _schedy("database", "copy", f"sqlite:///{target}", "--database", empty, home=tmp_path / "home")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.startswith(f"schedy: There is no Schedy database at {empty} (it holds no Schedy tables): ")
    assert _revision(empty) is None
    assert not target.exists()


def _read_only(argv: list[str], directory: Path) -> list[str]:
    """``argv`` run where ``directory`` cannot be written: its mode (0555), and for root a read-only mount."""
    if os.geteuid() != 0:
        return argv
    import shlex
    import shutil

    if shutil.which("unshare") is None:
        pytest.skip("root writes anywhere, and there is no unshare to mount the directory read-only")
    quoted = shlex.quote(str(directory))
    script = f"mount --bind {quoted} {quoted} && mount -o remount,ro,bind {quoted} && exec {shlex.join(argv)}"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", script.replace(shlex.join(argv), "true")], check=False)
    if probe.returncode != 0:
        pytest.skip("root writes anywhere, and this machine cannot mount a directory read-only")
    return ["unshare", "-m", "sh", "-c", script]


def test_a_source_on_read_only_storage_is_copied(tmp_path: Path) -> None:
    """A backup on read-only storage (or a file 0444 in a directory 0555): SQLite's WAL mode cannot write its -shm."""
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    source_url, target_url = f"sqlite:///{shelf / 'schedy.db'}", f"sqlite:///{tmp_path / 'target.db'}"
    added = _schedy("user", "add", "a@b.c", "--no-password", "--database", source_url)
    assert added.returncode == 0, added.stderr
    before = (shelf / "schedy.db").read_bytes()
    (shelf / "schedy.db").chmod(0o444)
    shelf.chmod(0o555)
    try:
        argv = [sys.executable, "-m", "schedy.cli.main", "database", "copy", target_url, "--database", source_url]
        copied = subprocess.run(
            _read_only(argv, shelf),
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "SCHEDY_HOME": str(tmp_path / "home")},
            check=False,
        )
    finally:
        shelf.chmod(0o755)
    assert copied.returncode == 0, copied.stderr
    assert "Copied 1 user, 0 experiments" in copied.stdout
    assert sorted(path.name for path in shelf.iterdir()) == ["schedy.db"]
    assert (shelf / "schedy.db").read_bytes() == before
    listed = _schedy("user", "list", "--database", target_url)
    assert (listed.returncode, listed.stdout) == (0, "a@b.c\n"), listed.stderr
