"""Experiment.to_dataframe (pandas is optional for users; a declared dev dependency, so imported plainly here)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pandas as pd
import pytest

import schedy
from schedy._dataframe import jobs_to_dataframe


def make_jobs() -> list[schedy.Job]:
    exp = schedy.ManualSearch("E")
    first = schedy.Job("A", exp, {"lr": 0.1}, status="DONE", results={"loss": 1.5})
    first.created_at = datetime(2024, 1, 1, tzinfo=UTC)
    second = schedy.Job("B", exp, {"lr": 0.2, "layers": 3}, status="CRASHED", results={"loss": float("nan")})
    return [first, second]


def test_to_dataframe_without_pandas_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ImportError, match=r"needs pandas, which is not installed: pip install pandas") as info:
        jobs_to_dataframe(make_jobs())
    assert "pip install 'schedy[pandas]'" not in str(info.value)  # that installs the 2018 client


def test_to_dataframe_has_one_row_per_job() -> None:
    frame = jobs_to_dataframe(make_jobs())
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == ["A", "B"]
    assert list(frame.columns) == [
        "status",
        "hyperparameters.lr",
        "hyperparameters.layers",
        "results.loss",
        "created_at",
    ]
    assert frame.loc["A", "results.loss"] == 1.5
    assert frame.loc["B", "status"] == "CRASHED"
