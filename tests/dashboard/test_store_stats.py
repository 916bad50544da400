"""The dashboard's store statements (schedy.server.store.stats), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from schedy.server.store import Store, migrate, stats, users
from schedy.server.store import experiments as store_experiments


@pytest.fixture
def store(database_url):
    store = Store(database_url, pool_size=2)
    migrate.upgrade(store)
    yield store
    store.dispose()


def _experiment(conn, owner: int, name: str) -> int:
    row = store_experiments.create(conn, owner, name, "RUNNING", "Manual", "null", "{}")
    assert row is not None
    return int(row.id)


def _jobs(n: int, t0: float = 1000.0, prefix: str = "j") -> list[dict]:
    return [
        {
            "job_id": f"{prefix}{i}",
            "status": "DONE" if i % 3 else "QUEUED",
            "hyperparameters": json.dumps({"x": i}),
            "results": json.dumps({"loss": 1.0 / (i + 1)}) if i % 3 else "{}",
            "created_at": t0 + i,
            "updated_at": t0 + 2 * i,
            "parent": f"{prefix}{i - 1}" if i else None,
        }
        for i in range(n)
    ]


@pytest.fixture
def filled(store):
    with store.write() as conn:
        owner = users.create(conn, "stats@example.com", None)
        other = users.create(conn, "other@example.com", None)
        first = _experiment(conn, owner, "first")
        second = _experiment(conn, owner, "second")
        theirs = _experiment(conn, other, "theirs")
        assert stats.insert_many(conn, first, _jobs(30)) == 30
        stats.insert_many(conn, second, _jobs(4, prefix="s"))
        stats.insert_many(conn, theirs, _jobs(5, prefix="t"))
    return store, owner, first, second


def test_insert_many_and_columns_read_back_every_job_in_order(filled):
    store, _, first, _ = filled
    with store.read() as conn:
        rows = stats.columns(conn, first, t0=990.0)
    assert [r.job_id for r in rows] == [f"j{i}" for i in range(30)]
    assert [r.pk for r in rows] == sorted(r.pk for r in rows)
    assert json.loads(rows[4].hyperparameters) == {"x": 4}
    assert rows[4].status == "DONE"
    assert rows[3].status == "QUEUED"
    assert rows[5].parent == "j4"
    assert rows[5].attempt == 1
    assert rows[5].member is None


def test_column_texts_are_aligned_json_arrays_of_every_job(filled):
    store, _, first, _ = filled
    with store.write() as conn:
        conn.execute(
            text(
                'UPDATE jobs SET results = \'{"loss": NaN, "note": "a \\"quoted\\" NaN"}\', '
                "worker = 'w\"1' WHERE job_id = 'j4'"
            )
        )
    with store.read() as conn:
        count, texts = stats.column_texts(conn, first, t0=990.0)
        non_finite = stats.non_finite_results(conn, first)
    assert count == 30
    arrays = {name: json.loads(value) for name, value in texts.items()}
    assert list(arrays) == list(stats.TEXT_FIELDS)
    order = sorted(range(30), key=lambda i: arrays["pk"][i])
    assert [arrays["id"][i] for i in order] == [f"j{i}" for i in range(30)]
    by_id = {arrays["id"][i]: {name: arrays[name][i] for name in arrays} for i in range(30)}
    assert by_id["j5"]["hyperparameters"] == {"x": 5}
    assert by_id["j5"]["results"] == {"loss": 1 / 6}
    assert by_id["j5"]["created"] == 15000  # milliseconds after t0
    assert by_id["j5"]["started"] is None
    assert by_id["j5"]["parent"] == "j4"
    assert by_id["j5"]["member"] is None
    assert by_id["j4"]["worker"] == 'w"1'
    assert by_id["j4"]["results"] is None  # sent apart: browsers' JSON has no NaN
    assert [pk for pk, _ in non_finite] == [by_id["j4"]["pk"]]
    assert "NaN" in non_finite[0][1]


def test_column_texts_of_an_empty_experiment_are_empty_arrays(filled):
    store, owner, _, _ = filled
    with store.write() as conn:
        empty = _experiment(conn, owner, "empty")
    with store.read() as conn:
        count, texts = stats.column_texts(conn, empty, 0.0)
    assert count == 0
    assert {json.dumps(json.loads(v)) for v in texts.values()} == {"[]"}


def test_column_text_groups_read_in_one_snapshot_equal_the_whole_read(filled):
    store, _, first, _ = filled
    with store.snapshot() as conn:
        count, whole = stats.column_texts(conn, first, t0=990.0)
        merged: dict[str, str] = {}
        counts = []
        for n, texts in stats.column_text_groups(conn, first, t0=990.0):
            counts.append(n)
            merged.update(texts)
    assert counts == [count] * len(stats.FIELD_GROUPS)
    # The stored JSON texts come first (the page parses them while the rest is read).
    assert list(stats.FIELD_GROUPS[0]) == ["hyperparameters", "results"]
    assert merged == whole


def test_a_snapshot_does_not_see_a_job_added_meanwhile(filled):
    store, _, first, _ = filled
    with store.snapshot() as conn:
        before, _ = stats.column_texts(conn, first, 0.0, ("pk",))
        with store.write() as writer:
            stats.insert_many(writer, first, _jobs(1, prefix="late"))
        after, _ = stats.column_texts(conn, first, 0.0, ("id",))
    assert after == before
    with store.read() as conn:
        assert stats.column_texts(conn, first, 0.0, ("pk",))[0] == before + 1


def test_columns_since_returns_only_jobs_updated_from_then_on(filled):
    store, _, first, _ = filled
    with store.read() as conn:
        rows = stats.columns(conn, first, 0.0, since=1000.0 + 2 * 25)
    assert [r.job_id for r in rows] == ["j25", "j26", "j27", "j28", "j29"]


def test_experiment_stats_count_and_fingerprint_by_status(filled):
    store, _, first, _ = filled
    with store.read() as conn:
        by_status = stats.experiment_stats(conn, first)
    assert {s: v.count for s, v in by_status.items()} == {"DONE": 20, "QUEUED": 10}
    assert by_status["DONE"].last_update == 1000.0 + 2 * 29
    assert by_status["QUEUED"].versions == 10
    with store.write() as conn:
        conn.execute(text("UPDATE jobs SET version = version + 1 WHERE job_id = 'j3'"))
    with store.read() as conn:
        assert stats.experiment_stats(conn, first)["QUEUED"].versions == 11


def test_owner_stats_cover_only_the_owners_experiments(filled):
    store, owner, first, second = filled
    with store.read() as conn:
        by_experiment = stats.owner_stats(conn, owner)
        names = [r.name for r in stats.owner_experiments(conn, owner)]
    assert set(by_experiment) == {first, second}
    assert sum(v.count for v in by_experiment[second].values()) == 4
    assert names == ["first", "second"]


def test_done_results_and_children(filled):
    store, _, first, _ = filled
    with store.read() as conn:
        done = stats.done_results(conn, first)
        head = stats.done_results(conn, first, limit=2)
        kids = stats.children(conn, first, "j7")
    assert [job_id for job_id, _ in done] == [f"j{i}" for i in range(30) if i % 3]
    assert head == done[:2]
    assert json.loads(done[0][1]) == {"loss": 0.5}
    assert [k.job_id for k in kids] == ["j8"]


def _plan(conn, statement) -> str:
    sql = statement.compile(conn, compile_kwargs={"literal_binds": True})
    if conn.dialect.name == "sqlite":
        return "\n".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    return "\n".join(conn.execute(text(f"EXPLAIN {sql}")).scalars())


def test_columns_is_one_range_scan_of_the_experiment_order_index(store):
    with store.write() as conn:
        owner = users.create(conn, "plan@example.com", None)
        big = _experiment(conn, owner, "big")
        dominant = _experiment(conn, owner, "dominant")
        small = _experiment(conn, owner, "small")
        stats.insert_many(conn, big, _jobs(10000))
        stats.insert_many(conn, dominant, _jobs(30000, prefix="d"))
        stats.insert_many(conn, small, _jobs(50, prefix="s"))
        conn.execute(text("ANALYZE"))
    with store.read() as conn:
        plans = {
            e: _plan(conn, stats.columns_statement(False).params(p_experiment=e, p_t0=0.0))
            for e in (big, dominant, small)
        }
        aggregate = _plan(conn, stats.column_texts_statement(conn.dialect.name).params(p_experiment=big, p_t0=0.0))
    # The full load is one aggregate over the experiment's own index range.
    assert "ix_jobs_experiment_order" in aggregate or "ix_jobs_queue" in aggregate, aggregate
    assert "Seq Scan" not in aggregate, aggregate
    assert "SCAN jobs\n" not in aggregate + "\n", aggregate
    # One ordered walk, no sort (a sort per aggregate made PostgreSQL twice as slow).
    assert "TEMP B-TREE" not in aggregate, aggregate
    assert "Sort" not in aggregate, aggregate
    # Jobs come out in pk order without a sort, whatever the experiment's size.
    assert all("TEMP B-TREE" not in p and "Sort" not in p for p in plans.values()), plans
    # An experiment that is not most of the table is read through its own index range.
    assert "ix_jobs_experiment_order" in plans[big], plans[big]
    assert "ix_jobs_experiment_order" in plans[small], plans[small]
    # One that is most of the table may be read along the primary key instead (PostgreSQL's
    # choice: about as cheap, since nearly every row belongs to it).
    assert "ix_jobs_experiment_order" in plans[dominant] or "pk_jobs" in plans[dominant], plans[dominant]
