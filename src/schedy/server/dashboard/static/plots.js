// The experiment's plots: optimisation history, parallel coordinates, one scatter per
// hyperparameter, learning curves. Each draws on a canvas and exposes its points (plotkit.js).

import {objectiveOf, rankKey} from "./model.js";
import {asNumber, num, plural, show, short} from "./format.js";
import {POINTS_IN_DOM, axes, color, context, dots, expose, extent, fraction, inks, interactive, rgb, scale, ticks, timeTicks,
  valueScale} from "./plotkit.js";
import {axisFor, jitter} from "./axis.js";

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
  // DONE jobs whose objective is there but not a number: a text such as "n/a", or None (null); of
  // them, `nulls` are None. A job without the result at all is not counted.
  let other = 0, nulls = 0;
  for (const job of data.jobs) {
    if (job.status !== "DONE") continue;
    const value = objectiveOf(job, objective);
    if (value !== undefined) out.push({job, value});
    else if (job.res[objective.name] !== undefined) {
      other++;
      if (job.res[objective.name] === null) nulls++;
    }
  }
  out.sort((a, b) => finishedOrder(a.job, b.job));
  data.scoredCache = {key, rows: out, other, nulls};
  return out;
}

/** A note counting the finished jobs whose objective is not a number, None included (left out of the
 * plots of the objective), or "" (none, or a selection shown: brushing selects drawn jobs only). */
export function nonNumericText(data, objective) {
  if (!objective || data.selection) return "";
  scored(data, objective);
  const {other, nulls} = data.scoredCache;
  if (!other) return "";
  const none = !nulls ? "" : nulls === other ? " (None)" : ` (${nulls} of them None)`;
  return `${plural(other, "job")} whose ${objective.name} is not a number${none} left out. `;
}

/** Position in [0, 1] of each value between best (0) and worst (1), for colours. */
function shade(values, direction) {
  const [lo, hi] = extent(values);
  return (v) => (finite(v) ? (direction === "min" ? fraction(v, lo, hi) : fraction(v, hi, lo)) : 1);
}

function markNonFinite(ctx, px, py) {
  ctx.strokeStyle = "#cf222e";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(px - 3, py - 3); ctx.lineTo(px + 3, py + 3);
  ctx.moveTo(px + 3, py - 3); ctx.lineTo(px - 3, py + 3);
  ctx.stroke();
}

function nonFiniteText(count) {
  return count ? `${plural(count, "non-finite value")} (NaN, ±Infinity) drawn as ✕ on the top edge.` : "";
}

/** The scored rows the plots show: all, or those of the selection brushed in parallel
 * coordinates (`data.selection`, a Set of job pks, or null). */
export function shown(data, objective) {
  const rows = scored(data, objective);
  const selection = data.selection;
  return selection ? rows.filter((r) => selection.has(r.job.pk)) : rows;
}

/** A note saying the plot shows the selection only. */
export function selectionText(data, rows) {
  return data.selection ? `${plural(rows.length, "selected job")} (brushed in parallel coordinates). ` : "";
}

/** Objective per finished job, in finishing order (or at its finish time: `fig.options.x ===
 * "time"`), and the best-so-far line (finite values only); `fig.options.logY` for a log scale. */
export function history(fig, data, objective, open) {
  const rows = shown(data, objective);
  const byTime = fig.options.x === "time";
  const {ctx, frame} = context(fig);
  const points = [], best = [], changes = [], hits = [];  // changes: where the best-so-far moves
  let bestKey = Infinity, bestValue = null, nonFinite = 0;
  const keep = rows.length <= POINTS_IN_DOM;
  const xOf = byTime ? (i) => rows[i].job.finished ?? 0 : (i) => i + 1;
  rows.forEach(({job, value}, i) => {
    if (keep) points.push({job: job.id, x: xOf(i), y: wire(value)});
    if (finite(value) && rankKey(value, objective.direction) < bestKey) {
      bestKey = rankKey(value, objective.direction);
      bestValue = value;
      changes.push([xOf(i), value]);
    }
    if (bestValue !== null && keep) best.push([xOf(i), bestValue]);
  });
  const lastX = rows.length ? xOf(rows.length - 1) : 0;
  let x, xTicks;
  if (byTime) {
    const [lo, hi] = rows.length ? [xOf(0), xOf(rows.length - 1)] : [0, 1];
    const pad = Math.max(500, (hi - lo) * 0.02);
    x = scale([lo - pad, hi + pad], [frame.x0, frame.x1]);
    xTicks = timeTicks(x.domain, data.t0);
  } else x = scale([0.5, Math.max(1, rows.length) + 0.5], [frame.x0, frame.x1]);
  const y = valueScale(rows.map((r) => r.value), [frame.y0, frame.y1], !!fig.options.logY);
  axes(ctx, frame, x, y.lin, {xLabel: byTime ? "finish time" : "finished jobs, in order",
    yLabel: objective.name + (y.log ? " (log)" : ""), xTicks, yTicks: y.ticks});
  const size = rows.length > 20000 ? 3 : 5;
  const many = rows.length > 20000, bad = [], xy = [];
  rows.forEach(({job, value}, i) => {
    const px = x(xOf(i));
    if (!finite(value)) { bad.push(px); hits.push({px, py: frame.y1 + 4, job: job.id, label: `${job.id}: ${num(value)}`}); return; }
    const py = y(value);
    xy.push(px, py);
    if (!many) hits.push({px, py, job: job.id, label: `${job.id}: ${num(value)}`});
  });
  dots(ctx, frame, [{xy, rgb: [9, 105, 218], alpha: 0.55}], size);
  for (const px of bad) markNonFinite(ctx, px, frame.y1 + 4);
  nonFinite = bad.length;
  if (changes.length) {
    // A step at each new best only (not a point per job: 100k jobs, a few dozen steps).
    ctx.strokeStyle = "#cf222e";
    ctx.lineWidth = 2;
    ctx.beginPath();
    changes.forEach(([bx, by], i) => {
      const px = x(bx), py = y(by);
      if (i === 0) ctx.moveTo(px, py); else { ctx.lineTo(px, y(changes[i - 1][1])); ctx.lineTo(px, py); }
    });
    ctx.lineTo(x(lastX), y(changes[changes.length - 1][1]));
    ctx.stroke();
  }
  const logNote = fig.options.logY && !y.log ? "Log scale needs positive values: drawn linear. " : "";
  fig.note.textContent = selectionText(data, rows) + logNote + nonNumericText(data, objective) + nonFiniteText(nonFinite);
  fig.hits = hits;
  expose(fig, points, {best: changes.length ? changes[changes.length - 1][1] : "", objective: objective.name,
    logY: String(y.log), x: byTime ? "time" : "order"}, rows.length);
  fig.dataset.bestLine = keep ? JSON.stringify(best) : "";
  fig.project = (bx, by) => [x(bx), y(by)];
  interactive(fig, open);
}

/**
 * Which of `rows` (all finite) parallel coordinates draw: the best BEST_LINES by rank, then an
 * even sample of the rest by rank, ties in row order. Sorting the keys alone (a typed array,
 * natively) and finding each wanted rank among its ties costs a third of sorting 100k
 * [key, index] pairs with a comparator.
 */
export function keptByRank(rows, direction) {
  const n = rows.length;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = rankKey(rows[i].value, direction);
  const sorted = keys.slice().sort();
  const lower = (v) => { let a = 0, b = n; while (a < b) { const m = (a + b) >> 1; if (sorted[m] < v) a = m + 1; else b = m; } return a; };
  const wanted = new Map();  // key → the wanted offsets among the rows of that key, in row order
  const want = (p) => { const v = sorted[p]; let set = wanted.get(v); if (!set) wanted.set(v, set = new Set()); set.add(p - lower(v)); };
  for (let k = 0; k < BEST_LINES; k++) want(k);
  const rest = n - BEST_LINES, sample = MAX_LINES - BEST_LINES;
  for (let k = 0; k < sample; k++) want(BEST_LINES + Math.floor((k * rest) / sample));
  const seen = new Map(), keep = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const set = wanted.get(keys[i]);
    if (!set) continue;
    const c = seen.get(keys[i]) || 0;
    seen.set(keys[i], c + 1);
    if (set.has(c)) keep[i] = 1;
  }
  return keep;
}

/** The axes of parallel coordinates, in the order the user chose (fig.order), objective last. */
export function parallelAxes(fig, data, objective, hpKeys, rows) {
  const space = data.space ? data.space() : new Map();
  const names = [...hpKeys.keys()];
  const order = (fig.order || []).filter((k) => k === objective.name || hpKeys.has(k));
  for (const k of [...names, objective.name]) if (!order.includes(k)) order.push(k);
  fig.order = order;
  return order.map((k) => {
    if (k === objective.name && !hpKeys.has(k)) {
      const goal = axisFor(objective.name, {numeric: true}, rows.map((r) => r.value), {kind: "linear"});
      return {...goal, objective: true};
    }
    return axisFor(k, hpKeys.get(k), rows.map((r) => r.job.hp[k]), space.get(k));
  });
}

/** One line per finished job across every hyperparameter and the objective (axes in any order,
 * reordered by dragging their labels), coloured by the objective with a legend; the ranges
 * brushed on the axes (fig.brushes, brush.js) select jobs: those lines in colour, the rest grey. */
export function parallel(fig, data, objective, hpKeys, open) {
  const valued = scored(data, objective);
  const all = valued.filter((r) => finite(r.value));
  let rows = all;
  if (all.length > MAX_LINES) {
    const keep = keptByRank(all, objective.direction);
    rows = all.filter((_, i) => keep[i]);
  }
  const axesList = parallelAxes(fig, data, objective, hpKeys, rows);
  const {ctx, width, frame} = context(fig, 280);
  const LEGEND = 74;
  frame.x0 = 40; frame.x1 = width - 40 - LEGEND;
  const xs = axesList.map((_, i) => frame.x0 + (axesList.length > 1 ? (i * (frame.x1 - frame.x0)) / (axesList.length - 1) : 0));
  const py = (t) => frame.y0 - t * (frame.y0 - frame.y1);
  const tone = shade(all.map((r) => r.value), objective.direction);
  const valueOf = (axis, job, value) => (axis.objective ? value : job.hp[axis.name]);
  const selection = data.selection;
  ctx.lineWidth = 1;
  const alpha = rows.length > 2000 ? 0.12 : 0.5;
  // A job without a value on an axis (a conditional hyperparameter of a branch it did not take)
  // crosses that axis dashed, from its value before to its value after, so its line still
  // reaches the objective.
  let bridged = 0;
  const trace = (list) => {
    const bridges = [];
    for (const {job, value} of list) {
      let last = null, gap = false;
      axesList.forEach((axis, i) => {
        const t = axis.pos(valueOf(axis, job, value)) + jitter(job, axis);
        if (!finite(t)) { gap = last !== null; return; }
        const x = xs[i], y = py(t);
        if (last !== null && !gap) ctx.lineTo(x, y);
        else {
          if (last !== null) bridges.push(last[0], last[1], x, y);
          ctx.moveTo(x, y);
        }
        last = [x, y];
        gap = false;
      });
    }
    return bridges;
  };
  const stroke = (list) => {
    ctx.beginPath();
    const bridges = trace(list);
    ctx.stroke();
    if (!bridges.length) return;
    bridged += bridges.length / 4;
    ctx.save();
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    for (let k = 0; k < bridges.length; k += 4) {
      ctx.moveTo(bridges[k], bridges[k + 1]);
      ctx.lineTo(bridges[k + 2], bridges[k + 3]);
    }
    ctx.stroke();
    ctx.restore();
  };
  const chosen = selection ? rows.filter((r) => selection.has(r.job.pk)) : rows;
  if (selection) {
    // Lines outside the selection first, in light grey.
    ctx.strokeStyle = "rgba(140,149,159,0.18)";
    stroke(rows.filter((r) => !selection.has(r.job.pk)));
  }
  const buckets = Array.from({length: BUCKETS}, () => []);
  for (const row of chosen) buckets[Math.min(BUCKETS - 1, Math.floor(tone(row.value) * BUCKETS))].push(row);
  // Worst first, so the best lines end on top.
  for (let b = BUCKETS - 1; b >= 0; b--) {
    ctx.strokeStyle = color((b + 0.5) / BUCKETS, selection ? Math.max(alpha, 0.35) : alpha);
    stroke(buckets[b]);
  }
  const brushes = fig.brushes || new Map();
  const ink = inks();
  axesList.forEach((axis, i) => {
    const range = brushes.get(axis.name);
    if (range) {
      ctx.fillStyle = "rgba(9,105,218,0.18)";
      ctx.strokeStyle = "rgb(9,105,218)";
      ctx.fillRect(xs[i] - 7, py(range[1]), 14, py(range[0]) - py(range[1]));
      ctx.strokeRect(xs[i] - 7 + 0.5, py(range[1]) + 0.5, 13, py(range[0]) - py(range[1]) - 1);
    }
    ctx.strokeStyle = ink.muted;
    ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(xs[i], frame.y0); ctx.lineTo(xs[i], frame.y1); ctx.stroke();
    ctx.fillStyle = ink.fg;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    // A long name is cut with an ellipsis (the scatters' titles and the importance panel show it whole), and
    // the label kept inside the canvas: centred under the first axis it would start left of the edge.
    const name = axis.name.length > 18 ? axis.name.slice(0, 17) + "…" : axis.name;
    const title = "⇔ " + name + (axis.log ? " (log)" : "");
    const half = ctx.measureText(title).width / 2, right = ctx.canvas.width / (ctx.getTransform().a || 1);
    ctx.fillText(title, Math.min(Math.max(xs[i], half + 2), right - half - 2), frame.y0 + 8);
    // Tick labels beside the axis, on a light backing so lines do not hide them.
    ctx.textAlign = i === axesList.length - 1 ? "right" : "left";
    ctx.textBaseline = "middle";
    const dx = i === axesList.length - 1 ? -4 : 4;
    for (const {t, label} of axis.ticks) {
      const text = String(label).slice(0, 12), y = py(t);
      ctx.fillStyle = ink.bg;
      ctx.globalAlpha = 0.8;
      ctx.fillRect(xs[i] + (dx < 0 ? dx - ctx.measureText(text).width : dx) - 1, y - 6, ctx.measureText(text).width + 2, 12);
      ctx.globalAlpha = 1;
      ctx.fillStyle = ink.muted;
      ctx.fillText(text, xs[i] + dx, y);
      ctx.beginPath(); ctx.moveTo(xs[i] - 3, y); ctx.lineTo(xs[i] + 3, y); ctx.stroke();
    }
  });
  // The colour legend: best at the top, worst at the bottom.
  // The legend's ends are the real best and worst values (extent() pads the range).
  let lo = Infinity, hi = -Infinity;
  for (const r of all) { if (r.value < lo) lo = r.value; if (r.value > hi) hi = r.value; }
  if (lo === Infinity) { lo = 0; hi = 0; }
  const bestEnd = objective.direction === "min" ? lo : hi, worstEnd = objective.direction === "min" ? hi : lo;
  const lx = width - LEGEND + 8, lw = 12;
  for (let k = 0; k < 40; k++) {
    ctx.fillStyle = color(k / 39);
    ctx.fillRect(lx, frame.y1 + ((frame.y0 - frame.y1) * k) / 40, lw, (frame.y0 - frame.y1) / 40 + 1);
  }
  ctx.fillStyle = ink.muted;
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  ctx.fillText(short(bestEnd), lx + lw + 4, frame.y1 + 4);
  ctx.fillText(short(worstEnd), lx + lw + 4, frame.y0 - 4);
  ctx.textBaseline = "top";
  ctx.fillText(objective.direction === "min" ? "low: best" : "high: best", lx - 4, frame.y0 + 8);
  const notes = [];
  if (rows.length < all.length) notes.push(`${rows.length} of ${all.length} jobs drawn: the best ${BEST_LINES} and an even sample of the rest by rank.`);
  if (bridged) notes.push("Dashed: across a hyperparameter a job does not have (a branch it did not take).");
  // No line for them: a non-finite value has no place on the objective's axis (the history draws them).
  const nonFinite = valued.length - all.length;
  if (nonFinite) notes.push(`${plural(nonFinite, "job")} with a non-finite ${objective.name} (NaN, ±Infinity) left out.`);
  const other = nonNumericText(data, objective);
  if (other) notes.push(other.trim());
  if (selection) notes.push(`${plural(selection.size, "job")} selected (a click on an axis clears its range).`);
  else notes.push("Drag along an axis to select a range; drag a label sideways to move its axis.");
  fig.note.textContent = notes.join(" ");
  fig.hits = [];
  fig.layout = {xs, frame, axes: axesList, py, ty: (y) => (frame.y0 - y) / (frame.y0 - frame.y1)};
  // Where job `id`'s value v sits on axis i, in canvas pixels (tests read what is drawn there).
  fig.project = (i, v, id) => {
    const row = rows.find((r) => r.job.id === id);
    return [xs[i], py(axesList[i].pos(v) + (row ? jitter(row.job, axesList[i]) : 0))];
  };
  const drawn = rows.length <= POINTS_IN_DOM
    ? rows.map(({job, value}) => ({job: job.id, values: axesList.map((a) => (a.objective ? value : job.hp[a.name] ?? null))})) : [];
  expose(fig, drawn, {axes: axesList.map((a) => a.name),
    scales: axesList.map((a) => (a.numeric ? (a.log ? "log" : "linear") : "category")),
    legend: {best: bestEnd, worst: worstEnd, direction: objective.direction},
    brushes: Object.fromEntries(brushes), selected: selection ? String(selection.size) : ""}, rows.length);
  interactive(fig, open);
}

/** What the scatters of one array of rows share: the objective's values and each one's colour
 * bucket, computed once for all of them rather than once per scatter. */
const scatterShared = new WeakMap();

function sharedOf(rows, direction) {
  const found = scatterShared.get(rows);
  if (found && found.direction === direction) return found;
  const n = rows.length;
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = rows[i].value;
  const tone = shade(values, direction);
  const bucket = new Uint8Array(n);
  for (let i = 0; i < n; i++) bucket[i] = Math.min(BUCKETS - 1, Math.floor(tone(values[i]) * BUCKETS));
  const made = {direction, values, bucket};
  scatterShared.set(rows, made);
  return made;
}

/** The objective against one hyperparameter. */
export function scatter(fig, data, objective, name, info, open) {
  const all = shown(data, objective);
  // Only the jobs that have the hyperparameter (a conditional one is missing from some).
  let rows = all;
  for (const r of all) if (r.job.hp[name] === undefined) { rows = all.filter((q) => q.job.hp[name] !== undefined); break; }
  const {values, bucket} = sharedOf(rows, objective.direction);
  const n = rows.length;
  const hp = new Array(n);
  for (let i = 0; i < n; i++) hp[i] = rows[i].job.hp[name];
  const {ctx, frame} = context(fig, 220);
  const declared = data.space ? data.space().get(name) : undefined;
  const axis = axisFor(name, info, hp, declared);
  const x = scale([0, 1], [frame.x0, frame.x1]);
  const y = valueScale(values, [frame.y0, frame.y1], !!fig.options.logY);
  const xTicks = axis.ticks.map(({t, label}) => ({at: t, label}));
  axes(ctx, frame, x, y.lin, {xLabel: axis.log ? `${name} (log scale)` : name,
    yLabel: objective.name + (y.log ? " (log)" : ""), xTicks, yTicks: y.ticks});
  const hits = [], points = [];
  const keep = n <= POINTS_IN_DOM, many = n > 20000;
  const buckets = Array.from({length: BUCKETS}, () => []);
  let nonFinite = 0;
  const size = many ? 2 : 3;
  for (let i = 0; i < n; i++) {
    const v = hp[i], value = values[i], job = rows[i].job;
    // Categories spread a little sideways, the same way on every refresh.
    const px = x(axis.pos(v) + jitter(job, axis));
    if (keep) points.push({job: job.id, x: v, y: wire(value)});
    if (!finite(value)) { nonFinite++; markNonFinite(ctx, px, frame.y1 + 4); continue; }
    const py = y(value);
    buckets[bucket[i]].push(px, py);
    if (!many) hits.push({px, py, job: job.id, label: `${job.id}: ${name}=${show(v)}, ${objective.name}=${num(value)}`});
  }
  dots(ctx, frame, buckets.map((xy, b) => ({xy, rgb: rgb((b + 0.5) / BUCKETS), alpha: 0.7})), size);
  const logNote = fig.options.logY && !y.log ? "Log scale needs positive values: drawn linear. " : "";
  fig.note.textContent = selectionText(data, rows) + logNote + nonFiniteText(nonFinite);
  fig.hits = hits;
  expose(fig, points, {hyperparameter: name, scale: axis.numeric ? (axis.log ? "log" : "linear") : "category",
    ticks: axis.ticks.map((t) => t.label), logY: String(y.log)}, rows.length);
  interactive(fig, open);
}

/** Colour of a curve still running (or queued): not on the objective's scale, which it has
 * no value on yet, and dashed. */
export const RUNNING_STROKE = "rgb(9,105,218)";
/** Where a PRUNED job stopped: a square in the pruned colour at its last value. */
export const PRUNED_MARK = "rgb(154,103,0)";

/** Series of a result that is a list of numbers: step i + 1 for the i-th value. */
export function listSeries(data, key) {
  const out = [];
  for (const job of data.jobs) {
    const list = job.res[key];
    if (!Array.isArray(list) || !list.length) continue;
    out.push({job, steps: list.map((_, i) => i + 1), values: list.map((v) => asNumber(v) ?? NaN)});
  }
  return out;
}

/**
 * One line per job (e.g. loss per epoch). `series`: [{job, steps, values}] (values NaN where not
 * finite), from a list-valued result (listSeries) or from the jobs' reports (reports.js).
 * Finite stretches are drawn in the job's colour; a non-finite value is a ✕ on the top edge and
 * breaks the line; a value alone between breaks is a dot. RUNNING curves are dashed in their own
 * colour; a PRUNED job's curve ends in a square. Hovering names the nearest curve, however many.
 */
export function curves(fig, data, objective, key, open, {series, xLabel} = {}) {
  let rows = series || listSeries(data, key);
  const total = rows.length;
  const live = (s) => s.job.status === "RUNNING" || s.job.status === "QUEUED";
  if (rows.length > MAX_CURVES) {
    // Running jobs first (they are what one watches), then the best by the objective.
    const keyOf = (s) => (live(s) ? -Infinity : objective ? rankKey(objectiveOf(s.job, objective), objective.direction) : -s.job.pk);
    const keys = new Map(rows.map((s) => [s, keyOf(s)]));
    const cmp = (a, b) => { const ka = keys.get(a), kb = keys.get(b); return ka < kb ? -1 : ka > kb ? 1 : a.job.pk - b.job.pk; };
    rows = rows.slice().sort(cmp).slice(0, MAX_CURVES);
  }
  const {ctx, frame, width} = context(fig);
  let longest = 1, first = Infinity;
  for (const s of rows) for (const st of s.steps) { if (st > longest) longest = st; if (st < first) first = st; }
  if (first === Infinity) first = 1;
  const x = scale([Math.min(first, longest - 1), Math.max(first + 1, longest)], [frame.x0, frame.x1]);
  const y = scale(extent(rows.flatMap((s) => s.values)), [frame.y0, frame.y1]);
  // Steps are whole numbers: no tick at 0.5 or 1.5 when a curve has one or two steps.
  const xTicks = ticks(x.domain).filter(Number.isInteger);
  axes(ctx, frame, x, y, {xLabel: xLabel || "step (position in the list)", yLabel: key, xTicks});
  const scores = rows.filter((s) => !live(s)).map((s) => (objective ? objectiveOf(s.job, objective) : undefined));
  const tone = objective ? shade(scores, objective.direction) : () => 0.4;
  const alpha = rows.length > 100 ? 0.45 : 0.85;
  let nonFinite = 0, segments = 0, pruned = 0, running = 0;
  const drawn = [];
  const bad = [];
  const dot = (px, py) => { ctx.moveTo(px + 1.6, py); ctx.arc(px, py, 1.6, 0, 2 * Math.PI); };
  // Worst first, so the best end on top; running ones last.
  const order = rows.map((s) => ({s, t: live(s) ? -1 : tone(objective ? objectiveOf(s.job, objective) : 0)}))
    .sort((a, b) => (a.t === -1) - (b.t === -1) || b.t - a.t);
  for (const {s, t} of order) {
    const isLive = t === -1;
    const stroke = isLive ? RUNNING_STROKE : color(t, alpha);
    if (isLive) running++;
    ctx.strokeStyle = stroke;
    ctx.fillStyle = stroke;
    ctx.lineWidth = isLive ? 1.6 : 1.2;
    ctx.setLineDash(isLive ? [5, 3] : []);
    const pts = new Float32Array(s.values.length * 2);
    ctx.beginPath();
    const n = s.values.length;
    let last = -1;
    for (let i = 0; i < n; i++) {
      const v = s.values[i], px = x(s.steps[i]);
      if (!finite(v)) { nonFinite++; bad.push(px); pts[2 * i] = px; pts[2 * i + 1] = NaN; continue; }
      const py = y(v);
      pts[2 * i] = px; pts[2 * i + 1] = py;
      const prev = i > 0 && finite(s.values[i - 1]), next = i + 1 < n && finite(s.values[i + 1]);
      if (prev) { ctx.lineTo(px, py); segments++; } else if (next) ctx.moveTo(px, py);
      last = i;
    }
    ctx.stroke();
    // Values alone between non-finite ones have no segment: a dot shows them.
    ctx.setLineDash([]);
    ctx.beginPath();
    let lone = false;
    for (let i = 0; i < n; i++) {
      if (!finite(s.values[i]) || (i > 0 && finite(s.values[i - 1])) || (i + 1 < n && finite(s.values[i + 1]))) continue;
      dot(pts[2 * i], pts[2 * i + 1]);
      lone = true;
    }
    if (lone) ctx.fill();
    if (s.job.status === "PRUNED" && last >= 0) {
      pruned++;
      ctx.fillStyle = PRUNED_MARK;
      ctx.fillRect(pts[2 * last] - 3, pts[2 * last + 1] - 3, 6, 6);
    }
    drawn.push({s, pts, stroke});
  }
  ctx.setLineDash([]);
  // The ✕ marks last: drawing them never restarts a curve's path or changes its colour.
  for (const px of bad) markNonFinite(ctx, px, frame.y1 + 4);
  const notes = [];
  if (total > rows.length) notes.push(`The ${rows.length} curves shown of ${total}: running jobs, then the best.`);
  if (running) notes.push(`Dashed blue: ${plural(running, "running job")}.`);
  if (pruned) notes.push(`■ where ${plural(pruned, "pruned job")} stopped.`);
  if (nonFinite) notes.push(nonFiniteText(nonFinite));
  fig.note.textContent = notes.join(" ");
  fig.hits = null;
  // Hover and click: the curve nearest the pointer (distance to its segments), however many there are.
  fig.nearest = (mx, my) => {
    let best = null, bestD = 64;
    for (const d of drawn) {
      const p = d.pts;
      for (let i = 0; i + 1 < p.length; i += 2) {
        const ax = p[i], ay = p[i + 1];
        if (!finite(ay)) continue;
        let dd = (ax - mx) ** 2 + (ay - my) ** 2;
        const bx = p[i + 2], by = p[i + 3];
        if (i + 3 < p.length && finite(by)) {
          const vx = bx - ax, vy = by - ay, len = vx * vx + vy * vy;
          const u = len ? Math.max(0, Math.min(1, ((mx - ax) * vx + (my - ay) * vy) / len)) : 0;
          dd = (ax + u * vx - mx) ** 2 + (ay + u * vy - my) ** 2;
        }
        if (dd < bestD) { bestD = dd; best = {d, i: i / 2}; }
      }
    }
    if (!best) return null;
    const {s} = best.d;
    const v = s.values[best.i];
    return {job: s.job.id, label: `${s.job.id} (${s.job.status.toLowerCase()}): ${key} at step ${s.steps[best.i]} = ${short(v)}`,
      highlight: best.d};
  };
  fig.highlight = (hit, hctx) => {
    const p = hit.highlight.pts;
    hctx.strokeStyle = inks().fg;
    hctx.lineWidth = 3;
    hctx.beginPath();
    let pen = false;
    for (let i = 0; i < p.length; i += 2) {
      if (!finite(p[i + 1])) { pen = false; continue; }
      if (pen) hctx.lineTo(p[i], p[i + 1]); else hctx.moveTo(p[i], p[i + 1]);
      pen = true;
    }
    hctx.stroke();
  };
  fig.project = (step, value) => [x(step), y(value)];
  const colours = new Map(drawn.map((d) => [d.s, d.stroke]));
  expose(fig, rows.map((s) => ({job: s.job.id, status: s.job.status, steps: s.steps, values: s.values.map(wire), color: colours.get(s)})),
    {result: key, segments: String(segments), pruned: String(pruned), running: String(running), width: String(width)});
  interactive(fig, open);
}
