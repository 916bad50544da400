"""Notes: plain text kept on an experiment or a job (tables ``experiment_notes`` and ``job_notes``).

One row per noted experiment or job; an empty note is no row. Rows go with
their experiment or job (``ON DELETE CASCADE``). Every function runs inside
the caller's transaction.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, delete, select

from schedy.server.store.dialect import upsert
from schedy.server.store.engine import db_now
from schedy.server.store.tables import experiment_notes, job_notes, jobs

__all__ = ["Note", "experiment_note", "job_note", "job_notes_of", "set_experiment_note", "set_job_note"]


class Note(NamedTuple):
    """A note's text and when it last changed (seconds since the epoch)."""

    text: str
    updated_at: float


def experiment_note(conn: Connection, experiment_id: int) -> Note | None:
    """The experiment's note, if it has one."""
    row = conn.execute(
        select(experiment_notes.c.text, experiment_notes.c.updated_at).where(
            experiment_notes.c.experiment_id == experiment_id
        )
    ).first()
    return None if row is None else Note(str(row[0]), float(row[1]))


def job_note(conn: Connection, job_pk: int) -> Note | None:
    """The job's note, if it has one."""
    row = conn.execute(select(job_notes.c.text, job_notes.c.updated_at).where(job_notes.c.job_pk == job_pk)).first()
    return None if row is None else Note(str(row[0]), float(row[1]))


def job_notes_of(conn: Connection, experiment_id: int) -> dict[str, str]:
    """Job id → note of every noted job of the experiment."""
    query = (
        select(jobs.c.job_id, job_notes.c.text)
        .select_from(job_notes.join(jobs, jobs.c.pk == job_notes.c.job_pk))
        .where(jobs.c.experiment_id == experiment_id)
    )
    return {str(r[0]): str(r[1]) for r in conn.execute(query)}


def set_experiment_note(conn: Connection, experiment_id: int, text: str) -> Note | None:
    """Replace the experiment's note (``""`` removes it); the note as kept."""
    key = experiment_notes.c.experiment_id == experiment_id
    if not text:
        conn.execute(delete(experiment_notes).where(key))
        return None
    conn.execute(
        upsert(conn, experiment_notes, {"experiment_id": experiment_id}, {"text": text, "updated_at": db_now()})
    )
    return experiment_note(conn, experiment_id)


def set_job_note(conn: Connection, job_pk: int, text: str) -> Note | None:
    """Replace the job's note (``""`` removes it); the note as kept."""
    key = job_notes.c.job_pk == job_pk
    if not text:
        conn.execute(delete(job_notes).where(key))
        return None
    conn.execute(upsert(conn, job_notes, {"job_pk": job_pk}, {"text": text, "updated_at": db_now()}))
    return job_note(conn, job_pk)
