"""The CSV writers of ``schedy export``: columns known only at the end, rows streamed through a spool file."""

from __future__ import annotations

import csv
import io
import math

from schedy.cli.export import write_reports_csv


def _read(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return list(reader.fieldnames or []), list(reader)


def test_a_metric_first_reported_late_gets_its_column_and_earlier_rows_leave_it_empty():
    reports = [
        {"job": "a", "step": 0, "time": "t0", "metrics": {"loss": 1.0}, "attempt": 1},
        {"job": "a", "step": 1, "time": "t1", "metrics": {"loss": 0.5, "acc": 0.7}, "attempt": 1},
        {"job": "b", "step": 0, "time": "t2", "metrics": {"acc": math.nan, "note": 'a "quoted",\nline'}, "attempt": 2},
    ]
    out = io.StringIO()
    assert write_reports_csv(reports, out) == 3
    header, rows = _read(out.getvalue())
    assert header == ["job", "attempt", "step", "time", "metrics.loss", "metrics.acc", "metrics.note"]
    assert [(r["job"], r["step"], r["metrics.loss"], r["metrics.acc"]) for r in rows] == [
        ("a", "0", "1.0", ""),
        ("a", "1", "0.5", "0.7"),
        ("b", "0", "", "nan"),  # as the export has always written a NaN metric
    ]
    assert rows[2]["metrics.note"] == 'a "quoted",\nline'  # commas, quotes and newlines survive the spool
    assert rows[2]["attempt"] == "2"


def test_the_same_metrics_throughout_are_written_as_read():
    reports = [{"job": f"j{i}", "step": i, "time": "t", "metrics": {"loss": i / 10}, "attempt": 1} for i in range(5)]
    out = io.StringIO()
    write_reports_csv(reports, out)
    assert out.getvalue().splitlines() == [
        "job,attempt,step,time,metrics.loss",
        *(f"j{i},1,{i},t,{i / 10}" for i in range(5)),
    ]


def test_a_value_with_a_carriage_return_is_quoted_and_reads_back_whole():
    """Python's csv module quotes only the line ends of its own lineterminator ("\\n" here): "\\r" went unquoted."""
    reports = [
        {"job": "a", "step": 0, "time": "t", "metrics": {"why": "x\ry"}, "attempt": 1},
        {"job": "b", "step": 0, "time": "t", "metrics": {"why": "x\r\ny", "loss": 1.0}, "attempt": 1},  # respooled
    ]
    out = io.StringIO()
    write_reports_csv(reports, out)
    assert '"x\ry"' in out.getvalue()
    _, rows = _read(out.getvalue())
    assert [(r["job"], r["metrics.why"]) for r in rows] == [("a", "x\ry"), ("b", "x\r\ny")]
    assert out.getvalue().endswith(",1.0\n")  # rows still end with a bare newline
