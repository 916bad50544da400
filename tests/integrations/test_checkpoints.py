"""``load_checkpoint``'s temporary copies: one per name in a process, none for a miss, none after exit."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

import schedy.integrations
from schedy.integrations import load_checkpoint
from tests.integrations.conftest import next_job


def test_load_checkpoint_keeps_one_temporary_copy_per_name_and_none_for_a_miss(
    experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker resuming job after job (a PBT population, retries) used to leave one directory per call in /tmp.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    job = next_job(experiment("loss"))
    source = tmp_path / "source"
    source.mkdir()
    paths = []
    with job:
        assert load_checkpoint(job, "model.bin") is None
        assert list(tmp_path.glob("schedy-checkpoint-*")) == []  # a miss leaves nothing behind
        for n in range(3):
            (source / "model.bin").write_bytes(b"weights %d" % n)
            job.save_artifact(source / "model.bin")
            path = load_checkpoint(job, "model.bin")
            assert path is not None
            assert path.read_bytes() == b"weights %d" % n
            paths.append(path)
            assert load_checkpoint(job, "other.bin") is None
    assert [path.exists() for path in paths] == [False, False, True]  # the previous copy of the name is removed
    assert list(tmp_path.glob("schedy-checkpoint-*")) == [paths[-1].parent]
    schedy.integrations._remove_scratch()  # what runs at the process's exit
    assert list(tmp_path.glob("schedy-checkpoint-*")) == []
    # A copy written to ``to`` is the caller's: left alone.
    kept = load_checkpoint(job, "model.bin", tmp_path / "kept.bin")
    assert kept == tmp_path / "kept.bin"
    assert kept.read_bytes() == b"weights 2"
    schedy.integrations._remove_scratch()
    assert kept.exists()
