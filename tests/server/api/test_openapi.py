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
        "/token/", "/passauth/", "/resettoken/", "/experiments/", "/experiments/{name}/",
        "/experiments/{name}/jobs/", "/experiments/{name}/jobs/{job_id}/", "/experiments/{name}/nextjob/",
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
