"""Paths of the wire protocol, relative to the service root.

Names are percent-encoded with no safe character, so that an experiment
called ``a/b c`` is ``experiments/a%2Fb%20c/`` and a ``/`` never splits a
path segment.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["EXPERIMENTS", "experiment", "job", "quote_segment"]

EXPERIMENTS = "experiments/"


def quote_segment(value: str) -> str:
    """Percent-encode one path segment or query value (no safe characters)."""
    return quote(value, safe="")


def _text(value: object, what: str) -> str:
    """``value``, which names an experiment or a job: a string (a number would be a different name)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} is named by a string, not {type(value).__name__} {value!r}.")
    return value


def experiment(name: str) -> str:
    """``experiments/NAME/``."""
    return f"{EXPERIMENTS}{quote(_text(name, 'An experiment'), safe='')}/"


def job(experiment_path: str, job_id: str) -> str:
    """``experiments/NAME/jobs/ID/`` from the experiment's path."""
    return f"{experiment_path}jobs/{quote(_text(job_id, 'A job'), safe='')}/"
