"""``schedy import`` run again on an Optuna CSV with other results, and statuses written in lower case.

An Optuna CSV has no ids: its trials are created under a hash of their number, start time and
hyperparameters, so that an import run again recognises them. Imported first with the wrong
``--result``, the second import was refused with "remove the ids from the file", which such a file
cannot do; it now names the cause and the jobs to remove. A hand-edited file's ``done`` rows were
skipped as an unknown status; statuses are now read in any case.
"""

from __future__ import annotations

import json

import schedy
from schedy.random import LogUniform

_OPTUNA = (
    "number,value,params_lr,state,user_attrs_acc,duration\n"
    "0,0.5,0.01,COMPLETE,0.9,1\n"
    "1,0.4,0.02,COMPLETE,0.8,1\n"
    "2,,0.03,FAIL,,1\n"
)


def _tpe(cli, name: str) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.TPESearch(name, {"lr": LogUniform(1e-4, 0.1)}, "max", "acc"))


def test_an_optuna_csv_imported_again_with_other_results_names_the_jobs_to_remove(cli, tmp_path):
    _tpe(cli, "tp2")
    study = tmp_path / "optuna.csv"
    study.write_text(_OPTUNA)
    assert cli.ok("import", "tp2", str(study)).startswith("Added 2 DONE jobs to tp2")  # value -> acc
    with cli.db() as db:
        first = sorted(job.job_id for job in db.get_experiment("tp2").all_jobs())

    again = cli("import", "tp2", str(study), "--result", "acc=user_attrs_acc")  # what the user meant

    assert again.returncode == 1
    message = again.stderr.strip().splitlines()[-1]  # after the line naming the columns not imported
    assert message.endswith("; nothing was added.")
    assert "remove the ids" not in message  # the file has none
    assert "2 of the file's rows were imported into tp2 before, with other results or status" in message
    assert all(job_id in message for job_id in first)
    assert "schedy rm -f tp2 JOB" in message
    assert "or import into another experiment" in message

    # The advice works: the earlier jobs removed, the import adds the rows with the results meant.
    for job_id in first:
        cli.ok("rm", "-f", "tp2", job_id)
    assert cli.ok("import", "tp2", str(study), "--result", "acc=user_attrs_acc").startswith("Added 2 DONE jobs")
    with cli.db() as db:
        accs = sorted(job.results["acc"] for job in db.get_experiment("tp2").all_jobs())
    assert accs == [0.8, 0.9]


def test_one_trial_imported_before_gets_the_exact_command(cli, tmp_path):
    _tpe(cli, "one trial")
    study = tmp_path / "optuna.csv"
    study.write_text(_OPTUNA.replace("0.4,0.02,COMPLETE", "0.4,0.02,RUNNING"))
    cli.ok("import", "one trial", str(study))
    with cli.db() as db:
        [job] = db.get_experiment("one trial").all_jobs()

    again = cli("import", "one trial", str(study), "--result", "acc=user_attrs_acc")

    assert again.returncode == 1
    assert "1 of the file's rows was imported into one trial before" in again.stderr
    assert f"remove that job (schedy rm -f 'one trial' {job.job_id})" in again.stderr


def test_statuses_are_read_in_any_case(cli, tmp_path):
    _tpe(cli, "cases")
    edited = tmp_path / "edited.csv"
    edited.write_text(
        "status,hyperparameters.lr,results.acc\ndone,0.01,0.9\nPruned,0.02,0.5\ncomplete,0.03,0.7\ncrashed,0.04,\n"
    )

    said = cli("import", "cases", str(edited))

    assert (said.returncode, said.stdout) == (0, "Added 2 DONE and 1 PRUNED jobs to cases (1 crashed row skipped).\n")
    jsonl = tmp_path / "jobs.jsonl"
    jsonl.write_text(json.dumps({"status": "done", "hyperparameters": {"lr": 0.05}, "results": {"acc": 0.1}}) + "\n")
    assert cli.ok("import", "cases", str(jsonl)) == "Added 1 DONE job to cases.\n"
    with cli.db() as db:
        statuses = sorted(job.status for job in db.get_experiment("cases").all_jobs())
    assert statuses == ["DONE", "DONE", "DONE", "PRUNED"]
