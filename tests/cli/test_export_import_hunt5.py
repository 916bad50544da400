"""``schedy export -o -`` writes to standard output; an empty reports export is refused as a reports file (hunt 5)."""

from __future__ import annotations

import csv
import io
import subprocess

import schedy
from schedy.random import Uniform
from tests.cli.conftest import clean_env


def _experiment(cli, name: str) -> str:
    with cli.db() as db:
        exp = db.add_experiment(schedy.RandomSearch(name, {"x": Uniform(0, 1)}))
        exp.add_job(hyperparameters={"x": 0.5}, results={"loss": 1.0}, status="DONE")
    return name


def test_export_dash_o_dash_writes_standard_output_not_a_file_named_dash(cli, tmp_path):
    _experiment(cli, "e3")
    where = tmp_path / "cwd"
    where.mkdir()
    for fmt, start in (("csv", "id,status,"), ("json", "[\n{")):
        argv = cli.argv("export", "e3", "--format", fmt, "-o", "-")
        done = subprocess.run(argv, cwd=where, env=clean_env(cli.home), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(start)
        assert list(where.iterdir()) == []  # no file named "-"
    rows = list(csv.DictReader(io.StringIO(cli.ok("export", "e3", "-o", "-"))))
    assert [r["hyperparameters.x"] for r in rows] == ["0.5"]


def test_an_empty_reports_export_is_refused_as_a_reports_file(cli, tmp_path):
    _experiment(cli, "quiet")
    _experiment(cli, "quiet-copy")
    path = tmp_path / "r.csv"
    cli.ok("export", "quiet", "--reports", "-o", str(path))
    assert path.read_text(encoding="utf-8") == "job,attempt,step,time\n"  # header only: the job has no report
    done = cli("import", "quiet-copy", str(path))
    assert done.returncode != 0
    assert done.stderr == (
        "schedy: The file holds intermediate reports (schedy export --reports), not jobs: import the jobs' own "
        "export (schedy export EXPERIMENT, without --reports) instead; reports cannot be imported.\n"
    )
