"""The 0.1.0b6 client (2018) beside experiments made with this service's new searches and distributions.

That client parses every experiment it lists and raises on a scheduler or a distribution it does not
know, so one TPE experiment used to break its whole listing; and pausing an experiment
(``push_updates``) sends back only what it could read, which used to rewrite the search. These tests
run it unmodified (conftest.py) against the real service on SQLite and PostgreSQL.
"""

from __future__ import annotations

from urllib.parse import quote

from tests.compat.conftest import RawApi

_SPACE = {"lr": {"loguniform": {"low": 1e-4, "high": 0.1}}}
_SGD = {"sgd": {"m": {"uniform": {"low": 0, "high": 1}}}}
#: Experiments the 2018 client cannot read (each made by our plain HTTP view, as a new client would).
_UNREADABLE = {
    "tpe": {"scheduler": {"TPESearch": {"distributions": _SPACE, "objective": "min", "resultName": "loss"}}},
    "grid": {"scheduler": {"GridSearch": {"batch": [16, 32], "depth": [2, 3]}}},
    "integer": {"scheduler": {"RandomSearch": {"layers": {"integer": {"low": 1, "high": 8}}}}},
    "pbt-integer": {
        "scheduler": {
            "PBT": {
                "objective": "min",
                "qualityResultName": "loss",
                "exploit": {"truncate": 0.2},
                "init": {"layers": {"integer": {"low": 1, "high": 4}}},
                "numParallel": 2,
            }
        }
    },
}
#: Experiments it reads, with keys it does not know (a quantised uniform, a conditional choice, PBT's end).
_READABLE = {
    "sobol": {"scheduler": {"RandomSearch": _SPACE}, "sampler": "sobol", "seed": 3},
    "stepped": {"scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1, "step": 0.25}}}}},
    "branches": {"scheduler": {"RandomSearch": {"opt": {"choice": {"values": ["sgd", "adam"], "branches": _SGD}}}}},
    "pbt-end": {
        "scheduler": {
            "PBT": {
                "objective": "min",
                "qualityResultName": "loss",
                "exploit": {"truncate": 0.2},
                "init": {"lr": {"loguniform": {"low": 1e-4, "high": 0.1}}},
                "explore": {"lr": {"perturb": {"minFactor": 0.8, "maxFactor": 1.2, "resampleProbability": 0.25}}},
                "numParallel": 2,
                "maxGenerations": 3,
            }
        }
    },
}


def _make(raw: RawApi, experiments: dict[str, dict[str, object]]) -> None:
    for name, body in experiments.items():
        answer = raw.http.put(f"experiments/{quote(name)}/", json=body)
        assert answer.status_code == 201, answer.text


def test_the_old_client_lists_and_reads_every_experiment_and_its_cli_lists_them(old, raw):
    """Searches it cannot read are shown to it as Manual: its listing, get_experiment and `schedy list` work."""
    _make(raw, {"before": {"scheduler": {"Manual": None}}, **_UNREADABLE, **_READABLE})
    out = old.run("""
        db = connect()
        OUT["listed"] = {e.name: type(e).__name__ for e in db.get_experiments()}
        OUT["read"] = {name: type(db.get_experiment(name)).__name__ for name in ARGS["names"]}
        OUT["sobol"] = {k: dist_dict(v) for k, v in db.get_experiment("sobol").distributions.items()}
    """, names=[*_UNREADABLE, *_READABLE])
    manual = dict.fromkeys(_UNREADABLE, "ManualSearch")
    readable = {"sobol": "RandomSearch", "stepped": "RandomSearch", "branches": "RandomSearch",
                "pbt-end": "PopulationBasedTraining"}
    assert out["listed"] == {"before": "ManualSearch", **manual, **readable}
    assert out["read"] == {**manual, **readable}
    assert out["sobol"] == {"lr": {"type": "LogUniform", "low": 1e-4, "high": 0.1}}  # the space, not a "sampler"
    listed = old.cli("list")
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    assert names == ["before", *_UNREADABLE, *_READABLE]
    # Our own view still shows every search as it is.
    assert raw.experiment("tpe").json()["scheduler"]["TPESearch"]["resultName"] == "loss"
    assert raw.experiment("sobol").json()["sampler"] == "sobol"


def test_pausing_and_resuming_with_the_old_client_leaves_every_search_as_it_was(old, raw):
    """push_updates sends back only what the client read: the service keeps what it did not show."""
    _make(raw, {**_UNREADABLE, **_READABLE})
    before = {name: raw.experiment(name).json() for name in [*_UNREADABLE, *_READABLE]}
    out = old.run("""
        db = connect()
        for name in ARGS["names"]:
            exp = db.get_experiment(name)
            exp.status = "DONE"
            exp.push_updates()
            exp.status = "RUNNING"
            exp.push_updates()
        OUT["statuses"] = {name: db.get_experiment(name).status for name in ARGS["names"]}
    """, names=[*_UNREADABLE, *_READABLE])
    assert set(out["statuses"].values()) == {"RUNNING"}
    for name, was in before.items():
        now = raw.experiment(name).json()
        assert now["scheduler"] == was["scheduler"], name
        assert now.get("sampler") == was.get("sampler"), name


def test_a_real_change_through_the_old_client_still_replaces_the_search(old, raw):
    _make(raw, {"stepped": _READABLE["stepped"], "tpe": _UNREADABLE["tpe"]})
    old.run("""
        db = connect()
        exp = db.get_experiment("stepped")
        exp.distributions = {"x": Uniform(0, 2)}
        exp.push_updates()
        replaced = schedy.RandomSearch("tpe", {"y": Uniform(0, 1)})  # its user's own definition, pushed
        replaced._db = db
        replaced.push_updates()
    """)
    assert raw.experiment("stepped").json()["scheduler"] == {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 2}}}}
    assert raw.experiment("tpe").json()["scheduler"] == {"RandomSearch": {"y": {"uniform": {"low": 0, "high": 1}}}}


def test_old_workers_claim_the_jobs_a_tpe_search_picks(old, raw):
    _make(raw, {"tpe": _UNREADABLE["tpe"]})
    out = old.run("""
        db = connect()
        exp = db.get_experiment("tpe")
        seen = []
        for _ in range(4):
            with exp.next_job() as job:
                seen.append(job.hyperparameters["lr"])
                job.results = {"loss": job.hyperparameters["lr"]}
        OUT["seen"] = seen
    """)
    assert len(out["seen"]) == 4
    assert all(1e-4 <= lr <= 0.1 for lr in out["seen"])
    jobs = raw.http.get("experiments/tpe/jobs/").json()["items"]
    assert sorted(job["status"] for job in jobs) == ["DONE"] * 4
