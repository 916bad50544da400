"""PyTorch tensors in a job's results and reports: sent as the numbers and lists they hold, to the real service."""

from __future__ import annotations

import math

import schedy
from tests.integrations.conftest import framework

torch = framework("torch")


def test_tensors_in_results_and_reports_arrive_as_numbers_and_lists(db: schedy.SchedyDB) -> None:
    db.add_experiment(schedy.ManualSearch("tensors"))
    exp = db.get_experiment("tensors")
    exp.add_job(hyperparameters={"lr": 0.1})
    weight = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    loss = (weight**2).mean()  # a 0-d tensor with a gradient: what a training loop holds
    with exp.next_job() as job:
        assert job.report(1, loss=loss) is False
        job.results["loss"] = loss
        job.results["weights"] = weight
        job.results["steps"] = torch.tensor(12)
        job.results["diverged"] = torch.tensor(False)
        job.results["grad_norm"] = torch.tensor(float("nan"))
        job.results["half"] = torch.ones(2, dtype=torch.bfloat16)
    stored = exp.get_job(job.job_id)
    assert stored.status == "DONE"  # not CRASHED for a value it could not send
    assert stored.results["loss"] == 7.5
    assert stored.results["weights"] == [[1.0, 2.0], [3.0, 4.0]]
    assert stored.results["steps"] == 12
    assert stored.results["diverged"] is False
    assert math.isnan(stored.results["grad_norm"])
    assert stored.results["half"] == [1.0, 1.0]
    assert [report["metrics"] for report in stored.reports()] == [{"loss": 7.5}]
