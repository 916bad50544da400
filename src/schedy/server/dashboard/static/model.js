// An experiment's jobs in the browser: loaded once in columns, then merged with what changed.

import {asNumber, isCurve} from "./format.js";
import {declaredSpace} from "./space.js";

// Times (created, started, finished) are milliseconds after the experiment's creation (t0).

export class ExperimentData {
  constructor(name) {
    this.name = name;
    this.jobs = [];          // one object per job, oldest first (pk order)
    this.byPk = new Map();
    this.byId = new Map();
    this.experiment = null;
    this.total = 0;
    this.cursor = null;
    this.etag = null;
    this.t0 = 0;
    this.defaultObjective = null;
    this.version = 0;        // bumps whenever the jobs change
  }

  /**
   * While a full answer is still arriving (api.js requestColumns calls this after each line): once
   * its hyperparameters and results are in, and before the other fields are, make the job objects
   * and find their keys, so apply() only fills in the other fields.
   */
  prepare(payload) {
    const cols = payload.jobs;
    if (payload.partial || !cols.hyperparameters || !cols.results || cols.pk) return;
    const hps = cols.hyperparameters, res = cols.results, n = hps.length;
    const jobs = new Array(n);
    for (let i = 0; i < n; i++) {
      // The same literal as in apply(): every job gets the same shape.
      jobs[i] = {
        pk: 0, id: null, status: null, worker: null, member: null, generation: null,
        parent: null, attempt: null, created: null, started: null, finished: null,
        hp: hps[i], res: res[i],
      };
    }
    this.early = {hps, jobs, keys: keysOf(jobs)};
  }

  /** Apply an answer of dashboard/api/experiments/NAME/jobs/; false when a full reload is needed. */
  apply(payload) {
    const cols = payload.jobs;
    const n = cols.pk.length;
    if (!payload.partial) { this.jobs = []; this.byPk.clear(); this.byId.clear(); }
    const early = !payload.partial && this.early && this.early.hps === cols.hyperparameters && this.early.jobs.length === n
      ? this.early : null;
    this.early = null;
    let appended = false;
    const {pk, id, status, worker, member, generation, parent, attempt, created, started, finished} = cols;
    for (let i = 0; i < n; i++) {
      let job;
      if (early) {
        job = early.jobs[i];
        job.pk = pk[i]; job.id = id[i]; job.status = status[i]; job.worker = worker[i]; job.member = member[i];
        job.generation = generation[i]; job.parent = parent[i]; job.attempt = attempt[i]; job.created = created[i];
        job.started = started[i]; job.finished = finished[i];
      } else {
        // One object literal: every job gets the same shape, which keeps 100k of them fast.
        job = {
          pk: pk[i], id: id[i], status: status[i], worker: worker[i], member: member[i], generation: generation[i],
          parent: parent[i], attempt: attempt[i], created: created[i], started: started[i], finished: finished[i],
          hp: cols.hyperparameters[i], res: cols.results[i],
        };
      }
      const old = this.byPk.get(job.pk);
      if (old) {
        Object.assign(old, job);
        if (old.id !== job.id) this.byId.set(job.id, old);
      } else {
        if (this.jobs.length && job.pk < this.jobs[this.jobs.length - 1].pk) appended = true;  // out of order
        this.jobs.push(job);
        this.byPk.set(job.pk, job);
        this.byId.set(job.id, job);
      }
    }
    // Results holding NaN or Infinity come apart in a full load (see columns.py).
    for (const [pk, results] of payload.nonFinite || []) {
      const job = this.byPk.get(pk);
      if (job) job.res = results;
    }
    if (appended) this.jobs.sort((a, b) => a.pk - b.pk);
    this.experiment = payload.experiment;
    this.total = payload.total;
    this.cursor = payload.cursor;
    this.t0 = payload.t0;
    this.defaultObjective = payload.objective;
    if (n > 0 || !payload.partial) this.version++;
    // The keys found while the answer arrived hold, unless results came apart (nonFinite).
    this._keys = early && !(payload.nonFinite && payload.nonFinite.length) ? early.keys : null;
    return this.jobs.length === payload.total;
  }

  /** Absolute time (seconds since the epoch) of a job's relative time (ms after t0). */
  time(rel) { return rel === null || rel === undefined ? null : this.t0 + rel / 1000; }

  /** Hyperparameter names, result names, and which results are numbers or curves. */
  keys() {
    if (!this._keys) this._keys = keysOf(this.jobs);
    return this._keys;
  }

  /** The search space the experiment declares (space.js), per hyperparameter. */
  space() {
    const key = this.experiment ? JSON.stringify(this.experiment.scheduler) : "";
    if (!this._space || this._space.key !== key) this._space = {key, map: declaredSpace(this.experiment)};
    return this._space.map;
  }

  isPbt() {
    return this.jobs.some((j) => j.generation !== null && j.member !== null);
  }
}

/** The objective value of a job: a number (maybe NaN or ±Infinity), or undefined if it has none. */
export function objectiveOf(job, objective) {
  if (!objective) return undefined;
  return asNumber(job.res[objective.name]);
}

/** Rank key: smaller is better; NaN, ±Infinity and missing rank worst (a non-finite value is
 * never "the best", whatever the direction). */
export function rankKey(value, direction) {
  if (value === undefined || !Number.isFinite(value)) return Infinity;
  return direction === "min" ? value : -value;
}

/** The best DONE job by the objective (finite values only), or null. */
export function bestJob(jobs, objective) {
  let best = null, bestKey = Infinity;
  for (const job of jobs) {
    if (job.status !== "DONE") continue;
    const key = rankKey(objectiveOf(job, objective), objective.direction);
    if (key < bestKey) { best = job; bestKey = key; }
  }
  return best;
}

/** The hyperparameter and result names of `jobs`, and which results are numbers or curves. */
function keysOf(jobs) {
  const hp = new Map(), res = new Map();
  for (const job of jobs) {
    for (const k in job.hp) if (!hp.has(k)) hp.set(k, {numeric: true, values: new Set()});
    for (const k in job.res) if (!res.has(k)) res.set(k, {numeric: false, curve: false});
  }
  for (const job of jobs) {
    for (const [k, info] of hp) {
      const v = job.hp[k];
      if (v === undefined) continue;
      if (typeof v !== "number") info.numeric = false;
      if (info.values.size <= 50) info.values.add(typeof v === "object" ? JSON.stringify(v) : v);
    }
  }
  // Results: a sample is enough to classify (a result changes kind rarely).
  const step = Math.max(1, Math.floor(jobs.length / 5000));
  for (let i = 0; i < jobs.length; i += step) {
    const job = jobs[i];
    for (const k in job.res) {
      const info = res.get(k), v = job.res[k];
      if (asNumber(v) !== undefined) info.numeric = true;
      else if (isCurve(v)) info.curve = true;
    }
  }
  return {hp, res};
}

