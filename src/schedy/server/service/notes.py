"""Notes on experiments and jobs: plain text people keep with the search (see :mod:`schedy.server.store.notes`).

``GET``/``PUT experiments/NAME/notes/`` and ``…/jobs/ID/notes/``. A note is
at most :data:`MAX_CHARACTERS` characters; an empty one removes the note.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from schedy.server.errors import Invalid, NotFound, PayloadTooLarge
from schedy.server.store import Store
from schedy.server.store import experiments as store_experiments
from schedy.server.store import jobs as store_jobs
from schedy.server.store import notes as store_notes
from schedy.server.wire import iso

__all__ = ["MAX_CHARACTERS", "Notes", "parse_note", "render_note"]

#: The longest note, in characters.
MAX_CHARACTERS = 20_000


def parse_note(body: Any) -> str:
    """The text of a ``{"text": "..."}`` body.

    Raises:
        Invalid: another shape, or a NUL character.  PayloadTooLarge: over :data:`MAX_CHARACTERS`.

    """
    if not isinstance(body, dict) or set(body) != {"text"} or not isinstance(body["text"], str):
        raise Invalid('Send a note as {"text": "..."} with a string (empty to remove it).')
    text: str = body["text"]
    if len(text) > MAX_CHARACTERS:
        raise PayloadTooLarge(f"A note holds at most {MAX_CHARACTERS:,} characters; this one has {len(text):,}.")
    if "\x00" in text:  # PostgreSQL's text cannot hold it; nothing typed in a page contains it
        raise Invalid("A note cannot contain the NUL character (\\u0000); remove it and send the note again.")
    return text


def render_note(note: store_notes.Note | None) -> dict[str, Any]:
    """The wire form: ``{"text", "updatedAt"}`` (``""`` and null without a note)."""
    return {"text": "" if note is None else note.text, "updatedAt": None if note is None else iso(note.updated_at)}


class Notes:
    """Reading and replacing notes, one transaction each."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, user_id: int, experiment: str, job_id: str | None = None) -> dict[str, Any]:
        """The note of the experiment (with ``"jobs"``: job id → note of every noted job), or of its job ``job_id``.

        Raises:
            NotFound: no such experiment (or job) of this user.

        """
        with self._store.read() as conn:
            exp_id, job_pk = _locate(conn, user_id, experiment, job_id)
            if job_pk is not None:
                return render_note(store_notes.job_note(conn, job_pk))
            return {
                **render_note(store_notes.experiment_note(conn, exp_id)),
                "jobs": store_notes.job_notes_of(conn, exp_id),
            }

    def put(self, user_id: int, experiment: str, job_id: str | None, body: Any) -> dict[str, Any]:
        """Replace the note of the experiment, or of its job ``job_id``, by ``body`` (``{"text"}``); the note as kept.

        Raises:
            NotFound: no such experiment (or job) of this user (said before
                anything about the body).  Invalid, PayloadTooLarge: see :func:`parse_note`.

        """
        try:
            with self._store.write() as conn:
                exp_id, job_pk = _locate(conn, user_id, experiment, job_id)
                text = parse_note(body)
                if job_pk is None:
                    found = store_notes.set_experiment_note(conn, exp_id, text)
                else:
                    found = store_notes.set_job_note(conn, job_pk, text)
        except IntegrityError:
            # The note's key is upserted, so only its experiment or job can be missing: deleted since
            # _locate read it (PostgreSQL, a delete committed in between). The note was not kept.
            what = f"Job '{job_id}'" if job_id is not None else f"Experiment '{experiment}'"
            raise NotFound(f"{what} was deleted while its note was being saved; the note was not kept.") from None
        return render_note(found)


def _locate(conn: Any, user_id: int, experiment: str, job_id: str | None) -> tuple[int, int | None]:
    exp = store_experiments.get_record(conn, user_id, experiment)
    if exp is None:
        raise NotFound(f"Experiment '{experiment}' does not exist.")
    if job_id is None:
        return int(exp.id), None
    job = store_jobs.get(conn, exp.id, job_id)
    if job is None:
        raise NotFound(f"Job '{job_id}' does not exist in experiment '{experiment}'.")
    return int(exp.id), int(job.pk)
