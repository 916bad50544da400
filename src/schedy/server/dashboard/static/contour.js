// Contour of two hyperparameters: the objective averaged over a grid of cells (numbers: 20 bins
// along their declared scale; categories: one bin each), empty cells filled from their neighbours
// along numeric axes (a few passes of averaging, so gaps between samples are interpolated, not
// invented far away; never across categories, which have no order),
// coloured by the objective's scale (dark: best), with the jobs drawn over it.

import {h} from "./dom.js";
import {show, short} from "./format.js";
import {POINTS_IN_DOM, axes, color, context, dots, expose, extent, fraction, interactive, scale} from "./plotkit.js";
import {axisFor, jitter} from "./axis.js";
import {selectionText, shown} from "./plots.js";

const finite = Number.isFinite;
const BINS = 20;
/** Passes of filling empty cells from their filled neighbours. */
const FILL_PASSES = 3;
/** At most this many jobs are drawn as dots over the grid. */
export const MAX_DOTS = 10000;

/** The two selects of the contour's caption (x and y hyperparameters); `fig.options.x`, `.y`. */
export function contourControls(fig, names) {
  const pick = (key, text, fallback) => {
    if (!names.includes(fig.options[key])) fig.options[key] = fallback;
    const select = h("select", {name: `contour-${key}`, "aria-label": text,
      onchange: () => { fig.options[key] = select.value; if (fig.redraw) fig.redraw(); }},
    names.map((k) => h("option", {value: k, selected: fig.options[key] === k}, k)));
    return h("label", {class: "plot-option"}, `${key} `, select);
  };
  return [pick("x", "Contour x", names[0]), " ", pick("y", "Contour y", names[1] ?? names[0])];
}

/** Cell index along an axis for a value: numbers by their position on the axis, categories by
 * their index (positions in [0, 1] from axis.js, 3 % padding at the ends). */
function binOf(axis, v, bins) {
  const t = axis.pos(v);
  if (!finite(t)) return -1;
  if (!axis.numeric) return Math.min(bins - 1, Math.floor(t * bins));
  return Math.min(bins - 1, Math.max(0, Math.floor(((t - 0.03) / 0.94) * bins)));
}

export function contour(fig, data, objective, hpKeys, open) {
  const names = [...hpKeys.keys()];
  const nx = fig.options.x, ny = fig.options.y;
  const rows = shown(data, objective).filter((r) => r.job.hp[nx] !== undefined && r.job.hp[ny] !== undefined);
  const space = data.space ? data.space() : new Map();
  const ax = axisFor(nx, hpKeys.get(nx) || {numeric: true}, rows.map((r) => r.job.hp[nx]), space.get(nx));
  const ay = axisFor(ny, hpKeys.get(ny) || {numeric: true}, rows.map((r) => r.job.hp[ny]), space.get(ny));
  const bx = ax.numeric ? BINS : ax.cats.length, by = ay.numeric ? BINS : ay.cats.length;
  const sum = new Float64Array(bx * by), count = new Uint32Array(bx * by);
  const values = [];
  for (const {job, value} of rows) {
    if (!finite(value)) continue;
    const i = binOf(ax, job.hp[nx], bx), j = binOf(ay, job.hp[ny], by);
    if (i < 0 || j < 0) continue;
    sum[j * bx + i] += value;
    count[j * bx + i]++;
    values.push(value);
  }
  let grid = Array.from(sum, (s, k) => (count[k] ? s / count[k] : null));
  const measured = grid.filter((v) => v !== null).length;
  // Only along numeric axes: categories have no order, and a cell between two of them (adam's row of
  // a momentum that only sgd has) would be invented, not interpolated.
  const steps = [...(ax.numeric ? [[1, 0], [-1, 0]] : []), ...(ay.numeric ? [[0, 1], [0, -1]] : [])];
  for (let pass = 0; pass < (steps.length ? FILL_PASSES : 0); pass++) {
    const next = grid.slice();
    for (let j = 0; j < by; j++) {
      for (let i = 0; i < bx; i++) {
        if (grid[j * bx + i] !== null) continue;
        let s = 0, c = 0;
        for (const [di, dj] of steps) {
          const u = i + di, w = j + dj;
          if (u < 0 || w < 0 || u >= bx || w >= by) continue;
          const v = grid[w * bx + u];
          if (v !== null) { s += v; c++; }
        }
        if (c) next[j * bx + i] = s / c;
      }
    }
    grid = next;
  }
  const {ctx, frame} = context(fig, 260);
  // Cells span the axis's frame; numbers between the 3 % pads, categories over their whole width.
  const cellT = (axis, k, bins) => (axis.numeric ? 0.03 + (0.94 * k) / bins : k / bins);
  const x = scale([0, 1], [frame.x0, frame.x1]), y = scale([0, 1], [frame.y0, frame.y1]);
  const [lo, hi] = extent(values);
  const tone = (v) => (objective.direction === "min" ? fraction(v, lo, hi) : fraction(v, hi, lo));
  for (let j = 0; j < by; j++) {
    for (let i = 0; i < bx; i++) {
      const v = grid[j * bx + i];
      if (v === null) continue;
      ctx.fillStyle = color(tone(v), 0.85);
      const x0 = x(cellT(ax, i, bx)), x1 = x(cellT(ax, i + 1, bx)), y0 = y(cellT(ay, j, by)), y1 = y(cellT(ay, j + 1, by));
      ctx.fillRect(Math.floor(x0), Math.floor(y1), Math.ceil(x1 - x0) + 1, Math.ceil(y0 - y1) + 1);
    }
  }
  axes(ctx, frame, x, y, {xLabel: nx + (ax.log ? " (log)" : ""), yLabel: ny + (ay.log ? " (log)" : ""),
    xTicks: ax.ticks.map(({t, label}) => ({at: t, label})), yTicks: ay.ticks.map(({t, label}) => ({at: t, label}))});
  const xy = [], hits = [], points = [];
  // Over MAX_DOTS jobs, an even sample is drawn over the grid (the grid holds them all).
  const every = Math.max(1, Math.ceil(rows.length / MAX_DOTS));
  const many = rows.length > 20000, keep = rows.length <= POINTS_IN_DOM;
  for (let k = 0; k < rows.length; k += every) {
    const {job, value} = rows[k];
    const px = x(ax.pos(job.hp[nx]) + jitter(job, ax)), py = y(ay.pos(job.hp[ny]) + jitter(job, ay));
    if (!finite(px) || !finite(py)) continue;
    xy.push(px, py);
    if (keep) points.push({job: job.id, x: job.hp[nx], y: job.hp[ny], value: finite(value) ? value : String(value)});
    if (!many) hits.push({px, py, job: job.id, label: `${job.id}: ${nx}=${show(job.hp[nx])}, ${ny}=${show(job.hp[ny])}, ${objective.name}=${short(value)}`});
  }
  dots(ctx, frame, [{xy, rgb: [255, 255, 255], alpha: 0.9}], many ? 2 : 4);
  dots(ctx, frame, [{xy, rgb: [36, 41, 47], alpha: 0.9}], many ? 1 : 2);
  fig.note.textContent = selectionText(data, rows) + (every > 1 ? `${xy.length / 2} of ${rows.length} jobs drawn as dots (an even sample). ` : "") +
    `${measured} of ${bx * by} cells hold jobs` + (!steps.length ? "" : "; the others near them are averaged from their neighbours" +
      (ax.numeric && ay.numeric ? "" : ` along ${ax.numeric ? nx : ny}`)) + ". Dark: best.";
  fig.hits = hits;
  fig.cellAt = (i, j) => [x((cellT(ax, i, bx) + cellT(ax, i + 1, bx)) / 2), y((cellT(ay, j, by) + cellT(ay, j + 1, by)) / 2)];
  expose(fig, points, {x: nx, y: ny, bins: [bx, by], measured: String(measured),
    grid: grid.map((v) => (v === null ? null : Number(v.toPrecision(4)))),
    scales: [ax, ay].map((a) => (a.numeric ? (a.log ? "log" : "linear") : "category")), jobs: String(rows.length)}, xy.length / 2);
  if (names.length < 2) fig.note.textContent = "A contour needs two hyperparameters.";
  interactive(fig, open);
}
