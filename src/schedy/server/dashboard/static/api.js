// Talking to the service: the session cookie travels by itself; requests that change
// anything carry the CSRF token (the schedy_csrf cookie) in X-Schedy-CSRF.

export class HttpError extends Error {
  constructor(status, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
  }
}

import {serviceClock} from "./format.js";
import {jobsPath, seg, takeEarly} from "./start.js";

export {seg};

function csrfToken() {
  const match = document.cookie.split("; ").find((c) => c.startsWith("schedy_csrf="));
  return match ? decodeURIComponent(match.slice("schedy_csrf=".length)) : "";
}

/**
 * The response to a request (see request()), taking the one start.js sent early if it is this one;
 * its Date header tells the page the service's clock (format.js now()).
 */
async function send(method, path, {body, etag, ifMatch} = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (etag) headers["If-None-Match"] = etag;
  if (ifMatch) headers["If-Match"] = ifMatch;
  if (!["GET", "HEAD"].includes(method)) headers["X-Schedy-CSRF"] = csrfToken();
  const ask = async () => {
    const sent = Date.now();
    const response = await fetch(path, {
      method, headers, cache: "no-store", credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    serviceClock(response.headers.get("Date"), sent);
    return response;
  };
  // The page's first request may have been sent before its modules loaded (start.js); if that
  // one found no session (the login came after), ask again.
  const early = method === "GET" && !etag ? takeEarly(path) : undefined;
  const response = early ? await early.catch(() => null) : null;
  if (!response || response.status === 401) return ask();
  // Sent after the page began to load (by the same clock as Date.now()).
  serviceClock(response.headers.get("Date"), Date.now() - performance.now());
  return response;
}

/** {status, etag, data} of a response read whole; throws HttpError on an error status. */
async function answer(response) {
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

/**
 * request("GET", "dashboard/api/experiments/", {etag}) → {status, etag, data}.
 * A 304 answers {status: 304, data: null}. A 401 fires "schedy:logged-out" and throws.
 */
export async function request(method, path, options = {}) {
  return answer(await send(method, path, options));
}

const JOBS_OPEN = ',"jobs":{';

/**
 * The lines of an experiment's jobs in columns (see columns.py), parsed one by one as
 * they arrive: {HEADER…,"jobs":{ / a group of fields per line / },"nonFinite":[…]…}. Anything
 * else (a partial answer is one line) is parsed whole at the end.
 */
class ColumnLines {
  constructor(onJobs) {
    this.onJobs = onJobs;  // called with the answer so far after each group of fields
    this.parts = [];    // the line being received, in pieces
    this.lines = [];    // every line, for a parse of the whole text if the lines are not as above
    this.data = null;
    this.closed = false;
    this.failed = false;
  }

  push(text) {
    let start = 0, nl;
    while ((nl = text.indexOf("\n", start)) >= 0) {
      this.parts.push(text.slice(start, nl));
      this.line(this.parts.join(""));
      this.parts = [];
      start = nl + 1;
    }
    if (start < text.length) this.parts.push(text.slice(start));
  }

  line(text) {
    this.lines.push(text);
    if (this.failed) return;
    try {
      if (this.lines.length === 1) {
        if (!text.endsWith(JOBS_OPEN)) { this.failed = true; return; }
        this.data = JSON.parse(text.slice(0, -JOBS_OPEN.length) + "}");
        this.data.jobs = {};
      } else if (text.startsWith("},")) {
        Object.assign(this.data, JSON.parse("{" + text.slice(2)));
        this.closed = true;
      } else {
        Object.assign(this.data.jobs, JSON.parse("{" + (text.endsWith(",") ? text.slice(0, -1) : text) + "}"));
        if (this.onJobs) this.onJobs(this.data);
      }
    } catch {
      this.failed = true;
    }
  }

  end() {
    if (this.parts.length) this.line(this.parts.join(""));  // the last line ends without a newline
    if (!this.failed && this.closed) return this.data;
    return JSON.parse(this.lines.join("\n"));
  }
}

/**
 * requestColumns(path, {etag, onJobs}) → {status, etag, data}: request("GET", …) for the jobs'
 * columns, each line parsed while the service still reads and sends the next (a full read sends
 * the stored hyperparameters and results first, the other fields after); `onJobs(answerSoFar)`
 * runs after each group of fields, to work on them before the rest arrives.
 */
export async function requestColumns(path, {etag, onJobs} = {}) {
  const response = await send("GET", path, {etag});
  if (response.status !== 200 || !response.body) return answer(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const lines = new ColumnLines(onJobs);
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    lines.push(decoder.decode(value, {stream: true}));
  }
  lines.push(decoder.decode());
  return {status: response.status, etag: response.headers.get("ETag"), data: lines.end()};
}

export const paths = {
  session: "dashboard/api/session/",
  experiments: "dashboard/api/experiments/",
  jobs: jobsPath,
  job: (exp, id) => `dashboard/api/experiments/${seg(exp)}/jobs/${seg(id)}/`,
  reports: (exp) => `dashboard/api/experiments/${seg(exp)}/reports/`,
  stopping: (exp) => `experiments/${seg(exp)}/stopping/`,
  brackets: (exp) => `dashboard/api/experiments/${seg(exp)}/brackets/`,
  artifacts: (exp, id) => `experiments/${seg(exp)}/jobs/${seg(id)}/artifacts/`,
  artifact: (exp, id, name) => `experiments/${seg(exp)}/jobs/${seg(id)}/artifacts/${seg(name)}/`,
  requeue: (exp, id) => `dashboard/api/experiments/${seg(exp)}/jobs/${seg(id)}/requeue/`,
  status: (exp) => `dashboard/api/experiments/${seg(exp)}/status/`,
  deleteJob: (exp, id) => `experiments/${seg(exp)}/jobs/${seg(id)}/`,
};
