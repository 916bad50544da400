"""Feeding a stopping policy report by report, checked against a bulk build (what a restarted process does)."""

from __future__ import annotations

from typing import Any

import numpy as np

from schedy.server.stopping import Report
from schedy.server.stopping.base import ReportArrays


def feed(policy: Any, reports: list[tuple[str, int, float]]) -> tuple[Any, list[Any]]:
    """Feed one by one; check a bulk build from the same reports reaches the same state and stops."""
    state = policy.new_state()
    verdicts = [policy.observe(state, Report(*report)) for report in reports]
    ids = sorted({job for job, _, _ in reports})
    index = {job: i for i, job in enumerate(ids)}
    bulk = policy.build(
        ReportArrays(
            ids,
            np.array([index[job] for job, _, _ in reports], dtype=np.int64),
            np.array([step for _, step, _ in reports], dtype=np.int64),
            np.array([value for _, _, value in reports], dtype=np.float64),
        )
    )
    assert bulk.state == state  # a restarted process rebuilds the same state
    first = {}
    for position, ((job, _, _), verdict) in enumerate(zip(reports, verdicts, strict=True)):
        if verdict.stop:
            first.setdefault(job, (position, verdict))
    assert {ids[j]: stop for j, stop in bulk.stops.items()} == first
    return state, verdicts
