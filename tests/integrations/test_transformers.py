"""The transformers.Trainer callback with the real library (a tiny BERT made here, CPU) against the real service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import schedy
from tests.integrations.conftest import framework, next_job

torch = framework("torch")
transformers = framework("transformers")
framework("accelerate")


def _datasets(digits) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """Digits as sequences of 64 tokens (pixel intensities 0-16): 256 to train on, 128 to evaluate."""
    x, y = digits
    tokens = torch.tensor((x * 16).round(), dtype=torch.long)
    rows = [{"input_ids": tokens[i], "labels": int(y[i])} for i in range(384)]
    return rows[:256], rows[256:]


def _trainer(  # type: ignore[no-untyped-def]
    job: schedy.Job | None,
    digits,
    output: Path,
    epochs: int,
    eval_strategy: str = "epoch",
    monitor: str = "eval_loss",
    datasets: tuple[str, ...] = (),
    **options,
):
    from schedy.integrations.transformers import SchedyCallback

    transformers.set_seed(0)
    config = transformers.BertConfig(
        vocab_size=17,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=10,
    )
    model = transformers.BertForSequenceClassification(config)
    args = transformers.TrainingArguments(
        str(output),
        num_train_epochs=epochs,
        per_device_train_batch_size=64,
        per_device_eval_batch_size=128,
        learning_rate=3e-3,
        eval_strategy=eval_strategy,
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        data_seed=0,
    )
    train, valid = _datasets(digits)
    callbacks = [SchedyCallback(job, monitor, **options)]
    # With datasets ("a", "b"): the 128 evaluation rows split in two named evaluation datasets.
    evaluation: Any = {name: valid[i :: len(datasets)] for i, name in enumerate(datasets)} if datasets else valid
    return transformers.Trainer(model, args, train_dataset=train, eval_dataset=evaluation, callbacks=callbacks)


def test_trainer_reports_every_evaluation_and_checkpoints(experiment, digits, tmp_path: Path) -> None:
    from schedy.integrations.transformers import resume_checkpoint

    exp = experiment("eval_loss")
    job = next_job(exp)
    with job:
        assert resume_checkpoint(job, "checkpoint.tar") is None  # a first attempt starts from scratch
        trainer = _trainer(job, digits, tmp_path / "first", 4, checkpoint="checkpoint.tar", checkpoint_every=2)
        trainer.train()
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.DONE
    reports = job.reports()
    assert [r["step"] for r in reports] == [4, 8, 12, 16]  # 4 optimizer steps an epoch
    assert reports[-1]["metrics"]["eval_loss"] < reports[0]["metrics"]["eval_loss"]
    assert job.results["eval_loss"] == reports[-1]["metrics"]["eval_loss"]
    assert [a.name for a in job.artifacts()] == ["checkpoint.tar"]

    # The stored checkpoint is the last one asked for (epoch 4, step 16): resuming from it trains no further.
    directory = resume_checkpoint(job, "checkpoint.tar", tmp_path / "resumed")
    assert directory is not None
    assert (Path(directory) / "trainer_state.json").is_file()
    again = _trainer(None, digits, tmp_path / "again", 4)
    again.train(resume_from_checkpoint=directory)
    assert again.state.global_step == 16
    x = {"input_ids": torch.stack([row["input_ids"] for row in _datasets(digits)[1][:20]])}
    trainer.model.eval()
    again.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(again.model(**x).logits, trainer.model(**x).logits)


def test_trainer_stops_when_told_and_the_job_ends_pruned(experiment, digits, tmp_path: Path) -> None:
    exp = experiment("eval_loss", prune=True)
    job = next_job(exp)
    with job:
        trainer = _trainer(job, digits, tmp_path, 30)
        trainer.train()
        pytest.fail("training went on after the service said stop")
    assert trainer.state.global_step == 4  # stopped at the first evaluation, not after 30 epochs
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.PRUNED
    assert [r["step"] for r in job.reports()] == [4]


def test_under_torchrun_only_rank_0_reports_and_every_rank_stops(service, experiment, tmp_path: Path) -> None:
    exp = experiment("eval_loss", prune=True)
    exp.add_job(hyperparameters={})
    worker = Path(__file__).with_name("transformers_worker.py")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(worker),
            json.dumps(service.client_config),
            exp.name,
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # 256 rows, 32 per device and 2 processes: 4 optimizer steps an epoch; both stopped at the first evaluation.
    assert "RANK 0 STEP 4 WORLD 2" in result.stdout, result.stdout + result.stderr
    assert "RANK 1 STEP 4 WORLD 2" in result.stdout, result.stdout + result.stderr
    jobs = [j for j in exp.all_jobs() if not j.hyperparameters.get("leader")]
    assert len(jobs) == 1  # rank 1 claimed nothing
    assert jobs[0].status == schedy.Job.PRUNED
    assert [r["step"] for r in jobs[0].reports()] == [4]


def test_a_trainer_that_never_evaluates_warns_that_nothing_was_reported(experiment, digits, tmp_path, caplog) -> None:
    exp = experiment("eval_loss")
    job = next_job(exp)
    with caplog.at_level("WARNING", logger="schedy"), job:
        _trainer(job, digits, tmp_path, 1, eval_strategy="no").train()
    assert exp.get_job(job.job_id).reports() == []
    assert "SchedyCallback reported no 'eval_loss'" in caplog.text
    assert "the Trainer never evaluated: set TrainingArguments(eval_strategy=" in caplog.text


def test_trainer_with_several_eval_datasets_reports_the_monitored_ones_metric(experiment, digits, tmp_path) -> None:
    # The Trainer evaluates "a", then "b", each with an on_evaluate of its own: "a"'s carry no eval_b_loss.
    exp = experiment("eval_b_loss")
    job = next_job(exp)
    with job:
        trainer = _trainer(job, digits, tmp_path, 2, monitor="eval_b_loss", datasets=("a", "b"))
        trainer.train()
    job = exp.get_job(job.job_id)
    assert job.status == schedy.Job.DONE
    evaluations = [log for log in trainer.state.log_history if "eval_b_loss" in log]
    assert [(r["step"], r["metrics"]["eval_b_loss"]) for r in job.reports()] == [
        (log["step"], log["eval_b_loss"]) for log in evaluations
    ]
    assert [r["step"] for r in job.reports()] == [4, 8]

    # A dataset it never evaluates is still named as a mistake, once the round of evaluations is over.
    job = next_job(exp)
    with pytest.raises(KeyError, match=r"No metric 'eval_c_loss' to report; .*'eval_a_loss', .*'eval_b_loss'"), job:
        _trainer(job, digits, tmp_path, 1, monitor="eval_c_loss", datasets=("a", "b")).train()
    assert exp.get_job(job.job_id).status == schedy.Job.CRASHED


def test_resume_checkpoint_leaves_one_unpacked_checkpoint_not_one_per_call(experiment, tmp_path: Path) -> None:
    import tarfile

    from schedy.integrations.transformers import resume_checkpoint

    (tmp_path / "trainer_state.json").write_text("{}")
    with tarfile.open(tmp_path / "checkpoint.tar", "w") as tar:
        tar.add(tmp_path / "trainer_state.json", arcname="trainer_state.json")
    exp = experiment("eval_loss")
    job = next_job(exp)
    with job:
        job.save_artifact(tmp_path / "checkpoint.tar")
        first = resume_checkpoint(job, "checkpoint.tar")
        second = resume_checkpoint(job, "checkpoint.tar")  # a worker's next job, say
    assert first is not None
    assert second is not None
    assert (Path(second) / "trainer_state.json").is_file()
    assert not Path(first).exists()  # the previous job's copy is removed, not left in $TMPDIR
