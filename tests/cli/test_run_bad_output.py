"""``schedy run`` against output it cannot use as it is: results or reports the service refuses, very long lines.

The runner must end such a job with a one-line reason (never a Python traceback), go on or stop as it does
for any crashed job, and pass the command's output through unchanged whatever its lines' length.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import schedy
from tests.cli.conftest import clean_env

#: An integer of 401 digits: JSON reads it, the service refuses it (past a float's range).
BIG = "1" + "0" * 400

# The command: what it prints comes from --mode (through %h).
OUTPUT = r"""
import sys
argv = sys.argv[1:]
mode = argv[argv.index("--mode") + 1]
BIG = "1" + "0" * 400
out = sys.stdout
if mode == "ok":
    out.write('--- RESULTS ---\n{"loss": 0.5}\n')
elif mode == "big-int":
    out.write('--- RESULTS ---\n{"loss": ' + BIG + '}\n')
elif mode == "too-deep":  # 200 levels: past the service's 100
    out.write('--- RESULTS ---\n{"loss": 1, "d": ' + "[" * 200 + "]" * 200 + "}\n")
elif mode == "far-too-deep":  # too deep for Python's own JSON parser
    out.write('--- RESULTS ---\n{"loss": 1, "d": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
elif mode == "too-big":  # over the service's 1 MiB limit on a request
    out.write('--- RESULTS ---\n{"loss": 1, "blob": "' + "y" * 2_000_000 + '"}\n')
elif mode == "bad-reports":
    out.write('--- REPORT --- {"step": 1, "loss": ' + BIG + '}\n')
    out.write('--- REPORT --- {"step": ' + BIG + ', "loss": 1}\n')
    out.write('--- REPORT --- {"step": 2, "loss": 0.75}\n')
    out.write('--- RESULTS ---\n{"loss": 0.5}\n')
elif mode == "wrong-reports":
    for line in ('{"loss": 1}', '{"step": true}', '{"step": null}', '{"step": 1e400}', '{"step": 4611686018427387904}',
                 '{"step": 3, "loss": {"a": 1}}', '{"step": 3, "loss": "0.5"}', '{"step": 2, "loss": 0.75}'):
        out.write('--- REPORT --- ' + line + '\n')
    out.write('--- RESULTS ---\n{"loss": 0.5}\n')
"""


@pytest.fixture
def command(tmp_path):
    path = tmp_path / "output.py"
    path.write_text(OUTPUT)
    return str(path)


def _queue(cli, name, *modes):
    with cli.db() as db:
        exp = schedy.ManualSearch(name)
        db.add_experiment(exp)
        return [exp.add_job(hyperparameters={"mode": mode}).job_id for mode in modes]


def _jobs(cli, name):
    with cli.db() as db:
        return {job.job_id: job for job in db.get_experiment(name).all_jobs()}


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (
            "big-int",
            "the --- RESULTS --- block cannot be the job's results: an integer of 401 digits is past a float's "
            "range (1.8e308), which the service refuses: send it as a float or a string",
        ),
        (
            "too-deep",
            "the --- RESULTS --- block cannot be the job's results: a value nests lists or dicts more than 100 "
            "levels deep, which the service refuses: flatten it",
        ),
        (
            "far-too-deep",
            "the --- RESULTS --- block cannot be the job's results: it nests lists or dicts far more than 100 "
            "levels deep, which the service refuses: flatten it",
        ),
        (
            "too-big",
            "The service refused job {job}'s results: The request body is over the service's limit of 1048576 "
            "bytes; keep big data in files stored with the job (job.save_artifact). It was marked CRASHED "
            "without 'blob'",
        ),
    ],
)
def test_results_the_service_refuses_crash_the_job_with_a_one_line_reason(cli, command, mode, reason):
    bad, nxt = _queue(cli, "refused", mode, "ok")
    done = cli("run", "refused", sys.executable, command, "%h")
    assert "Traceback" not in done.stderr
    assert done.returncode == 1, done.stderr  # a crashed job stops the worker, as for results that are not JSON
    assert f"schedy run: job {bad} CRASHED in " in done.stderr
    assert f": {reason.format(job=bad)}\n" in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"schedy run: stopped after job {bad} crashed (see --ignore-errors). 0 done, 1 crashed."
    )
    jobs = _jobs(cli, "refused")
    assert jobs[bad].status == "CRASHED"
    # Nothing of a block the service refuses is kept, as for a block that is not JSON; of results over its
    # size limit, what it accepts.
    assert jobs[bad].results == ({"loss": 1} if mode == "too-big" else {})
    assert jobs[nxt].status == "QUEUED"  # not claimed


def test_ignore_errors_goes_on_after_results_the_service_refuses(cli, command):
    ids = _queue(cli, "goes-on", "big-int", "far-too-deep", "too-big", "ok")
    done = cli("run", "--ignore-errors", "goes-on", sys.executable, command, "%h")
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    jobs = _jobs(cli, "goes-on")
    assert [jobs[i].status for i in ids] == ["CRASHED", "CRASHED", "CRASHED", "DONE"]
    assert jobs[ids[3]].results == {"loss": 0.5}
    assert done.stderr.splitlines()[-1] == "schedy run: no job left in 'goes-on'. 1 done, 3 crashed."


def test_a_report_line_the_service_refuses_is_skipped_with_a_notice_and_the_run_goes_on(cli, command):
    (job_id,) = _queue(cli, "reports", "bad-reports")
    done = cli("run", "reports", sys.executable, command, "%h")
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    notice = (
        "schedy run: ignored a report: a --- REPORT --- line cannot be sent: an integer of 401 digits is past a "
        "float's range (1.8e308), which the service refuses: send it as a float or a string.\n"
    )
    assert done.stderr.count(notice) == 2  # the metric's, then the step's
    with cli.db() as db:
        job = db.get_experiment("reports").get_job(job_id)
        reports = job.reports()
    assert job.status == "DONE"
    assert job.results == {"loss": 0.5}
    assert [(r["step"], r["metrics"]) for r in reports] == [(2, {"loss": 0.75})]


def test_a_wrong_report_line_is_told_in_json_as_the_command_wrote_it(cli, command):
    (job_id,) = _queue(cli, "wrong-reports", "wrong-reports")
    done = cli("run", "wrong-reports", sys.executable, command, "%h")
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    notices = [line for line in done.stderr.splitlines() if "ignored a report" in line]
    ignored = "schedy run: ignored a report: "
    assert notices == [
        ignored + 'a --- REPORT --- line has no "step" (a non-negative integer, e.g. the epoch).',
        ignored + 'a --- REPORT --- line needs "step", a non-negative integer (e.g. the epoch), got true.',
        ignored + 'a --- REPORT --- line needs "step", a non-negative integer (e.g. the epoch), got null.',
        ignored + 'a --- REPORT --- line needs "step", a non-negative integer (e.g. the epoch), got Infinity.',
        ignored + 'the "step" of a --- REPORT --- line must be at most 4611686018427387903, got 4611686018427387904.',
        ignored + 'metric "loss" of a --- REPORT --- line must be a number or null, got {"a": 1}.',
        ignored + 'metric "loss" of a --- REPORT --- line must be a number or null, got "0.5".',
    ]
    with cli.db() as db:
        job = db.get_experiment("wrong-reports").get_job(job_id)
        reports = job.reports()
    assert job.status == "DONE"
    assert [(r["step"], r["metrics"]) for r in reports] == [(2, {"loss": 0.75})]


# ------------------------------------------------------------------------------------------- long lines

# Writes its output in 64 KiB pieces (never holding a long line whole): --size MiB of "x" on one line, a
# report, a progress bar redrawn after a carriage return until --size MiB, a results block.
LONG = r"""
import sys
argv = sys.argv[1:]
size = int(argv[argv.index("--size") + 1]) << 20
out = sys.stdout.buffer
piece = b"x" * 65536
for _ in range(size // len(piece)):
    out.write(piece)
out.write(b'\n--- REPORT --- {"step": 1, "loss": 0.75}\n')
written, i = 0, 0
while written < size:
    bar = b"\r[" + b"=" * (i % 50) + b">" + b" " * (49 - i % 50) + b"] %d" % i
    out.write(bar)
    written += len(bar)
    i += 1
out.write(b'\n--- RESULTS ---\n{"loss": 0.25,')
out.write(b" " * (2 << 20))  # a results line longer than any other kind may be: kept whole all the same
out.write(b'"acc": 0.9}\n')
"""


@pytest.fixture
def long_lines(tmp_path):
    path = tmp_path / "long.py"
    path.write_text(LONG)
    return str(path)


def test_long_lines_pass_through_unchanged_and_what_follows_them_is_read(cli, long_lines):
    (job_id,) = _queue(cli, "long", "any")
    done = subprocess.run(
        cli.argv("run", "long", sys.executable, long_lines, "--size", "5"),
        capture_output=True,
        env=clean_env(cli.home),
        timeout=120,
        check=False,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    alone = subprocess.run([sys.executable, long_lines, "--size", "5"], capture_output=True, timeout=120, check=True)
    assert done.stdout == alone.stdout  # what the command prints alone, byte for byte, carriage returns included
    with cli.db() as db:
        job = db.get_experiment("long").get_job(job_id)
        reports = job.reports()
    assert job.status == "DONE"
    assert job.results == {"loss": 0.25, "acc": 0.9}
    assert [(r["step"], r["metrics"]) for r in reports] == [(1, {"loss": 0.75})]
    assert "ignored a report" not in stderr


# Measures the peak memory of the command it runs (the runner, and the command the runner runs).
PEAK = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"  # KiB on Linux
)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_a_runner_does_not_hold_a_long_output_line_in_memory(cli, long_lines):
    """A worker's memory does not grow with the length of a line of output (a progress bar never ended)."""
    _queue(cli, "memory", "small", "large")

    def peak_mib(size_mib: int) -> float:
        argv = cli.argv("run", "--once", "memory", sys.executable, long_lines, "--size", str(size_mib))
        done = subprocess.run(
            [sys.executable, "-c", PEAK, *argv],
            capture_output=True,
            text=True,
            env=clean_env(cli.home),
            timeout=300,
            check=True,
        )
        return int(done.stdout) / 1024

    small, large = peak_mib(1), peak_mib(40)
    # 40 MiB of one line, then 40 MiB of progress bar: holding either whole would take 40 MiB or more.
    assert large - small < 20, f"peak memory {small:.0f} MiB with 1 MiB lines, {large:.0f} MiB with 40 MiB lines"


def test_a_report_line_over_a_mebibyte_is_skipped_with_a_notice(cli, tmp_path):
    script = tmp_path / "long_report.py"
    script.write_text(
        "import sys\n"
        "sys.stdout.write('--- REPORT --- {\"step\": 1, ' + ' ' * (2 << 20) + '\"loss\": 0.5}\\n')\n"
        'sys.stdout.write(\'--- REPORT --- {"step": 2, "loss": 0.25}\\n--- RESULTS ---\\n{"loss": 0.25}\\n\')\n'
    )
    (job_id,) = _queue(cli, "long-report", "any")
    done = cli("run", "long-report", sys.executable, str(script))
    assert done.returncode == 0, done.stderr
    assert "schedy run: ignored a report: a --- REPORT --- line must be shorter than 1 MiB.\n" in done.stderr
    with cli.db() as db:
        reports = db.get_experiment("long-report").get_job(job_id).reports()
    assert [r["step"] for r in reports] == [2]
