// Download the job table as shown (filtered and sorted) as CSV or JSON: the jobs' exact values are
// read from the service (dashboard/api/experiments/NAME/records/: each job in its wire form, as
// `schedy export` reads it), the file written in the page and saved through a Blob and <a download>
// (nothing from elsewhere: fine under the CSP).
//
// Both are written as `schedy export` writes them, so that `schedy import` reads a download back:
// CSV columns id, status, hyperparameters.NAME, results.NAME, then the service's fields in
// export's order (created_at, updated_at, started_at, finished_at, worker, member, generation,
// parent, attempt, end_reason, stop_reason, error: those a job shown has) and note; JSON jobs in
// the wire form (id, status, hyperparameters, results, createdAt…, error, note), under
// {"experiment", "sort", "count", "jobs"}. Export's `artifacts` column is left out (its links carry
// a token). Values are the jobs' own, not the table's rounded text: numbers in full, NaN and
// ±Infinity as export writes them (CSV: nan, inf, -inf; JSON: the bare tokens NaN, Infinity,
// -Infinity that Python's json reads) while a text "NaN" stays a text, times as the service sends
// them (ISO 8601, UTC, to the millisecond). In CSV cells, lists and objects are JSON, null is
// `null`, and a text that would read back as another value ("3", "true", "NA", "NaN", "") is JSON,
// quotes included, as export writes it; so is a text a spreadsheet would take for a formula (first
// character =, +, -, @, a tab or CR: OWASP's list): shown with its quotes, it is text to a
// spreadsheet, and `schedy import` reads the text back.

import {h} from "./dom.js";
import {request, seg} from "./api.js";

/** The service's fields: [CSV column, wire key], in `schedy export`'s order. */
const MANAGED = [
  ["created_at", "createdAt"],
  ["updated_at", "updatedAt"],
  ["started_at", "startedAt"],
  ["finished_at", "finishedAt"],
  ["worker", "worker"],
  ["member", "member"],
  ["generation", "generation"],
  ["parent", "parent"],
  ["attempt", "attempt"],
  ["end_reason", "endReason"],
  ["stop_reason", "stopReason"],
  ["error", "error"],
];

/** A value as one line of JSON, as Python's json.dumps writes it (", " and ": ", NaN and ±Infinity bare). */
export function toJson(value) {
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
  if (typeof value === "string") return needsQuotes(value) ? JSON.stringify(value) : value;
  if (typeof value === "number" && !Number.isFinite(value)) return Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf";
  return toJson(value);
}

/** A CSV field: in double quotes when it holds a comma, a quote or a line break (as export quotes). */
const field = (text) => (/[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);

/** What a crashed job raised as export's `error` column has it: "Type: message" (or the type alone). */
const errorText = (error) => (error.message ? `${error.type}: ${error.message}` : error.type);

/** The hyperparameter and result names of the table's columns, in its order. */
function names(table) {
  const of = (prefix) => table.columns.filter((c) => c.key.startsWith(prefix)).map((c) => c.key.slice(prefix.length));
  return {hp: of("hp."), res: of("res.")};
}

/** A job's wire record with its non-finite numbers as numbers again (the service lists where: columns.py). */
function exact(record) {
  for (const path of record.nonFinite || []) {
    let parent = record;
    for (const key of path.slice(0, -1)) parent = parent[key];
    parent[path[path.length - 1]] = Number(parent[path[path.length - 1]]);
  }
  delete record.nonFinite;
  return record;
}

/** Every job of the experiment as the service has it (wire form, exact values): id → record. */
export async function records(experiment) {
  const {data} = await request("GET", `dashboard/api/experiments/${seg(experiment)}/records/`);
  return new Map(data.jobs.map((r) => [r.id, exact(r)]));
}

/** The records of the jobs the table shows, in its order (a job deleted since is left out). */
function shown(table, byId) {
  if (table.dirty) table.compute();
  return table.view.map((j) => byId.get(j.id)).filter((r) => r !== undefined);
}

/** The names some of `jobs` has in `field`, in the table's order, then any the table has not. */
function present(jobs, field, order) {
  const seen = new Set();
  for (const job of jobs) for (const k in job[field]) seen.add(k);
  return [...order.filter((k) => seen.has(k)), ...[...seen].filter((k) => !order.includes(k))];
}

/** The rows of the table as shown, as CSV text with `schedy export`'s columns (see the top of this file). */
export function tableCsv(table, byId, notes = new Map()) {
  const jobs = shown(table, byId);
  const order = names(table);
  const hp = present(jobs, "hyperparameters", order.hp), res = present(jobs, "results", order.res);
  const fields = MANAGED.filter(([, wire]) => jobs.some((j) => j[wire] !== null && j[wire] !== undefined));
  const noted = jobs.some((j) => notes.get(j.id));
  const header = ["id", "status", ...hp.map((k) => `hyperparameters.${k}`), ...res.map((k) => `results.${k}`),
    ...fields.map(([column]) => column), ...(noted ? ["note"] : [])];
  const lines = [header.map(field).join(",")];
  for (const job of jobs) {
    const row = [job.id, job.status, ...hp.map((k) => csvValue(job.hyperparameters[k])),
      ...res.map((k) => csvValue(job.results[k])),
      ...fields.map(([column, wire]) => {
        const v = job[wire];
        if (v === null || v === undefined) return "";
        return column === "error" ? errorText(v) : csvValue(v);
      }),
      ...(noted ? [notes.get(job.id) || ""] : [])];
    lines.push(row.map(field).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** The jobs of the table as shown, each whole in `schedy export --format json`'s form, one per line. */
export function tableJson(table, byId, experiment, notes = new Map()) {
  const jobs = shown(table, byId).map((j) => {
    const record = {id: j.id, status: j.status, hyperparameters: j.hyperparameters, results: j.results};
    for (const [, wire] of MANAGED) {
      if (j[wire] !== null && j[wire] !== undefined) record[wire] = j[wire];
    }
    if (notes.get(j.id)) record.note = notes.get(j.id);
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

/** "Download CSV" and "Download JSON" buttons for `page()` → {table, name, notes}; a failure shows on the button. */
export function downloadButtons(page) {
  const button = (ext, type, write) => {
    const el = h("button", {class: "secondary", dataset: {action: `download-${ext}`}, title: "The jobs shown, as filtered and sorted"},
      ext.toUpperCase());
    el.onclick = async () => {
      const p = page();
      el.disabled = true;
      try {
        const byId = await records(p.name);
        save(write(p, byId), type, `${p.name.replace(/[^\w.-]+/g, "_")}-jobs.${ext}`);
        el.title = "The jobs shown, as filtered and sorted";
      } catch (error) {
        el.title = `Not downloaded: ${error.message}`;
      } finally {
        el.disabled = false;
      }
    };
    return el;
  };
  return h("span", {class: "downloads"},
    button("csv", "text/csv", (p, byId) => tableCsv(p.table, byId, p.notes)),
    button("json", "application/json", (p, byId) => tableJson(p.table, byId, p.name, p.notes)));
}
