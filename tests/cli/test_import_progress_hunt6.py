"""``schedy import`` of a large file says how far it got, keeps the file's order, and is run again cheaply.

An import of 100,000 rows sent its jobs for minutes and printed nothing until its last line. Once the jobs
have been sent for a few seconds, a line on standard error now says how many are in (then one every few
seconds); standard output keeps its one closing line. The thresholds are the module's ``_PROGRESS_AFTER``
and ``_PROGRESS_EVERY``, set to 0 here (a line after every job) rather than importing 100,000 rows.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys

import schedy
from schedy.random import Uniform
from tests.cli.conftest import clean_env

#: ``schedy import`` with a progress line after every job (the thresholds a long import reaches).
_EAGER = (
    "import sys; import schedy.cli.import_ as m; m._PROGRESS_AFTER = m._PROGRESS_EVERY = 0.0; "
    "from schedy.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


def _eager(cli, *args: str) -> subprocess.CompletedProcess[str]:
    """``schedy import ARGS…`` as a long import runs it: with its progress lines."""
    return subprocess.run(
        [sys.executable, "-c", _EAGER, "--config", str(cli.config), "import", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(cli.home),
        check=False,
    )


def _tpe(cli, name: str) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.TPESearch(name, {"x": Uniform(-5, 5), "y": Uniform(-5, 5)}, "min", "loss"))


def _write(path, losses) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["status", "hyperparameters.x", "hyperparameters.y", "results.loss"])
        for i, loss in enumerate(losses):
            writer.writerow(["DONE", (i % 10) - 4.5, 0.5, loss])


def _losses(cli, name: str) -> list[float]:
    with cli.db() as db:
        return [job.results["loss"] for job in db.get_experiment(name).all_jobs()]


def test_a_long_import_says_how_far_it_got_on_standard_error_and_keeps_the_files_order(cli, tmp_path):
    _tpe(cli, "big")
    rows = tmp_path / "rows.csv"
    losses = [float((i * 7) % 40) for i in range(40)]  # not sorted: the listing must be the file's order
    _write(rows, losses)

    done = _eager(cli, "big", str(rows))

    assert done.returncode == 0, done.stderr
    assert done.stdout == "Added 40 DONE jobs to big.\n"  # standard output unchanged: its one closing line
    lines = done.stderr.splitlines()
    assert len(lines) == 40
    counts = []
    for line in lines:
        match = re.fullmatch(r"schedy: imported (\d+) of 40 jobs into big(, about \d+ s left)?…", line)
        assert match, line
        counts.append(int(match.group(1)))
    assert counts == list(range(1, 41))
    assert "left" not in lines[-1]
    assert _losses(cli, "big") == losses

    # Run again with 20 more rows: those already there are counted as such, the new ones follow in order.
    more = [*losses, *(100.0 + i for i in range(20))]
    _write(rows, more)
    again = _eager(cli, "big", str(rows))
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Added 20 DONE jobs to big (40 already there).\n"
    last = again.stderr.splitlines()[-1]
    assert last == "schedy: imported 60 of 60 jobs into big (40 of them already there)…"
    assert _losses(cli, "big") == more


def test_a_short_import_prints_no_progress(cli, tmp_path):
    _tpe(cli, "small")
    rows = tmp_path / "rows.csv"
    _write(rows, [1.0, 2.0, 3.0])

    done = cli("import", "small", str(rows))

    assert (done.returncode, done.stdout, done.stderr) == (0, "Added 3 DONE jobs to small.\n", "")


def test_a_row_changed_since_the_first_import_is_still_refused_after_the_jobs_already_there(cli, tmp_path):
    """Run again, the rows already there are skipped from one read of the jobs; a changed row is still named."""
    _tpe(cli, "source")
    with cli.db() as db:
        exp = db.get_experiment("source")
        for i in range(6):
            exp.add_job(hyperparameters={"x": float(i - 3), "y": 0.0}, results={"loss": float(i)}, status="DONE")
    export = tmp_path / "export.csv"
    cli.ok("export", "source", "-o", str(export))
    _tpe(cli, "copy")
    assert cli.ok("import", "copy", str(export)) == "Added 6 DONE jobs to copy.\n"

    with export.open(newline="") as stream:
        table = list(csv.reader(stream))
    column = table[0].index("results.loss")
    table[5][column] = "99.0"  # the 5th job's result changed in the file
    with export.open("w", newline="") as stream:
        csv.writer(stream).writerows(table)
    changed = table[5][table[0].index("id")]

    done = _eager(cli, "copy", str(export))

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (  # as before the rows already there were skipped from one read
        f"schedy: Added 0 of 6 jobs, then job 5 was refused: A job '{changed}' already exists in copy with other "
        "hyperparameters, results or status; remove the ids from the file to add its rows as new jobs. Run the "
        "import again once it is fixed: the jobs already added are recognised and skipped."
    )
    assert "imported 4 of 6 jobs into copy (4 of them already there)" in done.stderr
    assert _losses(cli, "copy") == [float(i) for i in range(6)]
