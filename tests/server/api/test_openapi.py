"""The OpenAPI document and the browsable docs."""

from __future__ import annotations

import re

import httpx
from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_lists_every_endpoint(service):
    document = httpx.get(service.url + "openapi.json").json()
    validate(document)
    paths = set(document["paths"])
    assert {
        "/token/",
        "/passauth/",
        "/resettoken/",
        "/experiments/",
        "/experiments/{name}/",
        "/experiments/{name}/jobs/",
        "/experiments/{name}/jobs/{job_id}/",
        "/experiments/{name}/nextjob/",
    } <= paths
    put_job = document["paths"]["/experiments/{name}/jobs/{job_id}/"]["put"]
    assert "status" in put_job["requestBody"]["content"]["application/json"]["schema"]["properties"]
    schemes = document["components"]["securitySchemes"].values()
    assert any(s.get("scheme") == "bearer" for s in schemes)
    assert document["paths"]["/experiments/"]["get"]["security"]


def test_docs_page_works_offline(service):
    page = httpx.get(service.url + "docs")
    assert page.status_code == 200
    assert "/experiments/{name}/nextjob/" in page.text
    assert "Hand out the next job" in page.text
    # Nothing is loaded from elsewhere: no scripts, no external links or styles.
    assert "<script" not in page.text
    assert re.findall(r'(?:src|href)="(https?:)?//', page.text) == []


def test_a_wrong_method_is_told_every_method_the_path_has(service):
    """405's Allow header names every method of the path, not only those of its first route."""
    document = httpx.get(service.url + "openapi.json").json()
    values = {"name": "allow", "job_id": "job-1", "token_id": "1", "artifact": "model.pt"}
    checked = 0
    for template, operations in document["paths"].items():
        documented = {method.upper() for method in operations}
        wrong = next(m for m in ("PATCH", "DELETE", "PUT", "POST") if m not in documented)
        path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
        answer = httpx.request(wrong, service.url + path.lstrip("/"))
        assert answer.status_code == 405, (wrong, template, answer.status_code)
        allowed = {m.strip() for m in answer.headers["allow"].split(",")}
        assert allowed == documented, (template, answer.headers["allow"])
        assert wrong in answer.json()["detail"]
        checked += 1
    assert checked >= 30
