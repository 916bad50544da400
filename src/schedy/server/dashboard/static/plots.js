// The experiment's plots: optimisation history, parallel coordinates, one scatter per
// hyperparameter, learning curves. Each draws on a canvas and exposes its points (plotkit.js).

import {objectiveOf, rankKey} from "./model.js";
import {asNumber, num, show} from "./format.js";
import {POINTS_IN_DOM, axes, color, context, dots, expose, extent, interactive, rgb, scale} from "./plotkit.js";

/** At most this many lines are drawn in parallel coordinates (the best BEST_LINES of them,
 * then an even sample of the rest: past a few thousand lines more only blur the picture,
 * and each costs raster time), and this many learning curves. */
export const MAX_LINES = 4000;
export const BEST_LINES = 1000;
export const MAX_CURVES = 500;
/** Colours are drawn in this many steps, one canvas path each (fast at 100k points). */
const BUCKETS = 12;

const finite = Number.isFinite;
/** How a value goes into data-points: numbers as numbers, non-finite ones as "NaN"/"Infinity". */
const wire = (v) => (finite(v) ? v : num(v));

function finishedOrder(a, b) {
  return (a.finished ?? Infinity) - (b.finished ?? Infinity) || a.pk - b.pk;
}

/** DONE jobs with an objective value (maybe non-finite), in the order they finished.
 * Computed once per version of the data and objective: every plot uses it. */
export function scored(data, objective) {
  if (!objective) return [];
  const key = `${data.version}|${objective.name}|${objective.direction}`;
  if (data.scoredCache && data.scoredCache.key === key) return data.scoredCache.rows;
  const out = [];
  for (const job of data.jobs) {
    if (job.status !== "DONE") continue;
    const value = objectiveOf(job, objective);
    if (value !== undefined) out.push({job, value});
  }
  out.sort((a, b) => finishedOrder(a.job, b.job));
  data.scoredCache = {key, rows: out};
  return out;
}

/** Position in [0, 1] of each value between best (0) and worst (1), for colours. */
function shade(values, direction) {
  const [lo, hi] = extent(values);
  return (v) => (finite(v) ? (direction === "min" ? (v - lo) / (hi - lo) : (hi - v) / (hi - lo)) : 1);
}

function markNonFinite(ctx, px, py) {
  ctx.strokeStyle = "#cf222e";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(px - 3, py - 3); ctx.lineTo(px + 3, py + 3);
  ctx.moveTo(px + 3, py - 3); ctx.lineTo(px - 3, py + 3);
  ctx.stroke();
}

function nonFiniteNote(fig, count) {
  fig.note.textContent = count ? `${count} non-finite value${count > 1 ? "s" : ""} (NaN, ±Infinity) drawn as ✕ on the top edge.` : "";
}

/** Objective per finished job, in finishing order, and the best-so-far line. */
export function history(fig, data, objective, open) {
  const rows = scored(data, objective);
  const {ctx, frame} = context(fig);
  const points = [], best = [], hits = [];
  let bestKey = Infinity, bestValue = null, nonFinite = 0;
  const keep = rows.length <= POINTS_IN_DOM;
  rows.forEach(({job, value}, i) => {
    if (keep) points.push({job: job.id, x: i + 1, y: wire(value)});
    if (finite(value) && rankKey(value, objective.direction) < bestKey) { bestKey = rankKey(value, objective.direction); bestValue = value; }
    if (bestValue !== null) best.push([i + 1, bestValue]);
  });
  const x = scale([0.5, Math.max(1, rows.length) + 0.5], [frame.x0, frame.x1]);
  const y = scale(extent(rows.map((r) => r.value)), [frame.y0, frame.y1]);
  axes(ctx, frame, x, y, {xLabel: "finished jobs, in order", yLabel: objective.name});
  const size = rows.length > 20000 ? 3 : 5;
  const many = rows.length > 20000, bad = [], xy = [];
  rows.forEach(({job, value}, i) => {
    const px = x(i + 1);
    if (!finite(value)) { bad.push(px); hits.push({px, py: frame.y1 + 4, job: job.id, label: `${job.id}: ${num(value)}`}); return; }
    const py = y(value);
    xy.push(px, py);
    if (!many) hits.push({px, py, job: job.id, label: `${job.id}: ${num(value)}`});
  });
  dots(ctx, frame, [{xy, rgb: [9, 105, 218], alpha: 0.55}], size);
  for (const px of bad) markNonFinite(ctx, px, frame.y1 + 4);
  nonFinite = bad.length;
  if (best.length) {
    ctx.strokeStyle = "#cf222e";
    ctx.lineWidth = 2;
    ctx.beginPath();
    best.forEach(([bx, by], i) => {
      const px = x(bx), py = y(by);
      if (i === 0) ctx.moveTo(px, py); else { ctx.lineTo(px, y(best[i - 1][1])); ctx.lineTo(px, py); }
    });
    ctx.stroke();
  }
  nonFiniteNote(fig, nonFinite);
  fig.hits = hits;
  expose(fig, points, {best: best.length ? best[best.length - 1][1] : "", objective: objective.name}, rows.length);
  fig.dataset.bestLine = best.length <= 5000 ? JSON.stringify(best) : "";
  interactive(fig, open);
}

/** A position in [0, 1] for every value of one hyperparameter: numbers on a linear axis (a
 * logarithmic one when they are positive and span over two decades), others as categories. */
function axisFor(name, info, values) {
  if (info.numeric) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (finite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (lo === Infinity) { lo = 0; hi = 1; }
    const log = lo > 0 && hi / lo > 100;
    const f = log ? Math.log10 : (v) => v;
    const a = f(lo), span = f(hi) - a || 1;
    const pos = (v) => (typeof v === "number" ? 0.03 + 0.94 * (f(v) - a) / span : NaN);
    const at = (t) => (log ? Math.pow(10, a + ((t - 0.03) / 0.94) * span) : a + ((t - 0.03) / 0.94) * span);
    return {name, numeric: true, log, pos, at, lo, hi};
  }
  const cats = [...new Set(values.map((v) => JSON.stringify(v ?? null)))].sort();
  const index = new Map(cats.map((c, i) => [c, i]));
  return {name, numeric: false, cats, pos: (v) => (index.get(JSON.stringify(v ?? null)) + 0.5) / cats.length};
}

/** One line per finished job across every hyperparameter and the objective. */
export function parallel(fig, data, objective, hpKeys, open) {
  const all = scored(data, objective).filter((r) => finite(r.value));
  let rows = all;
  if (all.length > MAX_LINES) {
    const ranked = all.map((r, i) => [rankKey(r.value, objective.direction), i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const keep = new Uint8Array(all.length);
    for (let k = 0; k < BEST_LINES; k++) keep[ranked[k][1]] = 1;
    const rest = ranked.length - BEST_LINES, sample = MAX_LINES - BEST_LINES;
    for (let k = 0; k < sample; k++) keep[ranked[BEST_LINES + Math.floor((k * rest) / sample)][1]] = 1;
    rows = all.filter((_, i) => keep[i]);
  }
  const names = [...hpKeys.keys()];
  const axesList = names.map((k) => axisFor(k, hpKeys.get(k), rows.map((r) => r.job.hp[k])));
  const goal = axisFor(objective.name, {numeric: true}, rows.map((r) => r.value));
  axesList.push({...goal, objective: true});
  const {ctx, width, frame} = context(fig, 280);
  frame.x0 = 40; frame.x1 = width - 40;
  const xs = axesList.map((_, i) => frame.x0 + (axesList.length > 1 ? (i * (frame.x1 - frame.x0)) / (axesList.length - 1) : 0));
  const py = (t) => frame.y0 - t * (frame.y0 - frame.y1);
  const tone = shade(rows.map((r) => r.value), objective.direction);
  ctx.lineWidth = 1;
  const alpha = rows.length > 2000 ? 0.12 : 0.5;
  const buckets = Array.from({length: BUCKETS}, () => []);
  for (const row of rows) buckets[Math.min(BUCKETS - 1, Math.floor(tone(row.value) * BUCKETS))].push(row);
  // Worst first, so the best lines end on top.
  for (let b = BUCKETS - 1; b >= 0; b--) {
    ctx.strokeStyle = color((b + 0.5) / BUCKETS, alpha);
    ctx.beginPath();
    for (const {job, value} of buckets[b]) {
      let pen = false;
      axesList.forEach((axis, i) => {
        const t = axis.pos(axis.objective ? value : job.hp[axis.name]);
        if (!finite(t)) { pen = false; return; }
        if (pen) ctx.lineTo(xs[i], py(t)); else ctx.moveTo(xs[i], py(t));
        pen = true;
      });
    }
    ctx.stroke();
  }
  ctx.fillStyle = "#24292f";
  ctx.textAlign = "center";
  axesList.forEach((axis, i) => {
    ctx.strokeStyle = "#57606a";
    ctx.beginPath(); ctx.moveTo(xs[i], frame.y0); ctx.lineTo(xs[i], frame.y1); ctx.stroke();
    ctx.textBaseline = "top";
    ctx.fillText(axis.name.slice(0, 18) + (axis.log ? " (log)" : ""), xs[i], frame.y0 + 8);
    ctx.textBaseline = "bottom";
    const top = axis.numeric ? num(axis.hi) : axis.cats[axis.cats.length - 1];
    const bottom = axis.numeric ? num(axis.lo) : axis.cats[0];
    ctx.fillText(String(top).slice(0, 14), xs[i], frame.y1 - 1);
    ctx.textBaseline = "top";
    ctx.fillText(String(bottom).slice(0, 14), xs[i], frame.y0 + 22);
  });
  fig.note.textContent = rows.length < all.length
    ? `${rows.length} of ${all.length} jobs drawn: the best ${BEST_LINES} and an even sample of the rest by rank.` : "";
  fig.hits = [];
  const drawn = rows.length <= POINTS_IN_DOM
    ? rows.map(({job, value}) => ({job: job.id, values: [...names.map((k) => job.hp[k] ?? null), value]})) : [];
  expose(fig, drawn, {axes: axesList.map((a) => a.name)}, rows.length);
  interactive(fig, open);
}

/** The objective against one hyperparameter. */
export function scatter(fig, data, objective, name, info, open) {
  const rows = scored(data, objective).filter((r) => r.job.hp[name] !== undefined);
  const {ctx, frame} = context(fig, 220);
  const axis = axisFor(name, info, rows.map((r) => r.job.hp[name]));
  const x = scale([0, 1], [frame.x0, frame.x1]);
  const y = scale(extent(rows.map((r) => r.value)), [frame.y0, frame.y1]);
  const xTicks = axis.numeric
    ? [0.03, 0.265, 0.5, 0.735, 0.97].map((t) => ({at: t, label: num(axis.at(t))}))
    : axis.cats.slice(0, 12).map((c, i) => ({at: (i + 0.5) / axis.cats.length, label: c}));
  axes(ctx, frame, x, y, {xLabel: axis.log ? `${name} (log scale)` : name, yLabel: objective.name, xTicks});
  const tone = shade(rows.map((r) => r.value), objective.direction);
  const hits = [], points = [];
  const keep = rows.length <= POINTS_IN_DOM, many = rows.length > 20000;
  const buckets = Array.from({length: BUCKETS}, () => []);
  let nonFinite = 0;
  const size = many ? 2 : 3;
  for (const {job, value} of rows) {
    const v = job.hp[name];
    // Categories spread a little sideways, the same way on every refresh.
    const jitter = axis.numeric ? 0 : (((job.pk * 2654435761) % 1000) / 1000 - 0.5) * 0.5 / axis.cats.length;
    const px = x(axis.pos(v) + jitter);
    if (keep) points.push({job: job.id, x: v, y: wire(value)});
    if (!finite(value)) { nonFinite++; markNonFinite(ctx, px, frame.y1 + 4); continue; }
    const py = y(value);
    buckets[Math.min(BUCKETS - 1, Math.floor(tone(value) * BUCKETS))].push(px, py);
    if (!many) hits.push({px, py, job: job.id, label: `${job.id}: ${name}=${show(v)}, ${objective.name}=${num(value)}`});
  }
  dots(ctx, frame, buckets.map((xy, b) => ({xy, rgb: rgb((b + 0.5) / BUCKETS), alpha: 0.7})), size);
  nonFiniteNote(fig, nonFinite);
  fig.hits = hits;
  expose(fig, points, {hyperparameter: name}, rows.length);
  interactive(fig, open);
}

/** One line per job for a result that is a list of numbers (e.g. loss per epoch). */
export function curves(fig, data, objective, key, open) {
  let rows = data.jobs.filter((j) => Array.isArray(j.res[key]) && j.res[key].length);
  const total = rows.length;
  if (rows.length > MAX_CURVES) {
    const keyOf = (j) => (objective ? rankKey(objectiveOf(j, objective), objective.direction) : -j.pk);
    rows = rows.sort((a, b) => keyOf(a) - keyOf(b)).slice(0, MAX_CURVES);
  }
  const series = rows.map((j) => ({job: j, values: j.res[key].map((v) => asNumber(v) ?? NaN)}));
  const longest = Math.max(1, ...series.map((s) => s.values.length));
  const {ctx, frame} = context(fig);
  const x = scale([1, Math.max(2, longest)], [frame.x0, frame.x1]);
  const y = scale(extent(series.flatMap((s) => s.values)), [frame.y0, frame.y1]);
  axes(ctx, frame, x, y, {xLabel: "step (position in the list)", yLabel: key});
  const tone = objective ? shade(rows.map((j) => objectiveOf(j, objective)), objective.direction) : () => 0.4;
  const hits = [];
  let nonFinite = 0;
  for (const {job, values} of series) {
    ctx.strokeStyle = color(tone(objective ? objectiveOf(job, objective) : 0), series.length > 100 ? 0.35 : 0.8);
    ctx.lineWidth = 1.2;
    ctx.beginPath();
    let pen = false;
    values.forEach((v, i) => {
      if (!finite(v)) { nonFinite++; pen = false; markNonFinite(ctx, x(i + 1), frame.y1 + 4); return; }
      const px = x(i + 1), py = y(v);
      if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      pen = true;
      if (series.length <= 200) hits.push({px, py, job: job.id, label: `${job.id}: ${key}[${i}] = ${num(v)}`});
    });
    ctx.stroke();
  }
  fig.note.textContent = (total > rows.length ? `The ${rows.length} best of ${total} jobs drawn. ` : "")
    + (nonFinite ? `${nonFinite} non-finite values drawn as ✕ on the top edge.` : "");
  fig.hits = hits;
  expose(fig, series.map(({job, values}) => ({job: job.id, values: values.map(wire)})), {result: key});
  interactive(fig, open);
}
