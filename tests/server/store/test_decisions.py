"""A decision committed in one statement on PostgreSQL: all of it or nothing, and only once per state."""

from __future__ import annotations

from sqlalchemy import text

from schedy.server.store import decisions
from schedy.server.store.claims import NewRow
from tests.server.store.test_claim_plan import pg_store  # noqa: F401 - the fixture


def _experiment(store) -> int:
    with store.write() as conn:
        conn.execute(text("INSERT INTO users (email, is_admin, created_at) VALUES ('a@b.c', false, 0)"))
        return int(
            conn.execute(
                text(
                    "INSERT INTO experiments (owner_id, name, status, scheduler, params, options, "
                    "created_at, updated_at) VALUES (1, 'e', 'RUNNING', 'PBT', 'null', '{}', 0, 0) RETURNING id"
                )
            ).scalar_one()
        )


def _counts(store, exp_id: int) -> tuple[int, int, int, str | None]:
    with store.read() as conn:
        jobs = conn.execute(text("SELECT count(*) FROM jobs WHERE experiment_id = :e"), {"e": exp_id}).scalar_one()
        events = conn.execute(
            text("SELECT count(*) FROM experiment_events WHERE experiment_id = :e"), {"e": exp_id}
        ).scalar_one()
        seq, rng = conn.execute(
            text("SELECT decision_seq, rng_state FROM experiments WHERE id = :e"), {"e": exp_id}
        ).one()
    return int(jobs), int(events), int(seq), rng


def _commit(store, exp_id: int, seq: int, *, done: bool = False, job: bool = True) -> decisions.Committed:
    new = NewRow('{"lr": 0.1}', "{}", member="m1", generation=2, parent="p", attempt=1) if job else None
    with store.autocommit() as conn:
        return decisions.commit_and_insert(
            conn, exp_id, seq, f"rng-{seq}", ['{"event": "exploit"}', '{"event": "explore"}'], new, "w1", 5.0, None,
            done=done,
        )


def test_a_won_decision_writes_its_state_events_and_running_job_together(pg_store):  # noqa: F811 - the fixture
    exp_id = _experiment(pg_store)
    committed = _commit(pg_store, exp_id, 0)
    assert committed.won
    job = committed.job
    assert job is not None
    assert (job.status, job.worker, job.member, job.generation, job.parent) == ("RUNNING", "w1", "m1", 2, "p")
    assert job.hyperparameters == '{"lr": 0.1}'
    assert job.lease_expires_at is not None
    assert job.started_at is not None
    assert job.lease_expires_at - job.started_at > 5.0  # a lease of a few 5 s heartbeats
    assert _counts(pg_store, exp_id) == (1, 2, 1, "rng-0")


def test_a_decision_from_a_stale_state_writes_nothing(pg_store):  # noqa: F811 - the fixture
    exp_id = _experiment(pg_store)
    assert _commit(pg_store, exp_id, 0).won
    lost = _commit(pg_store, exp_id, 0)  # made from the state another decision already moved on from
    assert lost == decisions.Committed(False, None)
    assert _counts(pg_store, exp_id) == (1, 2, 1, "rng-0")


def test_a_decision_that_ends_the_experiment_writes_no_job_and_none_comes_after(pg_store):  # noqa: F811
    exp_id = _experiment(pg_store)
    ended = _commit(pg_store, exp_id, 0, done=True, job=False)
    assert ended == decisions.Committed(True, None)
    with pg_store.read() as conn:
        status = conn.execute(text("SELECT status FROM experiments WHERE id = :e"), {"e": exp_id}).scalar_one()
    assert status == "DONE"
    assert not _commit(pg_store, exp_id, 1).won  # DONE: no later decision is recorded
    assert _counts(pg_store, exp_id) == (0, 2, 1, "rng-0")
