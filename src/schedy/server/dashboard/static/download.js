// Download the job table as shown (filtered and sorted) as CSV or JSON: built in the page and
// saved through a Blob and <a download> (no request, nothing from elsewhere: fine under the CSP).
//
// Values are the jobs' own, not the table's rounded text: numbers in full, NaN and ±Infinity as
// "NaN", "Infinity", "-Infinity", times as ISO 8601 (UTC), durations in seconds, lists and objects
// as JSON text in CSV cells. A text that a spreadsheet would take for a formula starts with an
// apostrophe (the JSON download keeps every value as it is).

import {h} from "./dom.js";

const iso = (seconds) => (seconds === null || seconds === undefined ? null : new Date(seconds * 1000).toISOString());

/** A job's value under a table column's key, as exported. */
function raw(job, column, data) {
  const key = column.key;
  if (key.startsWith("hp.")) return job.hp ? job.hp[key.slice(3)] : undefined;
  if (key.startsWith("res.")) return job.res ? job.res[key.slice(4)] : undefined;
  if (key === "created" || key === "started" || key === "finished") return iso(data.time(job[key]));
  if (key === "duration") return job.started !== null && job.finished !== null ? (job.finished - job.started) / 1000 : null;
  if (key in job) return job[key];
  return column.text(job);
}

function cell(value) {
  if (value === undefined || value === null) return "";
  let text = typeof value === "object" ? JSON.stringify(value) : String(value);
  // A text a spreadsheet would run as a formula (=, +, -, @, a tab or CR first: OWASP's list) gets a
  // leading apostrophe, shown by none of them; numbers (-1.5) are numbers and stay as they are.
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(value)) text = `'${text}`;
  return /[",\r\n]/.test(text) || /^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The rows of the table as shown, as CSV text (a header of the columns' keys). */
export function tableCsv(table, data) {
  if (table.dirty) table.compute();
  const lines = [table.columns.map((c) => cell(c.key)).join(",")];
  for (const job of table.view) lines.push(table.columns.map((c) => cell(raw(job, c, data))).join(","));
  return lines.join("\r\n") + "\r\n";
}

/** The jobs of the table as shown, as a JSON array of objects (each job whole). */
export function tableJson(table, data, experiment, notes = new Map()) {
  if (table.dirty) table.compute();
  const jobs = table.view.map((j) => ({
    id: j.id, status: j.status, hyperparameters: j.hp, results: j.res, worker: j.worker, attempt: j.attempt,
    member: j.member, generation: j.generation, parent: j.parent,
    createdAt: iso(data.time(j.created)), startedAt: iso(data.time(j.started)), finishedAt: iso(data.time(j.finished)),
    ...(notes.has(j.id) ? {note: notes.get(j.id)} : {}),
  }));
  return JSON.stringify({experiment, sort: table.sort.key ? table.sort : null, count: jobs.length, jobs}, null, 1) + "\n";
}

function save(text, type, filename) {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const a = h("a", {href: url, download: filename, hidden: true});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** "Download CSV" and "Download JSON" buttons for `page()` → {table, data, name}. */
export function downloadButtons(page) {
  const file = (ext) => `${page().name.replace(/[^\w.-]+/g, "_")}-jobs.${ext}`;
  return h("span", {class: "downloads"},
    h("button", {class: "secondary", dataset: {action: "download-csv"}, title: "The jobs shown, as filtered and sorted",
      onclick: () => { const p = page(); save(tableCsv(p.table, p.data), "text/csv", file("csv")); }}, "CSV"),
    h("button", {class: "secondary", dataset: {action: "download-json"}, title: "The jobs shown, as filtered and sorted",
      onclick: () => { const p = page(); save(tableJson(p.table, p.data, p.name, p.notes), "application/json", file("json")); }}, "JSON"));
}
