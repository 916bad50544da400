"""Browsable API documentation at ``/docs``, rendered from the OpenAPI document.

Served by the service itself with no script and no asset from elsewhere, so
it works on a machine without internet access (the usual Swagger UI page
loads its code from a CDN).
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastapi import FastAPI
from starlette.responses import HTMLResponse

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{margin-bottom:0}code,pre{font:13px ui-monospace,monospace;background:#f3f4f6;border-radius:4px}
pre{padding:.6rem;overflow:auto}section{border-top:1px solid #d0d7de;padding:.5rem 0}
.method{display:inline-block;min-width:4.5rem;font-weight:700}.get{color:#0969da}.post{color:#1a7f37}
.put{color:#9a6700}.delete{color:#cf222e}.muted{color:#57606a}
"""


def _schema_block(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    return f"<pre>{escape(json.dumps(schema, indent=2))}</pre>"


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    parts = [
        f'<section id="{escape(op.get("operationId", ""))}">',
        f'<div><span class="method {method}">{method.upper()}</span> <code>{escape(path)}</code></div>',
    ]
    if op.get("description"):
        parts.append(f"<p>{escape(op['description'])}</p>")
    params = [p for p in op.get("parameters", []) if p.get("in") == "query"]
    if params:
        items = "".join(f"<li><code>{escape(p['name'])}</code></li>" for p in params)
        parts.append(f"<p class=muted>Query parameters:</p><ul>{items}</ul>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        parts.append("<p class=muted>Body:</p>" + _schema_block(body))
    codes = ", ".join(escape(str(code)) for code in op.get("responses", {}))
    parts.append(f"<p class=muted>Answers: {codes}</p></section>")
    return "".join(parts)


def render(openapi: dict[str, Any]) -> str:
    """The HTML page documenting every operation of ``openapi``."""
    info = openapi.get("info", {})
    sections = [
        _operation(path, method, op)
        for path, methods in openapi.get("paths", {}).items()
        for method, op in methods.items()
    ]
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(info.get('title', 'API'))} API</title>"
        f"<style>{_STYLE}</style><h1>{escape(info.get('title', ''))} API "
        f"<small class=muted>{escape(info.get('version', ''))}</small></h1>"
        f"<p>{escape(info.get('description', ''))}</p>"
        f'<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>{"".join(sections)}</html>'
    )


def install(app: FastAPI) -> None:
    """Serve the page at ``/docs``."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(render(app.openapi()))
