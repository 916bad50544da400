// Intermediate reports (early stopping): loaded once, then only the new ones; learning curves
// per metric; and the rungs of ASHA / Hyperband (how many jobs reached each, how many went on).

import {paths, request} from "./api.js";
import {asNumber, plural} from "./format.js";
import {context, expose, inks, interactive, MARGIN} from "./plotkit.js";
import {colour} from "./theme.js";

/** At most this many answers are read per refresh of one job's reports (50,000 reports each). */
const PAGES_PER_REFRESH = 10;

/**
 * At most about this many reports per job are kept for its curve: the service sends every job's new
 * reports thinned to this many (evenly spaced; the first, the last and the non-finite ones always), and a
 * job whose list grows past twice as many while the page is open is thinned the same way. A curve is a
 * few hundred pixels wide: a job reporting every batch would otherwise cost its 10,000s of points.
 */
export const PER_JOB = 500;

/** At most `most` of a job's [[step, metrics], …] spread evenly, with the first, last and non-finite ones. */
export function thin(list, most) {
  if (list.length <= most) return list;
  const last = list.length - 1;
  const keep = new Set();
  for (let i = 0; i < most; i++) keep.add(Math.round((i * last) / (most - 1)));
  // Non-finite values come as strings ("NaN", "Infinity"): the curves mark them, so they stay.
  return list.filter(([, m], i) => keep.has(i) || Object.values(m).some((v) => typeof v === "string"));
}

export class Reports {
  constructor(name) {
    this.name = name;
    this.after = 0;
    this.byJob = new Map();   // job id → [[step, metrics], …] of its latest attempt, in received order
    this.attemptOf = new Map();  // job id → the attempt those reports are of
    this.metrics = new Set();
    this.count = 0;
    this.version = 0;
  }

  /** Read the reports received since the last call (of one job, if given); true when there were some. */
  async refresh(job) {
    let changed = false;
    // A job's own page draws its whole series; the experiment's, every job's thinned (50,000 per answer at most).
    const only = job ? `&job=${encodeURIComponent(job)}` : `&perJob=${PER_JOB}`;
    const grown = new Set();
    for (let page = 0; page < PAGES_PER_REFRESH; page++) {
      const {data} = await request("GET", `${paths.reports(this.name)}?after=${this.after}${only}`);
      for (let i = 0; i < data.job.length; i++) {
        // A job set back to QUEUED runs again as its next attempt: its curve starts over.
        const attempt = data.attempt ? data.attempt[i] : 1;
        const seen = this.attemptOf.get(data.job[i]) ?? 0;
        if (attempt < seen) continue;
        let list = this.byJob.get(data.job[i]);
        if (!list || attempt > seen) this.byJob.set(data.job[i], list = []);
        this.attemptOf.set(data.job[i], attempt);
        const metrics = data.metrics[i] || {};
        list.push([data.step[i], metrics]);
        if (!job && list.length > 2 * PER_JOB) grown.add(data.job[i]);
        for (const k in metrics) this.metrics.add(k);
      }
      this.count += data.job.length;
      changed = changed || data.job.length > 0;
      this.after = data.after;
      if (!data.more) break;
    }
    for (const id of grown) this.byJob.set(id, thin(this.byJob.get(id), PER_JOB));
    if (changed) this.version++;
    return changed;
  }

  /** Curves of one metric: [{job, steps, values}] for the jobs of `data` that reported it. */
  series(data, metric) {
    const out = [];
    for (const [id, list] of this.byJob) {
      const job = data.byId.get(id);
      if (!job) continue;
      const points = list.filter(([, m]) => metric in m).sort((a, b) => a[0] - b[0]);
      if (!points.length) continue;
      out.push({job, steps: points.map(([s]) => s), values: points.map(([, m]) => asNumber(m[metric]) ?? NaN)});
    }
    return out;
  }
}

/** At most this many rows in the rungs figure (more are sampled: sampled()). */
const MAX_RUNG_ROWS = 16;

/**
 * At most ``n`` of ``rows`` (rungs in order), as the figure draws them: the first, the last, every
 * one where the policy stopped jobs (those where it stopped most when they are more than the room),
 * and the room left filled evenly. Sampling evenly alone hid every decision: a job reporting 2,000
 * steps drew steps 1, 134, 268, … while the others were stopped at steps 3 to 29.
 * Returns {rows, stops (how many rungs stopped jobs), shownStops (how many of them are drawn)}.
 */
function sampled(rows, n) {
  const last = rows.length - 1;
  const keep = new Set([0, last]);
  const stops = [];
  rows.forEach((r, i) => { if (r.reached > r.survived) stops.push(i); });
  const byStops = stops.slice().sort((a, b) => (rows[b].reached - rows[b].survived) - (rows[a].reached - rows[a].survived) || a - b);
  for (const i of byStops) { if (keep.size >= n) break; keep.add(i); }
  // The room left, filled evenly among the rows not kept yet (spacing over all rows would land on
  // kept ones, the first, the last, the stops, and draw fewer than n).
  const free = [];
  for (let i = 0; i <= last; i++) if (!keep.has(i)) free.push(i);
  const room = Math.min(n - keep.size, free.length);
  for (let k = 0; k < room; k++) keep.add(free[Math.floor(((k + 0.5) * free.length) / room)]);
  const chosen = [...keep].sort((a, b) => a - b);
  return {rows: chosen.map((i) => rows[i]), stops: stops.length, shownStops: stops.filter((i) => keep.has(i)).length};
}

/** What a sample of the rungs (sampled()) draws, in words. */
function sampleText(shown, all, {stops, shownStops}) {
  const head = `${shown} of ${all} steps shown`;
  if (!stops) return `${head}, evenly spaced, the first and last among them (no job was stopped at any).`;
  const which = shownStops === stops ? `every step where jobs were stopped (${stops})`
    : `the ${shownStops} steps where most jobs were stopped (of ${stops} where some were)`;
  return `${head}: the first, the last, ${which}, the others evenly spaced.`;
}

/**
 * The rungs of the early-stopping policy (GET experiments/NAME/stopping/): per bracket, a bar per
 * rung as long as the jobs that reached it, the part the policy let go on from it in the accent
 * colour (--accent over --accent-soft, and the text in --fg: the page's theme, dark mode too).
 * "continued" is the service's count, known at the last rung too.
 */
export function rungs(fig, summary) {
  const list = (summary && summary.rungs) || [];
  const brackets = [...new Set(list.map((r) => r.bracket ?? 0))].sort((a, b) => a - b);
  let rows = [];
  for (const b of brackets) {
    const mine = list.filter((r) => (r.bracket ?? 0) === b).sort((p, q) => p.step - q.step);
    for (const r of mine) rows.push({bracket: b, step: r.step, reached: r.jobs, survived: r.continued});
  }
  // ASHA's and Hyperband's rungs are few (geometric steps); the median rule has one per step reported,
  // thousands for a job reporting every batch: a bar each would make a canvas taller than a browser draws.
  const all = rows.length;
  let sample = null;
  if (all > MAX_RUNG_ROWS) { sample = sampled(rows, MAX_RUNG_ROWS); rows = sample.rows; }
  const height = Math.max(120, rows.length * 26 + MARGIN.t + MARGIN.b);
  const {ctx, frame} = context(fig, height);
  const {fg} = inks();
  const soft = colour("--accent-soft", "#b6d4fe"), accent = colour("--accent", "#0969da");
  const left = 130, top = MARGIN.t;
  const most = Math.max(1, ...rows.map((r) => r.reached));
  const w = (n) => ((frame.x1 - left - 60) * n) / most;
  ctx.font = "12px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  const hits = [];
  rows.forEach((r, i) => {
    const y = top + i * 26 + 13;
    ctx.fillStyle = fg;
    ctx.textAlign = "right";
    ctx.fillText(`${brackets.length > 1 ? `bracket ${r.bracket} · ` : ""}step ${r.step}`, left - 8, y);
    ctx.fillStyle = soft;
    ctx.fillRect(left, y - 8, Math.max(1, w(r.reached)), 16);
    ctx.fillStyle = accent;
    ctx.fillRect(left, y - 8, w(r.survived), 16);
    ctx.fillStyle = fg;
    ctx.textAlign = "left";
    ctx.fillText(`${r.reached} → ${r.survived}`, left + Math.max(1, w(r.reached)) + 6, y);
    hits.push({px: left + w(r.reached) / 2, py: y, label: `${plural(r.reached, "job")} reached step ${r.step}`
      + `; ${r.survived} went on (${r.reached - r.survived} stopped there)`});
  });
  const policy = summary && summary.policy ? Object.keys(summary.policy)[0] : null;
  // Hyperband's last bracket trains every job to maxStep: no rung, so no bar; its jobs are counted apart.
  const never = ((summary && summary.brackets) || []).filter((b) => !b.stops && b.jobs > 0);
  const apart = never.map((b) => ` ${plural(b.jobs, "job")} ${b.jobs === 1 ? "is" : "are"} in bracket ${b.bracket}, which never stops`
    + ` (it trains every job to maxStep${policy && summary.policy[policy].maxStep ? ` ${summary.policy[policy].maxStep}` : ""}): no rung, so no bar.`).join("");
  fig.note.textContent = (rows.length
    ? `${policy}: light bar, the jobs that reached a rung; dark, those it let go on from there.`
      + (sample ? ` ${sampleText(rows.length, all, sample)}` : "")
    : "No job has reached a rung yet.") + apart;
  fig.hits = hits;
  expose(fig, rows, {policy: policy || "", rungs: all});
  interactive(fig, () => null);
}
