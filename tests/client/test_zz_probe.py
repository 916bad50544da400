import math
import schedy
from schedy.random import Uniform, Choice, Integer, LogUniform

BASE = {"x": 0.5, "c": "a", "n": 3, "l": 0.01}
WEIRD = [{"x": "abc"}, {"x": 5}, {"x": None}, {"x": [1, 2]}, {"x": 1e308}, {"x": -0.0},
         {"x": True}, {"x": {"a": 1}}, {"c": "zz"}, {"c": 3}, {"c": {"k": 1}}, {"n": 2.5}, {"n": "7"}, {"n": 100}, {"l": -1}, {"l": 0}, {"x": float("nan")}]

def test_probe(db):
    space = {"x": Uniform(0, 1), "c": Choice(["a", "b", {"k": 1}]), "n": Integer(1, 9), "l": LogUniform(1e-3, 1)}
    db.add_experiment(schedy.TPESearch("tpe", space, "min", "loss", n_startup_jobs=2))
    exp = db.get_experiment("tpe")
    for i, w in enumerate(WEIRD):
        hp = {**BASE, **w}
        for res in ({"loss": float(i)}, {"loss": [1, 2]}, {"loss": "x"}):
            try:
                exp.add_job(hyperparameters=hp, status="DONE", results=res)
                print("accepted", w, res)
            except schedy.errors.ClientRequestError as e:
                print("refused", w, str(e)[:150])
    for _ in range(8):
        with exp.next_job() as job:
            job.results["loss"] = job.hyperparameters["x"]
    print("tpe ok")
    db.add_experiment(schedy.GridSearch("grid", {"x": [1, 2, 3], "c": ["a", None]}))
    g = db.get_experiment("grid")
    for w in WEIRD:
        try:
            g.add_job(hyperparameters={"x": 1, "c": "a", **w}, status="DONE", results={"loss": 1})
            print("grid accepted", w)
        except schedy.errors.ClientRequestError as e:
            print("grid refused", w, str(e)[:150])
    n = 0
    for job in g.jobs():
        with job:
            n += 1
    print("grid ran", n)
