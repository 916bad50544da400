"""The public Schedy 0.1.0b6 client and CLI (PyPI, 2018), unmodified, against our service.

docs/protocol.md promises that this client works unchanged. Every test drives it in its
own virtualenv (see conftest.py) over real HTTP, on SQLite and PostgreSQL,
and asserts what its user would see: return values, exceptions, CLI output.
Where the client cannot show something, our plain HTTP view checks it.
"""

from __future__ import annotations

import json
import math
import stat

from tests.compat.conftest import wait_for

# --------------------------------------------------------------------------- setup and authentication


def test_the_virtualenv_holds_the_public_client_not_ours(old):
    out = old.run("""
        import importlib.metadata
        OUT["version"] = importlib.metadata.version("schedy")
        OUT["file"] = schedy.__file__
        OUT["has_old_api"] = all(hasattr(schedy, n) for n in ("SchedyDB", "ManualSearch", "RandomSearch",
                                                               "PopulationBasedTraining", "Job"))
    """)
    assert out["version"] == "0.1.0b6"
    assert out["file"].startswith(str(old.venv.path))
    assert out["has_old_api"]


def test_gen_token_writes_a_working_private_config(old, service):
    target = old.workdir / "fresh" / "client.json"
    done = old.cli("gen-token", "--root", service.url, "--email", service.email, "--password", service.password,
                   config=target)
    assert done.returncode == 0, done.stderr
    assert f"Your token has been saved to {target}." in done.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    written = json.loads(target.read_text())
    assert set(written) == {"root", "email", "token", "token_type"}
    assert written["root"] == service.url
    assert written["email"] == service.email
    assert written["token_type"] == "api_token"
    assert isinstance(written["token"], str)
    assert written["token"] not in ("", service.api_token, service.password)
    # The written file is all the old client needs.
    out = old.run("""
        db = connect()
        db.add_experiment(schedy.ManualSearch("made-with-new-token"))
        OUT["names"] = [e.name for e in db.get_experiments()]
    """, config=target)
    assert out["names"] == ["made-with-new-token"]
    listed = old.cli("list", config=target)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["made-with-new-token", "RUNNING", "Manual"]


def test_gen_token_with_a_wrong_password_fails_and_writes_nothing(old, service):
    target = old.workdir / "wrong" / "client.json"
    done = old.cli("gen-token", "--root", service.url, "--email", service.email, "--password", "not-it",
                   config=target)
    assert done.returncode != 0
    assert "AuthenticationError" in done.stderr
    assert "HTTP Error 403" in done.stderr
    assert not target.exists()


def test_password_config_works_for_the_whole_flow(old, service):
    config = old.write_config("password.json", token=service.password, token_type="password")
    out = old.run("""
        db = connect()
        exp = schedy.ManualSearch("by-password")
        db.add_experiment(exp)
        added = exp.add_job(hyperparameters={"lr": 0.1})
        with exp.next_job() as job:
            OUT["claimed"] = job_dict(job)
            job.results = {"loss": 0.25}
        OUT["final"] = job_dict(db.get_experiment("by-password").get_job(added.job_id))
        OUT["experiments"] = [e.name for e in db.get_experiments()]
    """, config=config)
    assert out["claimed"]["status"] == "RUNNING"
    assert out["claimed"]["hyperparameters"] == {"lr": 0.1}
    assert out["final"]["status"] == "DONE"
    assert out["final"]["results"] == {"loss": 0.25}
    assert out["experiments"] == ["by-password"]


def test_wrong_credentials_raise_authentication_error_for_both_token_types(old, service):
    bad_token = old.write_config("bad-token.json", token="nope")
    bad_password = old.write_config("bad-password.json", token="nope", token_type="password")
    out = old.run("""
        OUT["api_token"] = attempt(connect(ARGS["bad_token"]).get_experiments)
        OUT["password"] = attempt(connect(ARGS["bad_password"]).get_experiments)
    """, bad_token=str(bad_token), bad_password=str(bad_password))
    for outcome in (out["api_token"], out["password"]):
        assert (outcome["error"], outcome["code"]) == ("AuthenticationError", 403)


# --------------------------------------------------------------------------- experiments


def test_manual_search_round_trips_with_its_status(old):
    out = old.run("""
        db = connect()
        db.add_experiment(schedy.ManualSearch("manual"))
        db.add_experiment(schedy.ManualSearch("paused", status=schedy.Experiment.DONE))
        for name in ("manual", "paused"):
            got = db.get_experiment(name)
            OUT[name] = {"type": type(got).__name__, "name": got.name, "status": got.status}
    """)
    assert out["manual"] == {"type": "ManualSearch", "name": "manual", "status": "RUNNING"}
    assert out["paused"] == {"type": "ManualSearch", "name": "paused", "status": "DONE"}


def test_random_search_with_all_five_distributions_round_trips(old, raw):
    out = old.run("""
        db = connect()
        dists = {
            "lr": LogUniform(1e-5, 0.1),
            "dropout": Uniform(0.1, 0.5),
            "init_scale": Normal(0.0, 0.02),
            "optimizer": Choice(["sgd", "adam", 3, None, [1, 2], {"momentum": 0.9}]),
            "layers": Choice([1, 2, 3], weights=[0, 1, 3]),
            "activation": Constant("relu"),
            "arch": Constant({"blocks": [64, 128], "residual": True}),
        }
        db.add_experiment(schedy.RandomSearch("random", dists))
        got = db.get_experiment("random")
        OUT["type"] = type(got).__name__
        OUT["status"] = got.status
        OUT["sent"] = {k: dist_dict(v) for k, v in dists.items()}
        OUT["got"] = {k: dist_dict(v) for k, v in got.distributions.items()}
        OUT["equal"] = got.distributions == dists
    """)
    assert out["type"] == "RandomSearch"
    assert out["status"] == "RUNNING"
    assert out["got"] == out["sent"]
    assert out["got"]["layers"] == {"type": "Choice", "values": [1, 2, 3], "weights": [0.0, 1.0, 3.0]}
    assert out["got"]["optimizer"]["weights"] is None
    assert out["equal"]
    assert raw.experiment("random").json()["scheduler"]["RandomSearch"]["lr"] == {
        "loguniform": {"low": 1e-5, "high": 0.1}}


def test_population_based_training_round_trips(old, raw):
    out = old.run("""
        db = connect()
        pbt = schedy.PopulationBasedTraining(
            "pbt", objective=schedy.pbt.MINIMIZE, result_name="loss", exploit=Truncate(0.25),
            explore={"lr": Perturb(0.5, 1.5), "momentum": Perturb()},
            initial_distributions={"lr": LogUniform(1e-4, 0.1), "momentum": Uniform(0.8, 0.99),
                                   "batch": Choice([32, 64])},
            population_size=6, max_generations=5)
        db.add_experiment(pbt)
        got = db.get_experiment("pbt")
        OUT["type"] = type(got).__name__
        OUT["plain"] = [got.name, got.status, got.objective, got.result_name, got.population_size]
        OUT["exploit"] = dist_dict(got.exploit)
        OUT["explore"] = {k: dist_dict(v) for k, v in got.explore.items()}
        OUT["init"] = {k: dist_dict(v) for k, v in got.initial_distributions.items()}
    """)
    assert out["type"] == "PopulationBasedTraining"
    assert out["plain"] == ["pbt", "RUNNING", "min", "loss", 6]
    assert out["exploit"] == {"type": "Truncate", "proportion": 0.25}
    assert out["explore"] == {"lr": {"type": "Perturb", "min_factor": 0.5, "max_factor": 1.5},
                              "momentum": {"type": "Perturb", "min_factor": 0.8, "max_factor": 1.2}}
    assert out["init"] == {"lr": {"type": "LogUniform", "low": 1e-4, "high": 0.1},
                           "momentum": {"type": "Uniform", "low": 0.8, "high": 0.99},
                           "batch": {"type": "Choice", "values": [32, 64], "weights": None}}
    # The 0.1.0b6 client sends maxGenerations but reads back a key called
    # max_generations (its own bug), so it cannot show the value: check it on the wire.
    assert raw.experiment("pbt").json()["scheduler"]["PBT"]["maxGenerations"] == 5


def test_adding_an_experiment_twice_raises_resource_exists_and_keeps_the_first(old):
    out = old.run("""
        db = connect()
        db.add_experiment(schedy.ManualSearch("twice"))
        OUT["again"] = attempt(db.add_experiment, schedy.RandomSearch("twice", {"x": Uniform(0, 1)}))
        OUT["kept"] = type(db.get_experiment("twice")).__name__
    """)
    assert (out["again"]["error"], out["again"]["code"]) == ("ResourceExistsError", 412)
    assert out["kept"] == "ManualSearch"


def test_missing_experiment_is_a_404_client_error(old):
    out = old.run("""
        OUT["missing"] = attempt(connect().get_experiment, "nope")
    """)
    assert (out["missing"]["error"], out["missing"]["code"]) == ("ClientRequestError", 404)


def test_names_with_slashes_spaces_percent_and_unicode_work(old):
    names = ["a/b c", "100% sure", "ünïcødé 実験", "q?x=1#frag"]
    out = old.run("""
        db = connect()
        OUT["seen"] = {}
        for name in ARGS["names"]:
            exp = schedy.ManualSearch(name)
            db.add_experiment(exp)
            queued = exp.add_job(hyperparameters={"name": name})
            got = db.get_experiment(name)
            with got.next_job() as job:
                job.results = {"ok": True}
            OUT["seen"][name] = {"exp": got.name, "job": job_dict(got.get_job(queued.job_id)),
                                 "listed": len(list(got.all_jobs()))}
        OUT["listed"] = sorted(e.name for e in db.get_experiments())
        for name in ARGS["names"]:
            db.get_experiment(name).delete()
        OUT["after"] = [e.name for e in db.get_experiments()]
    """, names=names)
    for name in names:
        seen = out["seen"][name]
        assert seen["exp"] == name
        assert (seen["job"]["experiment"], seen["job"]["status"]) == (name, "DONE")
        assert seen["job"]["hyperparameters"] == {"name": name}
        assert seen["listed"] == 1
    assert out["listed"] == sorted(names)
    assert out["after"] == []


def test_push_updates_pauses_and_resumes_an_experiment(old):
    out = old.run("""
        db = connect()
        exp = schedy.ManualSearch("pausable")
        db.add_experiment(exp)
        queued = exp.add_job(hyperparameters={"x": 1})
        exp.status = schedy.Experiment.DONE
        exp.push_updates()
        OUT["status_paused"] = db.get_experiment("pausable").status
        OUT["paused"] = attempt(exp.next_job)
        exp.status = schedy.Experiment.RUNNING
        exp.push_updates()
        OUT["resumed"] = job_dict(exp.next_job())
        OUT["queued_id"] = queued.job_id
    """)
    assert out["status_paused"] == "DONE"
    assert out["paused"]["error"] == "NoJobError"
    assert out["resumed"]["id"] == out["queued_id"]
    assert out["resumed"]["status"] == "RUNNING"


# --------------------------------------------------------------------------- jobs


def test_add_job_keeps_hyperparameters_results_and_status(old):
    out = old.run("""
        db = connect()
        exp = schedy.ManualSearch("jobs")
        db.add_experiment(exp)
        specs = [
            {"hyperparameters": {"lr": 0.01, "layers": [64, 64], "opt": {"name": "adam", "beta": 0.9},
                                 "flag": True, "none": None, "tag": "x"}},
            {"hyperparameters": {"lr": 0.1}, "results": {"acc": 0.97, "curve": [0.5, 0.9]}, "status": "DONE"},
            {"hyperparameters": {"lr": 0.2}, "status": "CRASHED"},
            {"hyperparameters": {"lr": 0.3}, "results": {"note": "slow"}, "status": "PRUNED"},
            {"hyperparameters": {"lr": 0.4}, "status": "RUNNING"},
        ]
        added = [exp.add_job(**spec) for spec in specs]
        OUT["specs"] = specs
        OUT["added"] = [job_dict(j) for j in added]
        OUT["got"] = [job_dict(exp.get_job(j.job_id)) for j in added]
        OUT["listed"] = [job_dict(j) for j in exp.all_jobs()]
    """)
    expected = [(s["hyperparameters"], s.get("results", {}), s.get("status", "QUEUED")) for s in out["specs"]]
    for view in ("added", "got", "listed"):
        assert [(j["hyperparameters"], j["results"], j["status"]) for j in out[view]] == expected, view
        assert all(j["experiment"] == "jobs" for j in out[view])
    ids = [j["id"] for j in out["added"]]
    assert len(set(ids)) == len(ids)
    assert all(i and isinstance(i, str) for i in ids)
    assert [j["id"] for j in out["got"]] == ids
    assert [j["id"] for j in out["listed"]] == ids  # oldest first
    assert all(j["etag"] for j in out["added"] + out["got"])


def test_with_block_marks_the_job_done_with_its_results(old, raw):
    out = old.run("""
        db = connect()
        exp = schedy.ManualSearch("train")
        db.add_experiment(exp)
        queued = exp.add_job(hyperparameters={"lr": 0.01})
        with exp.next_job() as job:
            OUT["inside"] = job_dict(job)
            job.results = {"loss": 0.5, "acc": 0.8}
        OUT["final"] = job_dict(exp.get_job(queued.job_id))
        OUT["id"] = queued.job_id
    """)
    assert out["inside"]["id"] == out["id"]
    assert out["inside"]["status"] == "RUNNING"
    assert out["inside"]["hyperparameters"] == {"lr": 0.01}
    assert out["final"]["status"] == "DONE"
    assert out["final"]["results"] == {"loss": 0.5, "acc": 0.8}
    on_wire = raw.job("train", out["id"])
    assert on_wire.status_code == 200
    assert (on_wire.json()["status"], on_wire.json()["results"]) == ("DONE", {"loss": 0.5, "acc": 0.8})


def test_an_exception_in_the_with_block_marks_the_job_crashed(old, raw):
    out = old.run("""
        db = connect()
        exp = schedy.ManualSearch("crash")
        db.add_experiment(exp)
        queued = exp.add_job(hyperparameters={"lr": 10.0})
        try:
            with exp.next_job() as job:
                job.results = {"loss": 1e9}
                raise ValueError("diverged")
        except ValueError as e:
            OUT["raised"] = str(e)
        OUT["final"] = job_dict(exp.get_job(queued.job_id))
        OUT["id"] = queued.job_id
    """)
    assert out["raised"] == "diverged"  # the user's exception reaches the user
    assert out["final"]["status"] == "CRASHED"
    assert out["final"]["results"] == {"loss": 1e9}
    assert raw.job("crash", out["id"]).json()["status"] == "CRASHED"


def test_next_job_on_an_empty_manual_search_raises_no_job_error(old):
    out = old.run("""
        db = connect()
        exp = schedy.ManualSearch("empty")
        db.add_experiment(exp)
        OUT["empty"] = attempt(exp.next_job)
        exp.add_job(hyperparameters={"x": 1})
        with exp.next_job():
            pass
        OUT["drained"] = attempt(exp.next_job)
    """)
    assert out["empty"]["error"] == "NoJobError"
    assert out["drained"]["error"] == "NoJobError"


def test_random_search_hands_out_samples_within_the_distributions(old):
    out = old.run("""
        db = connect()
        exp = schedy.RandomSearch("sampled", {
            "lr": LogUniform(1e-5, 0.1),
            "dropout": Uniform(0.1, 0.5),
            "init_scale": Normal(0.0, 0.02),
            "optimizer": Choice(["sgd", "adam", "rmsprop"]),
            "layers": Choice([1, 2, 3], weights=[0, 1, 3]),
            "arch": Constant({"blocks": [64, 128], "residual": True}),
        })
        db.add_experiment(exp)
        OUT["jobs"] = []
        for _ in range(40):
            with exp.next_job() as job:
                OUT["jobs"].append(job_dict(job))
                job.results = {"loss": job.hyperparameters["dropout"]}
        OUT["done"] = sorted({j.status for j in exp.all_jobs()})
    """)
    jobs = out["jobs"]
    assert len({j["id"] for j in jobs}) == 40
    for job in jobs:
        hp = job["hyperparameters"]
        assert job["status"] == "RUNNING"
        assert set(hp) == {"lr", "dropout", "init_scale", "optimizer", "layers", "arch"}
        assert 1e-5 <= hp["lr"] < 0.1
        assert 0.1 <= hp["dropout"] < 0.5
        assert isinstance(hp["init_scale"], float)
        assert math.isfinite(hp["init_scale"])
        assert hp["optimizer"] in ("sgd", "adam", "rmsprop")
        assert hp["layers"] in (2, 3)  # weight 0: never 1
        assert hp["arch"] == {"blocks": [64, 128], "residual": True}
    assert len({j["hyperparameters"]["dropout"] for j in jobs}) == 40  # really sampled
    assert len({j["hyperparameters"]["optimizer"] for j in jobs}) > 1
    assert out["done"] == ["DONE"]


def test_population_based_training_runs_to_max_generations(old):
    out = old.run("""
        db = connect()
        exp = schedy.PopulationBasedTraining(
            "pbt-run", objective=schedy.pbt.MINIMIZE, result_name="loss", exploit=Truncate(0.5),
            explore={"lr": Perturb()}, initial_distributions={"lr": Uniform(0.01, 0.1)},
            population_size=4, max_generations=2)
        db.add_experiment(exp)
        OUT["handed"] = []
        for _ in range(50):  # bounded: a scheduler that never ends must not hang the test
            try:
                job = exp.next_job()
            except NoJobError:
                break
            with job:
                OUT["handed"].append(job_dict(job))
                job.results = dict(job.results, loss=job.hyperparameters["lr"])
        OUT["status"] = db.get_experiment("pbt-run").status
        OUT["after"] = attempt(exp.next_job)
    """)
    handed = out["handed"]
    assert len(handed) == 8  # population_size x max_generations, nothing failed
    assert all(0.01 <= j["hyperparameters"]["lr"] < 0.1 for j in handed[:4])
    assert all(j["hyperparameters"]["lr"] > 0 for j in handed)
    assert out["status"] == "DONE"
    assert out["after"]["error"] == "NoJobError"


def test_safe_put_refuses_a_stale_copy_and_unsafe_put_overwrites(old):
    out = old.run("""
        db = connect()
        exp = schedy.ManualSearch("conflict")
        db.add_experiment(exp)
        job_id = exp.add_job(hyperparameters={"x": 1}).job_id
        first, second = exp.get_job(job_id), exp.get_job(job_id)
        OUT["same_etag"] = first.etag == second.etag
        first.results = {"by": "first"}
        OUT["first"] = attempt(first.put)
        OUT["etag_changed"] = first.etag != second.etag
        second.results = {"by": "second"}
        second.status = schedy.Job.DONE
        OUT["safe"] = attempt(second.put, safe=True)
        OUT["after_safe"] = job_dict(exp.get_job(job_id))
        OUT["unsafe"] = attempt(second.put, safe=False)
        OUT["after_unsafe"] = job_dict(exp.get_job(job_id))
        OUT["first_now_stale"] = attempt(first.put)
    """)
    assert out["same_etag"]
    assert out["first"]["error"] is None
    assert out["etag_changed"]
    assert (out["safe"]["error"], out["safe"]["code"]) == ("UnsafeUpdateError", 412)
    assert (out["after_safe"]["status"], out["after_safe"]["results"]) == ("QUEUED", {"by": "first"})
    assert out["unsafe"]["error"] is None
    assert (out["after_unsafe"]["status"], out["after_unsafe"]["results"]) == ("DONE", {"by": "second"})
    assert out["after_unsafe"]["hyperparameters"] == {"x": 1}
    assert (out["first_now_stale"]["error"], out["first_now_stale"]["code"]) == ("UnsafeUpdateError", 412)


def test_nan_and_infinite_results_round_trip(old, raw):
    out = old.run("""
        db = connect()
        exp = schedy.ManualSearch("diverged")
        db.add_experiment(exp)
        nan, inf = float("nan"), float("inf")
        added = exp.add_job(hyperparameters={"lr": 10.0}, results={"loss": nan, "best": -inf, "worst": inf},
                            status="DONE")
        OUT["added"] = added.results
        OUT["got"] = exp.get_job(added.job_id).results
        queued = exp.add_job(hyperparameters={"lr": 1.0})
        with exp.next_job() as job:
            job.results = {"loss": nan}
        OUT["trained"] = exp.get_job(queued.job_id).results
        OUT["listed"] = [j.results for j in exp.all_jobs()]
        OUT["id"] = added.job_id
    """)
    for results in (out["added"], out["got"], out["listed"][0]):
        assert math.isnan(results["loss"])
        assert results["best"] == -math.inf
        assert results["worst"] == math.inf
    assert math.isnan(out["trained"]["loss"])
    assert math.isnan(out["listed"][1]["loss"])
    assert math.isnan(raw.job("diverged", out["id"]).json()["results"]["loss"])


# --------------------------------------------------------------------------- pagination


def test_all_jobs_follows_pages_and_returns_each_job_once(old, raw):
    out = old.run("""
        db = connect()
        exp = schedy.ManualSearch("many")
        db.add_experiment(exp)
        OUT["added"] = [exp.add_job(hyperparameters={"i": i}).job_id for i in range(250)]
        listed = list(exp.all_jobs())
        OUT["listed"] = [j.job_id for j in listed]
        OUT["i"] = [j.hyperparameters["i"] for j in listed]
        OUT["page_warnings"] = [w for w in _WARNINGS if "page" in w["message"].lower()]
    """)
    assert len(set(out["added"])) == 250
    assert out["listed"] == out["added"]  # each exactly once, oldest first
    assert out["i"] == list(range(250))
    assert out["page_warnings"] == []
    first_page = raw.http.get("experiments/many/jobs/").json()
    assert set(first_page) == {"items", "next"}
    assert len(first_page["items"]) < 250
    assert first_page["next"] is not None


def test_get_experiments_follows_pages_and_returns_each_once(old, raw):
    out = old.run("""
        db = connect()
        names = [f"exp-{i:03d}" for i in range(150)]
        for i, name in enumerate(names):
            db.add_experiment(schedy.ManualSearch(name) if i % 2 else schedy.RandomSearch(name, {"x": Uniform(0, 1)}))
        listed = list(db.get_experiments())
        OUT["names"] = names
        OUT["listed"] = [e.name for e in listed]
        OUT["types"] = {e.name: type(e).__name__ for e in listed}
        OUT["page_warnings"] = [w for w in _WARNINGS if "page" in w["message"].lower()]
    """)
    assert sorted(out["listed"]) == sorted(out["names"])
    assert len(out["listed"]) == 150
    assert out["types"]["exp-000"] == "RandomSearch"
    assert out["types"]["exp-001"] == "ManualSearch"
    assert out["page_warnings"] == []
    first_page = raw.http.get("experiments/").json()
    assert set(first_page) == {"items", "next"}
    assert first_page["next"] is not None


# --------------------------------------------------------------------------- deletion


def test_deleting_a_job_twice_with_ensure_raises(old):
    out = old.run("""
        db = connect()
        exp = schedy.ManualSearch("del-job")
        db.add_experiment(exp)
        job = exp.add_job(hyperparameters={"x": 1})
        keep = exp.add_job(hyperparameters={"x": 2})
        OUT["first"] = attempt(job.delete)
        OUT["again"] = attempt(job.delete)
        OUT["again_no_ensure"] = attempt(job.delete, ensure=False)
        OUT["get"] = attempt(exp.get_job, job.job_id)
        OUT["left"] = [j.job_id for j in exp.all_jobs()]
        OUT["keep"] = keep.job_id
    """)
    assert out["first"]["error"] is None
    assert (out["again"]["error"], out["again"]["code"]) == ("UnsafeUpdateError", 412)
    assert out["again_no_ensure"]["error"] is None
    assert (out["get"]["error"], out["get"]["code"]) == ("ClientRequestError", 404)
    assert out["left"] == [out["keep"]]


def test_deleting_an_experiment_twice_with_ensure_raises_and_removes_its_jobs(old):
    out = old.run("""
        db = connect()
        exp = schedy.ManualSearch("del-exp")
        db.add_experiment(exp)
        exp.add_job(hyperparameters={"x": 1})
        OUT["first"] = attempt(exp.delete)
        OUT["get"] = attempt(db.get_experiment, "del-exp")
        OUT["again"] = attempt(exp.delete, ensure=True)
        OUT["again_no_ensure"] = attempt(exp.delete, ensure=False)
        fresh = schedy.ManualSearch("del-exp")
        db.add_experiment(fresh)
        OUT["jobs_of_new"] = [j.job_id for j in fresh.all_jobs()]
    """)
    assert out["first"]["error"] is None
    assert (out["get"]["error"], out["get"]["code"]) == ("ClientRequestError", 404)
    assert (out["again"]["error"], out["again"]["code"]) == ("UnsafeUpdateError", 412)
    assert out["again_no_ensure"]["error"] is None
    assert out["jobs_of_new"] == []


# --------------------------------------------------------------------------- the old CLI


def test_cli_add_random_then_show_and_list(old, raw):
    added = old.cli("add", "cli-random", "random", "lr", "loguniform", '{"low":1e-5,"high":0.1}',
                    "layers", "choice", '{"values": [1, 2]}')
    assert added.returncode == 0, added.stderr
    assert raw.experiment("cli-random").json()["scheduler"] == {"RandomSearch": {
        "lr": {"loguniform": {"low": 1e-5, "high": 0.1}}, "layers": {"choice": {"values": [1, 2]}}}}
    shown = old.cli("show", "cli-random")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "name: cli-random" in lines
    assert "status: RUNNING" in lines
    assert "scheduler: RandomSearch" in lines
    assert 'lr: loguniform ({"low": 1e-05, "high": 0.1})' in lines
    assert 'layers: choice ({"values": [1, 2]})' in lines
    manual = old.cli("add", "-s", "DONE", "cli-manual", "manual")
    assert manual.returncode == 0, manual.stderr
    listed = old.cli("list")
    assert listed.returncode == 0, listed.stderr
    rows = sorted(line.split() for line in listed.stdout.splitlines() if line.strip())
    assert rows == [["cli-manual", "DONE", "Manual"], ["cli-random", "RUNNING", "RandomSearch"]]
    again = old.cli("add", "cli-manual", "manual")
    assert again.returncode != 0
    assert "ResourceExistsError" in again.stderr


def test_cli_push_show_list_and_rm(old, raw):
    assert old.cli("add", "cli-jobs", "manual").returncode == 0
    pushed = old.cli("push", "cli-jobs", "-s", "DONE", "-p", "lr", "0.01", "layers", "[64, 64]",
                     "-r", "loss", "0.5")
    assert pushed.returncode == 0, pushed.stderr
    fields = dict(line.split(": ", 1) for line in pushed.stdout.splitlines() if ": " in line)
    job_id = fields["id"]
    assert fields["status"] == "DONE"
    assert (fields["lr"], fields["layers"], fields["loss"]) == ("0.01", "[64, 64]", "0.5")
    on_wire = raw.job("cli-jobs", job_id).json()
    assert (on_wire["hyperparameters"], on_wire["results"]) == ({"lr": 0.01, "layers": [64, 64]}, {"loss": 0.5})
    queued = old.cli("push", "cli-jobs", "-p", "lr", "0.1")
    assert queued.returncode == 0, queued.stderr
    queued_fields = dict(line.split(": ", 1) for line in queued.stdout.splitlines() if ": " in line)
    assert queued_fields["status"] == "QUEUED"
    listed = old.cli("list", "cli-jobs")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines() if line.strip()]
    assert rows == [[job_id, "DONE"], [queued_fields["id"], "QUEUED"]]  # oldest first
    shown = old.cli("show", "cli-jobs", job_id)
    assert shown.returncode == 0, shown.stderr
    assert f"id: {job_id}" in shown.stdout.splitlines()
    removed = old.cli("rm", "-f", "cli-jobs", job_id)
    assert removed.returncode == 0, removed.stderr
    gone = old.cli("show", "cli-jobs", job_id)
    assert gone.returncode != 0
    assert "HTTP Error 404" in gone.stderr
    assert raw.job("cli-jobs", job_id).status_code == 404
    removed_exp = old.cli("rm", "-f", "cli-jobs")
    assert removed_exp.returncode == 0, removed_exp.stderr
    assert old.cli("list").stdout.strip() == ""
    assert raw.experiment("cli-jobs").status_code == 404


# --------------------------------------------------------------------------- many workers

_WORKER = """
    db = connect()
    exp = db.get_experiment(ARGS["experiment"])
    open(ARGS["ready"], "w").close()
    import os, time
    while not os.path.exists(ARGS["go"]):
        time.sleep(0.005)
    OUT["ids"] = []
    for _ in range(ARGS["count"]):
        with exp.next_job() as job:
            OUT["ids"].append(job.job_id)
            job.results = {"worker": ARGS["worker"], "i": job.hyperparameters["i"]}
"""


def test_parallel_workers_run_each_queued_job_exactly_once(old):
    workers, per_worker = 4, 50
    total = workers * per_worker
    old.run("""
        db = connect()
        exp = schedy.ManualSearch("queue")
        db.add_experiment(exp)
        for i in range(ARGS["total"]):
            exp.add_job(hyperparameters={"i": i})
    """, total=total)
    go = old.workdir / "go"
    ready = [old.workdir / f"ready-{w}" for w in range(workers)]
    running = [old.start(_WORKER, experiment="queue", worker=w, count=per_worker, ready=str(ready[w]), go=str(go))
               for w in range(workers)]
    wait_for(ready)
    go.touch()
    claimed = {w: run.result()["ids"] for w, run in enumerate(running)}
    all_ids = [i for ids in claimed.values() for i in ids]
    assert len(all_ids) == total
    assert len(set(all_ids)) == total  # no job handed to two workers
    out = old.run("""
        exp = connect().get_experiment("queue")
        OUT["jobs"] = [job_dict(j) for j in exp.all_jobs()]
        OUT["after"] = attempt(exp.next_job)
    """)
    jobs = out["jobs"]
    assert len(jobs) == total
    assert {j["status"] for j in jobs} == {"DONE"}
    assert {j["id"] for j in jobs} == set(all_ids)
    owner = {job_id: w for w, ids in claimed.items() for job_id in ids}
    assert all(j["results"] == {"worker": owner[j["id"]], "i": j["hyperparameters"]["i"]} for j in jobs)
    assert out["after"]["error"] == "NoJobError"
