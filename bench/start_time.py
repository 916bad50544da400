"""How long ``schedy server`` takes to answer, and ``schedy user list`` to end, on an existing database.

Each variant gets its own data directory, started once beforehand (so the
timed starts find a current schema, as a restart does); then, turn by
turn, a fresh Python process starts the service with
:class:`schedy.testing.ServiceProcess` (from the import of the package to
the first answer) and stops it, and ``schedy user list`` reads the users
of a SQLite file. Medians and minima of ``--repeat`` turns.

    python bench/start_time.py [--repeat 7] [--baseline OLD/src]

With ``--baseline OLD/src`` (e.g. ``git archive HEAD src | tar -x -C OLD``)
the old code takes its turn beside this checkout's, alternating.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SCHEDY = (sys.executable, "-m", "schedy.cli.main")
_START = """
import sys, time, pathlib
started = time.perf_counter()
from schedy.testing import ServiceProcess
service = ServiceProcess.start(pathlib.Path(sys.argv[1]))
print(time.perf_counter() - started)
service.stop()
"""


def _start(src: str, home: Path) -> float:
    """Seconds from a fresh interpreter's import of Schedy to the service's first answer."""
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", _START, str(home)], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _user_list(src: str, home: Path, database: str) -> float:
    """Seconds ``schedy user list --database DATABASE`` takes, from its process's start to its end."""
    env = {**os.environ, "PYTHONPATH": src, "HOME": str(home)}
    started = time.perf_counter()
    subprocess.run(
        [*_SCHEDY, "user", "list", "--database", database],
        env=env,
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    """Parse the arguments, time both variants turn by turn, print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--baseline", help="the src directory of the code to compare with")
    args = parser.parse_args()
    variants = {"this": str(Path(__file__).resolve().parents[1] / "src")}
    if args.baseline:
        variants = {"before": str(Path(args.baseline).resolve()), "after": variants["this"]}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        database = f"sqlite:///{root / 'users.db'}"
        first = next(iter(variants.values()))
        subprocess.run(
            [*_SCHEDY, "user", "add", "a@example.com", "--no-password", "--database", database],
            env={**os.environ, "PYTHONPATH": first, "HOME": str(root)},
            capture_output=True,
            check=True,
        )
        for name, src in variants.items():
            _start(src, root / name)  # the database made: the timed starts find it current
        starts: dict[str, list[float]] = {name: [] for name in variants}
        lists: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeat):
            for name, src in variants.items():
                starts[name].append(_start(src, root / name))
                lists[name].append(_user_list(src, root, database))
    for name in variants:
        print(
            f"{name}: service start median {statistics.median(starts[name]):.3f} s (min {min(starts[name]):.3f}); "
            f"schedy user list median {statistics.median(lists[name]):.3f} s (min {min(lists[name]):.3f})"
        )
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
