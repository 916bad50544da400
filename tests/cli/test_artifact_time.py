"""``schedy artifact list`` writes when each artifact was stored as the rest of the CLI writes times: ISO UTC, ``Z``."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import schedy


def test_artifact_list_shows_the_stored_time_in_utc_with_z_whatever_the_local_zone(cli: Any, tmp_path: Path) -> None:
    with cli.db() as db:
        db.add_experiment(schedy.ManualSearch("timed"))
        job_id = db.get_experiment("timed").add_job(hyperparameters={"x": 1}).job_id
    source = tmp_path / "a.txt"
    source.write_text("hello\n")
    cli.ok("artifact", "put", "timed", job_id, str(source))
    with cli.db() as db:
        (stored,) = db.get_experiment("timed").get_job(job_id).artifacts()
    assert stored.created_at is not None
    expected = stored.created_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # Far from UTC (+05:30, and +13:45 in the southern summer): the time shown stays the service's UTC one.
    for zone in ("Asia/Kolkata", "Pacific/Chatham"):
        done = cli("artifact", "list", "timed", job_id, env={"TZ": zone})
        assert done.returncode == 0, done.stderr
        (row,) = [line for line in done.stdout.splitlines() if "a.txt" in line]
        assert expected in row.split(), row
