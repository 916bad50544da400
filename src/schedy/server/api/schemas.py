"""JSON Schemas of request bodies and answers, for the OpenAPI document.

Bodies are parsed by :mod:`schedy.server.wire` (clear messages, NaN
allowed in results); these schemas only describe them to people and tools.
"""

from __future__ import annotations

from typing import Any

from schedy.server.wire import MAX_RUN_TIME

_ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
JOB_STATUS = {"type": "string", "enum": ["QUEUED", "RUNNING", "CRASHED", "PRUNED", "DONE"]}

CREDENTIALS = {
    "type": "object",
    "required": ["email", "token"],
    "properties": {"email": {"type": "string"}, "token": {"type": "string", "description": "API token or password"}},
}
JOB_BODY = {
    "type": "object",
    "properties": {"status": JOB_STATUS, "hyperparameters": _ANY_OBJECT, "results": _ANY_OBJECT},
}
EXPERIMENT_BODY = {
    "type": "object",
    "required": ["scheduler"],
    "properties": {
        "status": {"type": "string", "enum": ["RUNNING", "DONE"]},
        "scheduler": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "description": 'One key, the scheduler\'s name: {"Manual": null}, {"RandomSearch": {...}}, {"PBT": {...}}',
        },
        "seed": {"type": "integer", "minimum": 0},
        "maxRetries": {"type": "integer", "minimum": 0},
        "maxRunTime": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": MAX_RUN_TIME},
    },
}
NEXTJOB_OPTIONS = {
    "type": "object",
    "properties": {
        "worker": {"type": "string", "maxLength": 200, "description": "a name for the worker, shown with the job"},
        "heartbeat": {"type": "number", "exclusiveMinimum": 0, "description": "seconds between heartbeats"},
        "wait": {"type": "number", "minimum": 0, "description": "seconds to wait for work before answering 204"},
    },
}
JOB = {
    "type": "object",
    "required": ["id", "experiment", "status", "hyperparameters", "results"],
    "properties": {
        "id": {"type": "string"},
        "experiment": {"type": "string"},
        "status": JOB_STATUS,
        "hyperparameters": _ANY_OBJECT,
        "results": _ANY_OBJECT,
    },
}
EXPERIMENT = {
    "type": "object",
    "required": ["name", "status", "scheduler"],
    "properties": {"name": {"type": "string"}, "status": {"type": "string"}, "scheduler": {"type": "object"}},
}
PROBLEM = {
    "type": "object",
    "required": ["title", "detail"],
    "properties": {"title": {"type": "string"}, "detail": {"type": "string"}, "status": {"type": "integer"}},
}


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    """The schema of a keyset page of ``item``."""
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": item}, "next": {"type": ["string", "null"]}},
    }


def body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body."""
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}


def problem_answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for problem answers with these statuses."""
    return {
        code: {"description": "A problem", "content": {"application/problem+json": {"schema": PROBLEM}}}
        for code in codes
    }


def answers(ok: dict[int | str, dict[str, Any]], *codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` with the success answers and problem answers of ``codes``."""
    return {**ok, **problem_answers(401, 400, 413, 422, *codes)}


def json_answer(schema: dict[str, Any], description: str, etag: bool = False) -> dict[str, Any]:
    """One JSON success answer."""
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if etag:
        out["headers"] = {"ETag": {"schema": {"type": "string"}, "description": "strong ETag of the job"}}
    return out


SESSION_RESPONSES = {
    200: json_answer(
        {"type": "object", "properties": {"token": {"type": "string"}, "expiresAt": {"type": "integer"}}},
        "a session token",
    ),
    **problem_answers(400, 403, 413, 422, 429),
}
AUTHENTICATED_RESPONSES = problem_answers(401, 403)
