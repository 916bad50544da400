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

  /** Apply an answer of dashboard/api/experiments/NAME/jobs/; false when a full reload is needed. */
  apply(payload) {
    const cols = payload.jobs;
    const n = cols.pk.length;
    if (!payload.partial) { this.jobs = []; this.byPk.clear(); this.byId.clear(); }
    let appended = false;
    const {pk, id, status, worker, member, generation, parent, attempt, created, started, finished} = cols;
    for (let i = 0; i < n; i++) {
      // One object literal: every job gets the same shape, which keeps 100k of them fast.
      const job = {
        pk: pk[i], id: id[i], status: status[i], worker: worker[i], member: member[i], generation: generation[i],
        parent: parent[i], attempt: attempt[i], created: created[i], started: started[i], finished: finished[i],
        hp: cols.hyperparameters[i], res: cols.results[i],
      };
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
    this._keys = null;
    return this.jobs.length === payload.total;
  }

  /** Absolute time (seconds since the epoch) of a job's relative time (ms after t0). */
  time(rel) { return rel === null || rel === undefined ? null : this.t0 + rel / 1000; }

  /** Hyperparameter names, result names, and which results are numbers or curves. */
  keys() {
    if (this._keys) return this._keys;
    const hp = new Map(), res = new Map();
    for (const job of this.jobs) {
      for (const k in job.hp) if (!hp.has(k)) hp.set(k, {numeric: true, values: new Set()});
      for (const k in job.res) if (!res.has(k)) res.set(k, {numeric: false, curve: false});
    }
    for (const job of this.jobs) {
      for (const [k, info] of hp) {
        const v = job.hp[k];
        if (v === undefined) continue;
        if (typeof v !== "number") info.numeric = false;
        if (info.values.size <= 50) info.values.add(typeof v === "object" ? JSON.stringify(v) : v);
      }
    }
    // Results: a sample is enough to classify (a result changes kind rarely).
    const step = Math.max(1, Math.floor(this.jobs.length / 5000));
    for (let i = 0; i < this.jobs.length; i += step) {
      const job = this.jobs[i];
      for (const k in job.res) {
        const info = res.get(k), v = job.res[k];
        if (asNumber(v) !== undefined) info.numeric = true;
        else if (isCurve(v)) info.curve = true;
      }
    }
    this._keys = {hp, res};
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
