// An experiment at a glance: its badge (a paused experiment is told apart from a finished one),
// its declared search space, and what to do when it has no job yet.

import {h} from "./dom.js";
import {plural} from "./format.js";

/** Why a DONE experiment is paused rather than finished, or null: it was marked DONE while jobs
 * remain queued or running, or before its budget (maxJobs) was spent. The budget counts the jobs
 * the search created (jobsCreated, sent with a budget), not those added by hand, retries, or
 * what is left after deletions; without it, the job count stands in. */
export function pausedReason(status, jobCounts, maxJobs, jobsCreated) {
  if (status !== "DONE") return null;
  const counts = jobCounts || {};
  const waiting = (counts.QUEUED || 0) + (counts.RUNNING || 0);
  if (waiting) return `marked DONE while ${waiting} job${waiting === 1 ? "" : "s"} remain${waiting === 1 ? "s" : ""} queued or running`;
  const made = Number.isInteger(jobsCreated) ? jobsCreated : Object.values(counts).reduce((a, b) => a + b, 0);
  if (Number.isInteger(maxJobs) && made < maxJobs) return `marked DONE with ${made} of its ${maxJobs} jobs made`;
  return null;
}

/** The experiment's badge: RUNNING, DONE, or PAUSED (a DONE experiment with work left; Mark RUNNING resumes it). */
export function experimentBadge(status, jobCounts, maxJobs, jobsCreated) {
  const paused = pausedReason(status, jobCounts, maxJobs, jobsCreated);
  if (paused) {
    return h("span", {class: "badge status-PAUSED", dataset: {status: "PAUSED"},
      title: `Paused: ${paused}. Workers get no new job until it is marked RUNNING.`}, "PAUSED");
  }
  return h("span", {class: `badge status-${status}`, dataset: {status}}, status);
}

function argsText(args) {
  if (args === null || typeof args !== "object" || Array.isArray(args)) return JSON.stringify(args);
  return Object.entries(args).filter(([k]) => k !== "branches")
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(", ")}]` : JSON.stringify(v)}`).join(", ");
}

/** [{name, text, depth}] of a declared space, as declared (choices' branches indented under them). */
export function spaceRows(experiment) {
  const rows = [];
  const scheduler = experiment && experiment.scheduler;
  if (!scheduler || typeof scheduler !== "object") return rows;
  const [kind] = Object.keys(scheduler);
  const params = scheduler[kind];
  if (!params || typeof params !== "object" || Array.isArray(params)) return rows;
  const walk = (space, depth, under) => {
    if (!space || typeof space !== "object") return;
    for (const [name, dist] of Object.entries(space)) {
      if (!dist || typeof dist !== "object" || Array.isArray(dist) || Object.keys(dist).length !== 1) continue;
      const [[type, args]] = Object.entries(dist);
      rows.push({name, text: `${type}(${argsText(args)})`, depth, under});
      if (type === "choice" && args && args.branches) {
        for (const [value, branch] of Object.entries(args.branches)) walk(branch, depth + 1, `${name} = ${value}`);
      }
    }
  };
  if (kind === "GridSearch") {
    for (const [name, values] of Object.entries(params)) {
      if (Array.isArray(values)) rows.push({name, text: `grid([${values.map((x) => JSON.stringify(x)).join(", ")}])`, depth: 0});
      else if (values && typeof values === "object" && Object.keys(values).length === 1) {
        rows.push({name, text: gridRangeText(values), depth: 0});  // an integer or a stepped uniform, kept compact
      }
    }
  } else if (kind === "PBT") walk(params.init, 0);
  else if (params.distributions && typeof params.distributions === "object") walk(params.distributions, 0);
  else walk(params, 0);
  return rows;
}

const _AIM = {min: "minimises", max: "maximises"};

/** [{name, text}]: how the search decides (its own settings) and the experiment's options, as set. */
export function settingsRows(experiment) {
  const rows = [];
  const scheduler = (experiment && experiment.scheduler) || {};
  const [kind] = Object.keys(scheduler);
  const params = scheduler[kind];
  const p = params && typeof params === "object" && !Array.isArray(params) ? params : {};
  const aim = (objective, result) => `${_AIM[objective] || objective} ${result}`;
  if (kind === "TPESearch") {
    rows.push({name: "search", text: `TPE, ${aim(p.objective, p.resultName)}; ` +
      `the first ${p.nStartupJobs ?? 10} jobs quasi-random (${p.startup ?? "sobol"})`});
  } else if (kind === "RandomSearch") {
    const sampler = typeof experiment.sampler === "string" ? experiment.sampler : "iid";  // a top-level key
    rows.push({name: "search", text: sampler === "iid" ? "random, independent draws"
      : `quasi-random: the points of one scrambled ${sampler[0].toUpperCase()}${sampler.slice(1)} sequence, in order`});
  } else if (kind === "GridSearch") {
    rows.push({name: "search", text: "grid, every cell once in a shuffled order"});
  } else if (kind === "PBT") {
    const parts = [`Population Based Training, ${aim(p.objective, p.qualityResultName)}`];
    if (Number.isInteger(p.numParallel)) parts.push(`population ${p.numParallel}`);
    if (Number.isInteger(p.maxGenerations)) parts.push(`at most ${p.maxGenerations} generations`);
    rows.push({name: "search", text: parts.join("; ")});
  } else if (kind === "Manual") {
    rows.push({name: "search", text: "manual: workers get the jobs you add"});
  }
  if (Number.isInteger(experiment.maxJobs)) {
    const made = Number.isInteger(experiment.jobsCreated) ? `, ${experiment.jobsCreated} made by the search so far` : "";
    rows.push({name: "budget", text: `${plural(experiment.maxJobs, "job")}${made}`});
  }
  for (const [name, policy] of Object.entries(experiment.earlyStopping || {})) {
    rows.push({name: "early stopping", text: `${name}(${argsText(policy)})`});
  }
  if (Number.isInteger(experiment.seed)) rows.push({name: "seed", text: String(experiment.seed)});
  if (Number.isInteger(experiment.maxRetries)) {
    rows.push({name: "retries", text: `a crashed job is tried again up to ${experiment.maxRetries} time${experiment.maxRetries === 1 ? "" : "s"}`});
  }
  if (typeof experiment.maxRunTime === "number") {
    rows.push({name: "max run time", text: `${experiment.maxRunTime} s without heartbeats`});
  }
  return rows;
}

/** <details class="search-space">: the hyperparameters the search declares, with their distributions. */
export function spaceSection(experiment, open) {
  const rows = spaceRows(experiment);
  const kind = Object.keys(experiment.scheduler || {})[0] || "";
  const body = rows.length
    ? h("table", {class: "kv space"}, h("tbody", {}, rows.map((r) => h("tr", {dataset: {hyperparameter: r.name}},
      h("th", {class: `depth-${Math.min(r.depth, 3)}`, title: r.under ? `when ${r.under}` : null}, r.name),
      h("td", {}, h("code", {}, r.text), r.under ? h("span", {class: "muted when"}, ` only when ${r.under}`) : null)))))
    : h("p", {class: "muted"}, kind === "Manual" ? "A manual search declares no space: jobs are pushed by hand." : "No declared distributions.");
  const cells = gridCells(experiment);
  const settings = settingsRows(experiment);
  const settingsTable = settings.length
    ? h("table", {class: "kv settings"}, h("tbody", {}, settings.map((r) => h("tr", {dataset: {setting: r.name}},
      h("th", {}, r.name), h("td", {}, r.text)))))
    : null;
  return h("details", {class: "search-space", open: open || null},
    h("summary", {}, `Search space (${kind}, ${rows.length} hyperparameter${rows.length === 1 ? "" : "s"}` +
      `${cells === null ? "" : `, ${cells} cell${cells === 1 ? "" : "s"}`})`), body, settingsTable);
}

/** How many values one hyperparameter of a grid has: its list's length, or as a range counts them
 * (an integer or a stepped uniform, stored compact: (high - low) / step + 1, as schedy._search.GridAxis
 * counts them); null when it cannot be told. */
export function gridAxisSize(values) {
  if (Array.isArray(values)) return values.length;
  if (!values || typeof values !== "object" || Object.keys(values).length !== 1) return null;
  const [[type, args]] = Object.entries(values);
  const a = args && typeof args === "object" ? args : {};
  const {low, high} = a;
  if (!Number.isFinite(low) || !Number.isFinite(high) || high < low) return null;
  if (type === "integer") {
    const step = a.step ?? 1;
    return Number.isFinite(step) && step >= 1 ? Math.floor((high - low) / step) + 1 : null;
  }
  if (type === "uniform") return Number.isFinite(a.step) && a.step > 0 ? Math.round((high - low) / a.step) + 1 : null;
  if (type === "choice" && Array.isArray(a.values)) return a.values.length;
  if (type === "const") return 1;
  return null;
}

const grouped = (x) => (Number.isInteger(x) && Math.abs(x) >= 1000 ? x.toLocaleString("en-US") : String(x));

/** A grid's range as the search-space table shows it: "integer 1 … 1,000,000 (1,000,000 values)". */
function gridRangeText(values) {
  const [[type, args]] = Object.entries(values);
  const a = args && typeof args === "object" ? args : {};
  const size = gridAxisSize(values);
  if ((type !== "integer" && type !== "uniform") || size === null) return `grid(${type}(${argsText(args)}))`;
  const step = a.step !== undefined && !(type === "integer" && a.step === 1) ? ` step ${grouped(a.step)}` : "";
  const log = a.log ? ", log scale" : "";
  return `${type} ${grouped(a.low)} … ${grouped(a.high)}${step} (${grouped(size)} value${size === 1 ? "" : "s"}${log})`;
}

/** How many cells a grid search has (the product of its axes' sizes), or null for other searches. */
export function gridCells(experiment) {
  const params = (experiment.scheduler || {}).GridSearch;
  if (!params || typeof params !== "object") return null;
  let cells = 1;
  for (const values of Object.values(params)) {
    const size = gridAxisSize(values);
    if (size === null) return null;
    cells *= size;
  }
  return cells;
}

/** A name as one shell word, after "--" when it starts with "-" (else schedy's options would take it). */
function shellName(name) {
  const word = name.match(/^[\w.-]+$/) ? name : `'${name.replace(/'/g, "'\\''")}'`;
  return name.startsWith("-") ? `-- ${word}` : word;
}

/** The result the experiment ranks jobs by, as its search or early-stopping policy declares it ("loss" if none):
 * what the workers must set, so the snippet below names it. */
export function declaredResult(experiment) {
  for (const params of Object.values(experiment.scheduler || {})) {
    if (params && typeof params === "object") {
      for (const name of [params.resultName, params.qualityResultName]) if (typeof name === "string" && name) return name;
    }
  }
  for (const policy of Object.values(experiment.earlyStopping || {})) {
    if (policy && typeof policy === "object" && typeof policy.resultName === "string" && policy.resultName) return policy.resultName;
  }
  return "loss";
}

/** What an empty experiment shows instead of an empty table: no jobs yet, and how to start workers. */
export function emptyExperiment(name, experiment) {
  const kind = Object.keys(experiment.scheduler || {})[0] || "";
  const quoted = JSON.stringify(name);
  const result = JSON.stringify(declaredResult(experiment));
  return h("div", {class: "empty-experiment", dataset: {empty: "true"}},
    h("p", {}, h("strong", {}, "No jobs yet."), kind === "Manual"
      ? " A manual search hands out the jobs you add: push some (e.g. exp.add_job({...}) in Python), then start workers."
      : ` Workers create and run jobs: start one or more where your training code runs.`),
    h("pre", {class: "start-workers"}, `# Python, in each worker:
import schedy
exp = schedy.SchedyDB().get_experiment(${quoted})
for job in exp.jobs():       # waits when there is no work
    with job:                # RUNNING → DONE, or CRASHED on an exception
        job.results[${result}] = train(**job.hyperparameters)

# or from a shell, a command per job (%h: its hyperparameters as --name value):
schedy run -n 4 ${shellName(name)} python train.py %h`),
    h("p", {class: "muted"}, "This page shows the jobs as they arrive, by itself."));
}

/** The search space and, while the experiment has no job, what to do: redrawn only when they change. */
export class Overview {
  constructor(name, table) {
    this.name = name;
    this.table = table;  // the job table's element, hidden while there is no job
    this.el = h("div", {class: "overview"});
    this.signature = "";
  }

  /** `hidden`: more elements with nothing to show while there is no job (the objective bar, the plots). */
  update(experiment, total, hidden = []) {
    const empty = total === 0;
    this.table.hidden = empty;
    for (const el of hidden) el.hidden = empty;
    const signature = JSON.stringify([experiment.scheduler, settingsRows(experiment), empty]);
    if (signature === this.signature) return;
    this.signature = signature;
    // Redrawn, the section keeps whether the reader opened it (it opens by itself only while there is no job).
    const was = this.el.querySelector("details.search-space");
    const open = empty || Boolean(was && was.open && !this.wasEmpty);
    this.wasEmpty = empty;
    this.el.replaceChildren(...(empty ? [emptyExperiment(this.name, experiment)] : []), spaceSection(experiment, open));
  }
}
