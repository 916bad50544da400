"""``schedy server`` first start, and ``schedy user`` against the database."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import httpx
import pytest

import schedy
from schedy import __version__
from schedy.testing import ServiceProcess


def _schedy(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schedy.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_first_start_creates_an_admin_and_a_private_client_config(tmp_path, database_url):
    with ServiceProcess.start(tmp_path / "home", database_url) as service:
        config = service.first_start_config()
        mode = stat.S_IMODE((tmp_path / "home" / "client.json").stat().st_mode)
        log = service.log()
        token = httpx.post(service.url + "token/", json={"email": config["email"], "token": config["token"]})
    assert mode == 0o600
    assert config["root"] == service.url
    assert config["token_type"] == "api_token"
    assert "Created the first user, admin@localhost (password: " in log
    # The first line says which Schedy serves (not the package index's 2018 client).
    assert log.splitlines()[0].startswith(f"Schedy {__version__} (self-hosted) is serving ")
    assert token.status_code == 200


def test_second_start_creates_no_other_user_and_keeps_the_config(tmp_path):
    home = tmp_path / "home"
    with ServiceProcess.start(home) as first:
        config = first.first_start_config()
    with ServiceProcess.start(home, first.database_url) as second:
        assert second.first_start_config() == config
        assert "Created the first user" not in second.log()


def test_user_add_then_login_with_password_and_token(tmp_path, database_url):
    added = _schedy(
        "user",
        "add",
        "Ada@Example.com",
        "--password-stdin",
        "--database",
        database_url,
        stdin="correct horse battery\n",
    )
    assert added.returncode == 0, added.stderr
    assert "Created user ada@example.com." in added.stdout
    token = added.stdout.split("API token (shown once): ")[1].strip()
    listed = _schedy("user", "list", "--database", database_url)
    assert listed.stdout.splitlines() == ["ada@example.com"]
    with ServiceProcess.start(tmp_path / "home", database_url) as service:
        by_password = httpx.post(
            service.url + "passauth/", json={"email": "ada@example.com", "token": "correct horse battery"}
        )
        by_token = httpx.post(service.url + "token/", json={"email": "ada@example.com", "token": token})
    assert by_password.status_code == 200
    assert by_token.status_code == 200


def test_user_add_without_a_password_works_by_token_only_until_given_one(tmp_path, database_url):
    """A cluster's workers or CI get an account with no password to leak: the token works, no password does."""
    added = _schedy("user", "add", "workers@cluster", "--no-password", "--database", database_url)  # no terminal
    assert added.returncode == 0, added.stderr
    token = added.stdout.split("API token (shown once): ")[1].strip()
    with ServiceProcess.start(tmp_path / "home", database_url) as service:
        config = {"root": service.url, "email": "workers@cluster", "token": token}
        with schedy.SchedyDB(config_override=config) as db:
            exp = db.add_experiment(schedy.ManualSearch("by-token"))
            exp.add_job(hyperparameters={"x": 1})
            with exp.next_job() as job:
                job.results["y"] = 2
        tried = [
            httpx.post(service.url + "passauth/", json={"email": "workers@cluster", "token": guess})
            for guess in ("", "password", token)
        ]
        assert [answer.status_code for answer in tried] == [403, 403, 403]
        given = _schedy(
            "user", "passwd", "workers@cluster", "--password-stdin", "--database", database_url,
            stdin="now-a-password\n",
        )  # fmt: skip
        assert given.returncode == 0, given.stderr
        by_password = httpx.post(
            service.url + "passauth/", json={"email": "workers@cluster", "token": "now-a-password"}
        )
    assert by_password.status_code == 200
    both = _schedy("user", "add", "x@y.z", "--no-password", "--password-stdin", "--database", database_url)
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


def test_user_add_refuses_a_duplicate_in_one_line(database_url):
    _schedy("user", "add", "a@b.c", "--password-stdin", "--database", database_url, stdin="longenough\n")
    again = _schedy("user", "add", "A@B.C", "--password-stdin", "--database", database_url, stdin="longenough\n")
    assert again.returncode == 1
    assert again.stderr.strip() == "schedy: A user with email A@B.C already exists."


@pytest.mark.parametrize(
    ("email", "said"),
    [
        ("not an email", "'not an email' is not an email address: give one such as ada@example.com."),
        ("ada", "'ada' is not an email address: give one such as ada@example.com."),
        ("@example.com", "'@example.com' is not an email address: give one such as ada@example.com."),
        ("ada@", "'ada@' is not an email address: give one such as ada@example.com."),
        ("a" * 250 + "@b.cd", "An email address has at most 254 characters; this one has 255."),
    ],
)
def test_user_add_refuses_what_is_not_an_email_before_asking_for_a_password(tmp_path, email, said):
    url = f"sqlite:///{tmp_path}/db"
    refused = _schedy("user", "add", email, "--password-stdin", "--database", url, stdin="longenough\n")
    assert (refused.returncode, refused.stderr.strip()) == (2, f"schedy: {said}")  # a wrong argument
    assert _schedy("user", "list", "--database", url).stdout == ""
    added = _schedy("user", "add", "admin@localhost", "--password-stdin", "--database", url, stdin="longenough\n")
    assert added.returncode == 0, added.stderr


def test_short_passwords_are_refused(tmp_path):
    result = _schedy(
        "user", "add", "a@b.c", "--password-stdin", "--database", f"sqlite:///{tmp_path}/db", stdin="short\n"
    )
    assert result.returncode == 1
    assert "at least 8 characters" in result.stderr


def test_passwd_changes_the_password(tmp_path):
    url = f"sqlite:///{tmp_path}/db"
    _schedy("user", "add", "a@b.c", "--password-stdin", "--database", url, stdin="first-password\n")
    changed = _schedy("user", "passwd", "a@b.c", "--password-stdin", "--database", url, stdin="second-password\n")
    assert changed.returncode == 0, changed.stderr
    with ServiceProcess.start(tmp_path / "home", url) as service:
        old = httpx.post(service.url + "passauth/", json={"email": "a@b.c", "token": "first-password"})
        new = httpx.post(service.url + "passauth/", json={"email": "a@b.c", "token": "second-password"})
    assert (old.status_code, new.status_code) == (403, 200)


@pytest.mark.parametrize("command", [["server"], ["user", "add"], ["user", "list"], ["user", "passwd"]])
def test_help_is_clear(command):
    result = _schedy(*command, "--help")
    assert result.returncode == 0
    assert "--database" in result.stdout


@pytest.mark.parametrize("command", [["user", "add", "a@b.c"], ["user", "passwd", "a@b.c"]])
def test_without_a_terminal_a_password_prompt_says_what_to_do(tmp_path, command):
    url = f"sqlite:///{tmp_path}/db"
    _schedy("user", "add", "a@b.c", "--password-stdin", "--database", url, stdin="first-password\n")
    result = subprocess.run(
        [sys.executable, "-m", "schedy.cli.main", *command, "--database", url],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "schedy: There is no terminal to type a password on: pass --password-stdin and send it on standard input.\n"
    )


def test_a_taken_port_is_one_line_and_a_non_zero_exit(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _schedy(
            "server",
            "--port",
            str(port),
            "--database",
            f"sqlite:///{tmp_path}/db",
            env={"SCHEDY_HOME": str(tmp_path / "home"), "SCHEDY_CONFIG": str(tmp_path / "home" / "client.json")},
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"schedy: Cannot listen on 127.0.0.1:{port} (")
    assert "pick another port with --port" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_an_address_of_another_machine_is_one_line_naming_host(tmp_path):
    """203.0.113.1 (TEST-NET-3) is no interface of this machine: not 'another service', but --host."""
    result = _schedy(
        "server", "--host", "203.0.113.1", "--port", "8700", "--database", f"sqlite:///{tmp_path}/db",
        env={"SCHEDY_HOME": str(tmp_path / "home"), "SCHEDY_CONFIG": str(tmp_path / "home" / "client.json")},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("schedy: Cannot listen on 203.0.113.1:8700 (")
    assert "--host" in result.stderr
    assert "another service" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("notaurl", "'notaurl' is not a database URL: give sqlite:////"),
        ("mysql://me@db.example/schedy", "Schedy keeps its data in SQLite or PostgreSQL, not mysql"),
        # A port that is not a number: SQLAlchemy's ValueError was a traceback; the password stays hidden.
        (
            "postgresql://me:s3cret@db.example:5432x/schedy",
            "'postgresql://me:***@db.example:5432x/schedy' is not a database URL: its port must be a number",
        ),
        # Nothing listens on port 1: the driver's reason, the password masked, what to check.
        (
            "postgresql://me:s3cret@127.0.0.1:1/schedy",
            "Cannot open the database postgresql://me:***@127.0.0.1:1/schedy (",
        ),
        ("sqlite:////proc/schedy.db", "Cannot create the database file /proc/schedy.db ("),
        ("sqlite:///{tmp}/garbage.db", "(file is not a database): is the directory writable, and the file a SQLite"),
    ],
)
@pytest.mark.parametrize("command", ["server", "user"])
def test_a_database_that_cannot_be_used_is_one_sentence_not_a_traceback(tmp_path, url, says, command):
    (tmp_path / "garbage.db").write_bytes(b"not a database, " * 64)
    url = url.replace("{tmp}", str(tmp_path))
    env = {"SCHEDY_HOME": str(tmp_path / "home"), "SCHEDY_CONFIG": str(tmp_path / "home" / "client.json")}
    if command == "server":
        result = _schedy("server", "--port", str(_free_port()), "--database", url, env=env)
    else:
        result = _schedy("user", "list", "--database", url, env=env)
        if url == "sqlite:////proc/schedy.db":  # only a service creates its database: a user command finds none
            says = "There is no database at /proc/schedy.db: name the service's with --database"
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("schedy: "), result.stderr
    assert says in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "s3cret" not in result.stderr
    assert (tmp_path / "garbage.db").read_bytes() == b"not a database, " * 64  # left as it was


def test_the_data_directory_is_private_and_a_kept_config_hides_the_token(tmp_path):
    """Created 0700 (it holds the database and the client's token); an existing client.json: no token in the log."""
    home = tmp_path / "fresh" / "home"
    added = _schedy(
        "user", "add", "a@b.c", "--password-stdin", "--database", f"sqlite:///{home}/schedy.db", stdin="longenough\n"
    )
    assert added.returncode == 0, added.stderr
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    svc_home = tmp_path / "svc"
    svc_home.mkdir()
    kept = '{"root": "http://example.invalid/", "email": "x@y.z", "token": "t"}'
    (svc_home / "client.json").write_text(kept)
    with ServiceProcess.start(svc_home) as service:
        log = service.log()
    assert "Created the first user, admin@localhost (password: " in log
    assert "Kept the existing client configuration" in log
    assert "API token" not in log
    assert (svc_home / "client.json").read_text() == kept


@pytest.mark.parametrize(
    ("command", "missing"), [(["server", "--port", "0"], "fastapi"), (["user", "list"], "sqlalchemy")]
)
def test_without_the_server_extra_the_service_commands_say_what_to_install(tmp_path, command, missing):
    # A client-only install (`pip install .`: no dependencies) has no FastAPI or SQLAlchemy; this hides one.
    blocked = (
        f"import sys; sys.modules[{missing!r}] = None; from schedy.cli.main import main; sys.exit(main({command!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SCHEDY_HOME": str(tmp_path / "home"), "SCHEDY_DATABASE_URL": f"sqlite:///{tmp_path}/db"},
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"schedy: 'schedy {command[0]}' needs the service's packages ({missing} is not installed): "
        "pip install './[server]' from a checkout of Schedy.\n"
    )
    assert not (tmp_path / "db").exists()  # nothing was started or created


@pytest.mark.parametrize(
    ("args", "says", "status"),
    [  # a wrong argument is exit status 2; a store that cannot be used, 1
        (("--port", "99999"), "--port must be between 1 and 65535, got 99999.", 2),
        (("--public-url", "schedy.example.org"), "--public-url must be the http:// or https:// URL clients reach", 2),
        (("--public-url", "http://host:99999/"), "--public-url must be the http:// or https:// URL clients reach", 2),
        (("--artifacts", "nosuch://bucket/x"), "Cannot store artifacts in nosuch://bucket/x (Protocol not known", 1),
        (("--artifacts", "{tmp}/a-file/artifacts"), "Cannot store artifacts in {tmp}/a-file/artifacts (", 1),
    ],
)
def test_bad_server_options_are_one_sentence_and_leave_no_database(tmp_path, args, says, status):
    (tmp_path / "a-file").write_text("a file, not a directory")
    args = tuple(arg.replace("{tmp}", str(tmp_path)) for arg in args)
    env = {"SCHEDY_HOME": str(tmp_path / "home"), "SCHEDY_CONFIG": str(tmp_path / "home" / "client.json")}
    database = tmp_path / "schedy.db"
    result = _schedy("server", "--port", str(_free_port()), "--database", f"sqlite:///{database}", *args, env=env)
    assert result.returncode == status, result.stdout
    assert result.stderr.startswith("schedy: "), result.stderr
    assert says.replace("{tmp}", str(tmp_path)) in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert not database.exists()


def test_a_postgresql_unix_socket_url_serves_and_its_first_line_shows_it_without_the_password(tmp_path, pg_cluster):
    """``?host=/socket/dir`` (libpq's form, for a server on the same machine) reaches both drivers.

    The first line shows where the data is, the socket's directory included, and never a password.
    """
    tcp = pg_cluster.new_database()
    name = tcp.rsplit("/", 1)[1]
    url = f"postgresql://postgres:hunter2@/{name}?host={pg_cluster.directory}&port={pg_cluster.port}&password=hunter3"
    with ServiceProcess.start(tmp_path / "home", url) as service:
        with schedy.SchedyDB(config_override=service.first_start_config()) as db:
            db.add_experiment(schedy.RandomSearch("socket", {"x": schedy.random.Uniform(0, 1)}))
            exp = db.get_experiment("socket")
            with exp.next_job() as job:  # a claim and an update: the asynchronous driver's paths
                job.results["loss"] = job.hyperparameters["x"]
            assert [j.status for j in exp.all_jobs()] == ["DONE"]
        first = service.log().splitlines()[0]
    assert first.startswith(
        f"Schedy {__version__} (self-hosted) is serving postgresql://postgres:***@/{name}"
        f"?host={pg_cluster.directory}&port={pg_cluster.port}&password=*** at "
    )
    assert "hunter" not in service.log()


@pytest.mark.parametrize(
    "command",
    [["list"], ["passwd", "a@b.c", "--password-stdin"], ["remove", "a@b.c", "-f"]],
    ids=lambda command: command[0],
)
def test_user_commands_refuse_a_sqlite_file_that_does_not_exist_and_create_nothing(tmp_path, command):
    """A mistyped --database was a new, empty database (and its directory): ``user list`` said there were no users."""
    typo = tmp_path / "typo-dir" / "schedy.db"
    for url, shown in ((f"sqlite:///{typo}", str(typo)), ("sqlite:///relative.db", "relative.db")):
        result = subprocess.run(
            [sys.executable, "-m", "schedy.cli.main", "user", *command, "--database", url],
            input="longenough\n",
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "SCHEDY_HOME": str(tmp_path / "home")},
            cwd=tmp_path,
            check=False,
        )
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == (
            f"schedy: There is no database at {shown}: name the service's with --database (default "
            "$SCHEDY_DATABASE_URL, else the data directory's schedy.db).\n"
        )
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # no directory, no file
    # The database of a service that ran is found; `user add` still creates one to start a service on.
    url = f"sqlite:///{tmp_path}/db/schedy.db"
    assert _schedy("user", "add", "a@b.c", "--no-password", "--database", url).returncode == 0
    assert _schedy("user", "list", "--database", url).stdout == "a@b.c\n"


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_a_client_config_that_cannot_be_written_stops_the_first_start_and_loses_no_account(tmp_path, where):
    """``SCHEDY_CONFIG=/proc/nope/c.json schedy server``: one sentence, and the next start still prints the password.

    The admin's password is printed once and its token is only in that file: an admin committed without
    them would lock the operator out (a later start creates no other).
    """
    home = tmp_path / "home"
    (tmp_path / "a-file").write_text("")
    unwritable = "/proc/nope/c.json" if where == "proc" else str(tmp_path / "a-file" / "c.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDY_")}
    env |= {"HOME": str(home), "SCHEDY_CONFIG": unwritable}
    result = subprocess.run(
        [sys.executable, "-m", "schedy.cli.main", "server", "--port", str(_free_port()), "--log-level", "warning"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(f"schedy: Cannot write the client configuration {unwritable} ("), result.stderr
    assert "no user was created" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr  # not a traceback
    assert "Created the first user" not in result.stdout  # no password printed for an account that is not there
    database = f"sqlite:///{home}/.schedy/schedy.db"
    assert _schedy("user", "list", "--database", database).stdout == ""
    # Given a place it can write, the next start creates the admin and says its password.
    with ServiceProcess.start(home / ".schedy", database) as service:
        config = service.first_start_config()
        log = service.log()
        token = httpx.post(service.url + "token/", json={"email": config["email"], "token": config["token"]})
    assert "Created the first user, admin@localhost (password: " in log
    assert token.status_code == 200
    assert not list((tmp_path / "home" / ".schedy").glob(".client.json.*"))  # no temporary file left behind


@pytest.mark.parametrize(
    "command",
    [["list"], ["passwd", "a@b.c", "--password-stdin"], ["remove", "a@b.c", "-f"]],
    ids=lambda command: command[0],
)
def test_user_commands_refuse_a_database_without_schedy_tables_and_change_nothing(tmp_path, pg_cluster, command):
    """A URL that leaves the database name out names PostgreSQL's ``postgres``: ``user list`` filled it with tables.

    The same for an empty PostgreSQL database and for another application's SQLite file (left byte for byte,
    in its own journal mode); ``user add`` still creates the tables of a new database (see above).
    """
    import sqlite3

    from sqlalchemy import create_engine, inspect

    other_app = tmp_path / "other-app.db"
    with sqlite3.connect(other_app) as raw:
        raw.execute("CREATE TABLE notes (body TEXT)")
    raw.close()
    before = other_app.read_bytes()
    no_name = pg_cluster.url("")  # postgresql://postgres@127.0.0.1:PORT/
    empty = pg_cluster.new_database()
    for url in (no_name, empty, f"sqlite:///{other_app}"):
        result = _schedy(
            "user", *command, "--database", url, stdin="longenough\n", env={"SCHEDY_HOME": str(tmp_path / "home")}
        )
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert result.stderr == (
            f"schedy: There is no Schedy database at {url} (it holds no Schedy tables): name the service's with "
            "--database (default $SCHEDY_DATABASE_URL, else the data directory's schedy.db).\n"
        )
    for url in (pg_cluster.url("postgres"), empty):
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == []
        engine.dispose()
    assert other_app.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["other-app.db"]  # no -wal, no -shm
