// Timeline of jobs per worker: time along x, one row per worker, a bar per job from its start to
// its end (a RUNNING job's up to now), coloured by status: idle workers show as gaps, crashes
// as red bars. Bars closer than a pixel are merged per row and status (100k jobs draw as a few
// thousand rectangles); CRASHED and RUNNING bars are drawn last, so they are never hidden.

import {plural, show} from "./format.js";
import {POINTS_IN_DOM, axes, context, expose, inks, interactive, scale, timeTicks} from "./plotkit.js";

/** The colour of a bar by the job's status (as the status badges). */
export const STATUS_COLOURS = {
  DONE: "rgb(26,127,55)", RUNNING: "rgb(9,105,218)", CRASHED: "rgb(207,34,46)",
  PRUNED: "rgb(154,103,0)", QUEUED: "rgb(140,149,159)",
};
const ORDER = ["QUEUED", "DONE", "PRUNED", "RUNNING", "CRASHED"];
const NO_WORKER = "(no worker)";

export function timeline(fig, data, open) {
  const now = Date.now() - data.t0 * 1000;
  const bars = [];
  for (const job of data.jobs) {
    if (job.started === null || job.started === undefined) continue;
    const end = job.status === "RUNNING" ? Math.max(now, job.started) : job.finished ?? job.started;
    bars.push({job, worker: job.worker ?? NO_WORKER, start: job.started, end});
  }
  const workers = [...new Set(bars.map((b) => b.worker))].sort((a, b) => a.localeCompare(b, undefined, {numeric: true}));
  const rowOf = new Map(workers.map((w, i) => [w, i]));
  const rowHeight = Math.max(4, Math.min(22, Math.floor(300 / Math.max(1, workers.length))));
  const {ctx, frame} = context(fig, Math.max(140, workers.length * rowHeight + 50));
  frame.x0 = Math.min(140, 16 + 7 * Math.max(4, ...workers.map((w) => Math.min(18, w.length))));
  let lo = Infinity, hi = -Infinity;
  for (const b of bars) { if (b.start < lo) lo = b.start; if (b.end > hi) hi = b.end; }
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
  // Per row and status, bars sorted by start and merged when they touch at pixel resolution.
  const groups = new Map();  // status → one list of bars per row
  for (const b of bars) {
    let rowsOf = groups.get(b.job.status);
    if (!rowsOf) groups.set(b.job.status, rowsOf = workers.map(() => []));
    rowsOf[rowOf.get(b.worker)].push(b);
  }
  let rects = 0;
  const counts = {};
  for (const status of [...ORDER, ...Object.keys(STATUS_COLOURS).filter((s) => !ORDER.includes(s))]) {
    ctx.fillStyle = STATUS_COLOURS[status] || "#8c959f";
    for (let r = 0; r < workers.length; r++) {
      const list = groups.has(status) ? groups.get(status)[r] : null;
      if (!list || !list.length) continue;
      counts[status] = (counts[status] || 0) + list.length;
      list.sort((a, b) => a.start - b.start);
      const top = rowY(r) + Math.max(1, height * 0.15), tall = Math.max(2, height * 0.7);
      let x0 = null, x1 = null;
      for (const b of list) {
        const a = x(b.start), e = Math.max(x(b.end), a + 1);
        if (x0 !== null && a <= x1 + 0.5) { if (e > x1) x1 = e; continue; }
        if (x0 !== null) { ctx.fillRect(x0, top, x1 - x0, tall); rects++; }
        x0 = a; x1 = e;
      }
      if (x0 !== null) { ctx.fillRect(x0, top, x1 - x0, tall); rects++; }
    }
  }
  const hits = bars.length <= POINTS_IN_DOM ? bars.map((b) => ({
    px: (x(b.start) + x(b.end)) / 2, py: rowY(rowOf.get(b.worker)) + height / 2, job: b.job.id,
    label: `${b.job.id} on ${b.worker}: ${b.job.status.toLowerCase()}, ${show(Math.round((b.end - b.start) / 100) / 10)} s`,
  })) : [];
  fig.hits = hits;
  fig.barAt = (worker, t) => [x(t), rowY(rowOf.get(worker)) + height / 2];
  const waiting = data.jobs.length - bars.length;
  fig.note.textContent = `${plural(workers.length, "worker")}; green done, blue running (up to now), red crashed, brown pruned.` +
    (waiting ? ` ${plural(waiting, "job")} not started.` : "");
  expose(fig, bars.length <= POINTS_IN_DOM
    ? bars.map((b) => ({job: b.job.id, worker: b.worker, status: b.job.status, start: b.start, end: b.end})) : [],
  {workers, statuses: counts, rects: String(rects)}, bars.length);
  interactive(fig, open);
}
