// Timeline of jobs per worker: time along x, one row per worker, a bar per job from its start to
// its end (a RUNNING job's up to now), coloured by status: idle workers show as gaps, crashes
// as red bars. Bars are merged per row and status at pixel resolution (the columns they cover),
// so 100k jobs draw as a few thousand rectangles; CRASHED and RUNNING bars are drawn last, so
// they are never hidden.

import {now as serviceNow, plural, show} from "./format.js";
import {POINTS_IN_DOM, axes, context, expose, inks, interactive, scale, timeTicks} from "./plotkit.js";

/** The colour of a bar by the job's status (as the status badges). */
export const STATUS_COLOURS = {
  DONE: "rgb(26,127,55)", RUNNING: "rgb(9,105,218)", CRASHED: "rgb(207,34,46)",
  PRUNED: "rgb(154,103,0)", QUEUED: "rgb(140,149,159)",
};
const ORDER = ["QUEUED", "DONE", "PRUNED", "RUNNING", "CRASHED"];
const NO_WORKER = "(no worker)";

/** What the rows are: "3 workers", "2 workers and jobs without a worker name" (the "(no worker)" row: jobs
 * added by hand, or claimed without a name). */
function rows(workers) {
  const named = workers.filter((w) => w !== NO_WORKER).length;
  const parts = [named ? plural(named, "worker") : "", workers.includes(NO_WORKER) ? "jobs without a worker name" : ""];
  const text = parts.filter(Boolean).join(" and ") || "No worker";
  return text[0].toUpperCase() + text.slice(1);
}

export function timeline(fig, data, open) {
  const now = serviceNow() - data.t0 * 1000;  // by the service's clock, as the jobs' times
  const endOf = (job) => (job.status === "RUNNING" ? Math.max(now, job.started) : job.finished ?? job.started);
  // First pass: the workers, the time range and how many bars.
  const seen = new Set();
  let lo = Infinity, hi = -Infinity, started = 0;
  for (const job of data.jobs) {
    if (job.started === null || job.started === undefined) continue;
    started++;
    seen.add(job.worker ?? NO_WORKER);
    const end = endOf(job);
    if (job.started < lo) lo = job.started;
    if (end > hi) hi = end;
  }
  const workers = [...seen].sort((a, b) => a.localeCompare(b, undefined, {numeric: true}));
  const rowOf = new Map(workers.map((w, i) => [w, i]));
  const rowHeight = Math.max(4, Math.min(22, Math.floor(300 / Math.max(1, workers.length))));
  const {ctx, frame} = context(fig, Math.max(140, workers.length * rowHeight + 50));
  frame.x0 = Math.min(140, 16 + 7 * Math.max(4, ...workers.map((w) => Math.min(18, w.length))));
  if (lo === Infinity) { lo = 0; hi = 1000; }
  const pad = Math.max(500, (hi - lo) * 0.01);
  const x = scale([lo - pad, hi + pad], [frame.x0, frame.x1]);
  const rowY = (i) => frame.y1 + i * ((frame.y0 - frame.y1) / Math.max(1, workers.length));
  const height = (frame.y0 - frame.y1) / Math.max(1, workers.length);
  const y = scale([0, 1], [frame.y0, frame.y1]);
  axes(ctx, frame, x, y, {xLabel: "time (start to end of each job)", xTicks: timeTicks(x.domain, data.t0), yTicks: []});
  ctx.fillStyle = inks().fg;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  if (height >= 9) workers.forEach((w, i) => ctx.fillText(w.slice(0, 18), frame.x0 - 6, rowY(i) + height / 2));
  // Second pass: the pixel columns each (status, row) covers; then one rectangle per run of
  // covered columns (no sort, no object per job: 100k jobs cost one walk).
  const statuses = [...ORDER, ...Object.keys(STATUS_COLOURS).filter((st) => !ORDER.includes(st))];
  // The rows and the time axis stay those of every job; the bars are the selection's, if any
  // (brushed in parallel coordinates), as in every other view.
  const selection = data.selection;
  const shown = selection ? data.jobs.filter((j) => selection.has(j.pk)) : data.jobs;
  let shownStarted = 0;
  const columns = Math.ceil(frame.x1) + 2;
  const cover = new Map();  // status → Uint8Array(rows × columns)
  const counts = {};
  const bars = started <= POINTS_IN_DOM ? [] : null;
  for (const job of shown) {
    if (job.started === null || job.started === undefined) continue;
    shownStarted++;
    const worker = job.worker ?? NO_WORKER, end = endOf(job);
    let grid = cover.get(job.status);
    if (!grid) cover.set(job.status, grid = new Uint8Array(workers.length * columns));
    counts[job.status] = (counts[job.status] || 0) + 1;
    const base = rowOf.get(worker) * columns;
    const c0 = Math.max(0, Math.floor(x(job.started))), c1 = Math.min(columns - 1, Math.max(c0, Math.ceil(x(end)) - 1));
    for (let c = c0; c <= c1; c++) grid[base + c] = 1;
    if (bars) bars.push({job, worker, start: job.started, end});
  }
  let rects = 0;
  // Statuses the page does not know (none today) are drawn first, in grey.
  for (const status of [...[...cover.keys()].filter((st) => !statuses.includes(st)), ...statuses]) {
    const grid = cover.get(status);
    if (!grid) continue;
    ctx.fillStyle = STATUS_COLOURS[status] || "#8c959f";
    for (let r = 0; r < workers.length; r++) {
      const top = rowY(r) + Math.max(1, height * 0.15), tall = Math.max(2, height * 0.7);
      for (let c = 0; c < columns; c++) {
        if (!grid[r * columns + c]) continue;
        let e = c;
        while (e + 1 < columns && grid[r * columns + e + 1]) e++;
        ctx.fillRect(c, top, e - c + 1, tall);
        rects++;
        c = e;
      }
    }
  }
  const hits = bars ? bars.map((b) => ({
    px: (x(b.start) + x(b.end)) / 2, py: rowY(rowOf.get(b.worker)) + height / 2, job: b.job.id,
    label: `${b.job.id} on ${b.worker}: ${b.job.status.toLowerCase()}, ${show(Math.round((b.end - b.start) / 100) / 10)} s`,
  })) : [];
  fig.hits = hits;
  fig.barAt = (worker, t) => [x(t), rowY(rowOf.get(worker)) + height / 2];
  const waiting = shown.length - shownStarted;
  fig.note.textContent = (selection ? `${plural(shown.length, "selected job")} (brushed in parallel coordinates). ` : "") +
    `${rows(workers)}; green done, blue running (up to now), red crashed, brown pruned.` +
    (waiting ? ` ${plural(waiting, "job")} not started.` : "");
  expose(fig, bars
    ? bars.map((b) => ({job: b.job.id, worker: b.worker, status: b.job.status, start: b.start, end: b.end})) : [],
  {workers, statuses: counts, rects: String(rects)}, shownStarted);
  interactive(fig, open);
}
