// Talking to the service: the session cookie travels by itself; requests that change
// anything carry the CSRF token (the schedy_csrf cookie) in X-Schedy-CSRF.

export class HttpError extends Error {
  constructor(status, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
  }
}

import {jobsPath, seg, takeEarly} from "./start.js";

export {seg};

function csrfToken() {
  const match = document.cookie.split("; ").find((c) => c.startsWith("schedy_csrf="));
  return match ? decodeURIComponent(match.slice("schedy_csrf=".length)) : "";
}

/**
 * request("GET", "dashboard/api/experiments/", {etag}) → {status, etag, data}.
 * A 304 answers {status: 304, data: null}. A 401 fires "schedy:logged-out" and throws.
 */
export async function request(method, path, {body, etag, ifMatch} = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (etag) headers["If-None-Match"] = etag;
  if (ifMatch) headers["If-Match"] = ifMatch;
  if (!["GET", "HEAD"].includes(method)) headers["X-Schedy-CSRF"] = csrfToken();
  const ask = () => fetch(path, {
    method, headers, cache: "no-store", credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // The page's first request may have been sent before its modules loaded (start.js); if that
  // one found no session (the login came after), ask again.
  const early = method === "GET" && !etag ? takeEarly(path) : undefined;
  let response = early ? await early.catch(() => null) : null;
  if (!response || response.status === 401) response = await ask();
  if (response.status === 304) return {status: 304, etag: response.headers.get("ETag"), data: null};
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new CustomEvent("schedy:logged-out"));
    throw new HttpError(response.status, data && data.title, data && data.detail);
  }
  return {status: response.status, etag: response.headers.get("ETag"), data};
}

export const paths = {
  session: "dashboard/api/session/",
  experiments: "dashboard/api/experiments/",
  jobs: jobsPath,
  job: (exp, id) => `dashboard/api/experiments/${seg(exp)}/jobs/${seg(id)}/`,
  reports: (exp) => `dashboard/api/experiments/${seg(exp)}/reports/`,
  stopping: (exp) => `experiments/${seg(exp)}/stopping/`,
  artifacts: (exp, id) => `experiments/${seg(exp)}/jobs/${seg(id)}/artifacts/`,
  artifact: (exp, id, name) => `experiments/${seg(exp)}/jobs/${seg(id)}/artifacts/${seg(name)}/`,
  requeue: (exp, id) => `dashboard/api/experiments/${seg(exp)}/jobs/${seg(id)}/requeue/`,
  status: (exp) => `dashboard/api/experiments/${seg(exp)}/status/`,
  deleteJob: (exp, id) => `experiments/${seg(exp)}/jobs/${seg(id)}/`,
};
