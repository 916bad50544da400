// Download the job table as shown (filtered and sorted) as CSV or JSON: built in the page and
// saved through a Blob and <a download> (no request, nothing from elsewhere: fine under the CSP).
//
// Both are written as `schedy export` writes them, so that `schedy import` reads a download back:
// CSV columns id, status, hyperparameters.NAME, results.NAME, then the service's fields in
// export's order (created_at, started_at, finished_at, worker, member, generation, parent,
// attempt: those a job shown has) and note; JSON jobs in the wire form (id, status,
// hyperparameters, results, createdAt…, note), under {"experiment", "sort", "count", "jobs"}.
// Values are the jobs' own, not the table's rounded text: numbers in full, NaN and ±Infinity as
// export writes them (CSV: nan, inf, -inf; JSON: the bare tokens NaN, Infinity, -Infinity that
// Python's json reads), times as ISO 8601 (UTC). In CSV cells, lists and objects are JSON, null
// is `null`, and a text that would read back as another value ("3", "true", "NA", "") is JSON,
// quotes included, as export writes it; so is a text a spreadsheet would take for a formula
// (first character =, +, -, @, a tab or CR: OWASP's list): shown with its quotes, it is text to
// a spreadsheet, and `schedy import` reads the text back.

import {h} from "./dom.js";

const iso = (seconds) => (seconds === null || seconds === undefined ? null : new Date(seconds * 1000).toISOString());

/** Non-finite numbers, which the service sends as these strings (columns.py), as export writes them. */
const NON_FINITE_JSON = {NaN: "NaN", Infinity: "Infinity", "-Infinity": "-Infinity"};
const NON_FINITE_CSV = {NaN: "nan", Infinity: "inf", "-Infinity": "-inf"};

/** The service's fields: table key → [CSV column, JSON key], in `schedy export`'s order. */
const MANAGED = [
  ["created", "created_at", "createdAt"],
  ["started", "started_at", "startedAt"],
  ["finished", "finished_at", "finishedAt"],
  ["worker", "worker", "worker"],
  ["member", "member", "member"],
  ["generation", "generation", "generation"],
  ["parent", "parent", "parent"],
  ["attempt", "attempt", "attempt"],
];
const TIMES = new Set(["created", "started", "finished"]);

/** A value as one line of JSON, as Python's json.dumps writes it (", " and ": ", NaN bare). */
export function toJson(value) {
  if (typeof value === "string") return value in NON_FINITE_JSON ? NON_FINITE_JSON[value] : JSON.stringify(value);
  if (typeof value === "number") return Number.isFinite(value) ? JSON.stringify(value) : String(value);
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return `[${value.map(toJson).join(", ")}]`;
  if (typeof value === "object") return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${toJson(v)}`).join(", ")}}`;
  return JSON.stringify(value);
}

/** The cells pandas reads as NaN whatever the column (read_csv's default na_values), as export.py lists them. */
const PANDAS_NA = new Set(["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
  "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null", "inf", "-inf", "Infinity"]);
/** What Python's float() reads (underscores between digits, inf, infinity, nan), spaces around allowed. */
const FLOAT = /^\s*[+-]?((\d(_?\d)*)?\.?\d(_?\d)*([eE][+-]?\d(_?\d)*)?|\d(_?\d)*\.([eE][+-]?\d(_?\d)*)?|inf(inity)?|nan)\s*$/i;

/** Whether a text written bare would read back as another value (by `schedy import` or pandas), or run as a formula. */
function needsQuotes(text) {
  if (PANDAS_NA.has(text) || /^(true|false)$/i.test(text) || FLOAT.test(text)) return true;
  if (/^[=+\-@\t\r]/.test(text) || text.trim() !== text) return true;
  try { JSON.parse(text); return true; } catch { return false; }
}

/** A value as export writes it in a CSV cell (before the CSV quoting); "" for a value the job has not. */
function csvValue(value) {
  if (value === undefined) return "";
  if (value === null) return "null";
  if (typeof value === "string") {
    if (value in NON_FINITE_CSV) return NON_FINITE_CSV[value];
    return needsQuotes(value) ? JSON.stringify(value) : value;
  }
  return toJson(value);
}

/** A CSV field: in double quotes when it holds a comma, a quote or a line break (as export quotes). */
const field = (text) => (/[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);

/** The service's field of a job (times in ISO 8601), null when it has none. */
function managed(job, key, data) {
  const value = job[key];
  if (value === null || value === undefined) return null;
  return TIMES.has(key) ? iso(data.time(value)) : value;
}

/** The hyperparameter and result names of the table's columns, in its order. */
function names(table) {
  const of = (prefix) => table.columns.filter((c) => c.key.startsWith(prefix)).map((c) => c.key.slice(prefix.length));
  return {hp: of("hp."), res: of("res.")};
}

/** The rows of the table as shown, as CSV text with `schedy export`'s columns (see the top of this file). */
export function tableCsv(table, data, notes = new Map()) {
  if (table.dirty) table.compute();
  const {hp, res} = names(table);
  const jobs = table.view;
  const fields = MANAGED.filter(([key]) => jobs.some((j) => managed(j, key, data) !== null));
  const noted = jobs.some((j) => notes.has(j.id));
  const header = ["id", "status", ...hp.map((k) => `hyperparameters.${k}`), ...res.map((k) => `results.${k}`),
    ...fields.map(([, column]) => column), ...(noted ? ["note"] : [])];
  const lines = [header.map(field).join(",")];
  for (const job of jobs) {
    const hps = job.hp || {}, results = job.res || {};
    const row = [job.id, job.status, ...hp.map((k) => csvValue(hps[k])), ...res.map((k) => csvValue(results[k])),
      ...fields.map(([key]) => { const v = managed(job, key, data); return v === null ? "" : csvValue(v); }),
      ...(noted ? [notes.get(job.id) ?? ""] : [])];
    lines.push(row.map(field).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** The jobs of the table as shown, each whole in `schedy export --format json`'s form, one per line. */
export function tableJson(table, data, experiment, notes = new Map()) {
  if (table.dirty) table.compute();
  const jobs = table.view.map((j) => {
    const record = {id: j.id, status: j.status, hyperparameters: j.hp || {}, results: j.res || {}};
    for (const [key, , wire] of MANAGED) {
      const value = managed(j, key, data);
      if (value !== null) record[wire] = value;
    }
    if (notes.has(j.id)) record.note = notes.get(j.id);
    return toJson(record);
  });
  const head = `{"experiment": ${toJson(experiment)}, "sort": ${toJson(table.sort.key ? table.sort : null)}, "count": ${jobs.length}, "jobs": [`;
  return head + (jobs.length ? `\n${jobs.join(",\n")}\n` : "") + "]}\n";
}

function save(text, type, filename) {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const a = h("a", {href: url, download: filename, hidden: true});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** "Download CSV" and "Download JSON" buttons for `page()` → {table, data, name, notes}. */
export function downloadButtons(page) {
  const file = (ext) => `${page().name.replace(/[^\w.-]+/g, "_")}-jobs.${ext}`;
  return h("span", {class: "downloads"},
    h("button", {class: "secondary", dataset: {action: "download-csv"}, title: "The jobs shown, as filtered and sorted",
      onclick: () => { const p = page(); save(tableCsv(p.table, p.data, p.notes), "text/csv", file("csv")); }}, "CSV"),
    h("button", {class: "secondary", dataset: {action: "download-json"}, title: "The jobs shown, as filtered and sorted",
      onclick: () => { const p = page(); save(tableJson(p.table, p.data, p.name, p.notes), "application/json", file("json")); }}, "JSON"));
}
