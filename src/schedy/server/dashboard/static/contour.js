// Contour of two hyperparameters: the objective averaged over a grid of cells (numbers: 20 bins
// along their declared scale; categories: one bin each), empty cells filled from their neighbours
// along numeric axes (a few passes of averaging, so gaps between samples are interpolated, not
// invented far away; never across categories, which have no order),
// coloured by the objective's scale (dark: best), with the jobs drawn over it.

import {h} from "./dom.js";
import {plural, show, short} from "./format.js";
import {POINTS_IN_DOM, axes, color, context, dots, expose, extent, fraction, interactive, scale} from "./plotkit.js";
import {axisFor, jitter} from "./axis.js";
import {scored, selectionText, shown} from "./plots.js";

const finite = Number.isFinite;
const BINS = 20;
/** Passes of filling empty cells from their filled neighbours. */
const FILL_PASSES = 3;
/** At most this many jobs are drawn as dots over the grid. */
export const MAX_DOTS = 10000;

/** The two selects of the contour's caption (x and y hyperparameters); `fig.options.x`, `.y`. Until
 * one is changed by hand (`fig.options.chosen`), contour() picks the pair (defaultPair()). */
export function contourControls(fig, names) {
  fig.selects = {};
  const pick = (key, text, fallback) => {
    if (!names.includes(fig.options[key])) fig.options[key] = fallback;
    const select = h("select", {name: `contour-${key}`, "aria-label": text,
      onchange: () => { fig.options[key] = select.value; fig.options.chosen = true; if (fig.redraw) fig.redraw(); }},
    names.map((k) => h("option", {value: k, selected: fig.options[key] === k}, k)));
    fig.selects[key] = select;
    return h("label", {class: "plot-option"}, `${key} `, select);
  };
  return [pick("x", "Contour x", names[0]), " ", pick("y", "Contour y", names[1] ?? names[0])];
}

/**
 * The pair of hyperparameters the contour shows by default: the one the most finished jobs with a
 * finite objective both have, so that a conditional hyperparameter few of them have (momentum of
 * an sgd branch) is not drawn as an empty plot; ties go to the pair in `current` (no switching
 * back and forth as jobs finish), then to the first names. Counted per set of names a job has
 * (a conditional space has a few such sets), not per job and pair.
 */
export function defaultPair(names, rows, current) {
  if (names.length < 2) return [names[0], names[0]];
  const sets = new Map();
  for (const {job, value} of rows) {
    if (!finite(value)) continue;
    const has = names.map((k) => (job.hp[k] !== undefined ? "1" : "0")).join("");
    sets.set(has, (sets.get(has) || 0) + 1);
  }
  const both = (i, j) => {
    let count = 0;
    for (const [has, n] of sets) if (has[i] === "1" && has[j] === "1") count += n;
    return count;
  };
  let best = null, most = -1;
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const count = both(i, j);
      if (count > most) { most = count; best = [names[i], names[j]]; }
    }
  }
  const [i, j] = current ? current.map((k) => names.indexOf(k)) : [-1, -1];
  if (i >= 0 && j >= 0 && i !== j && both(i, j) === most) return current;  // as many jobs: kept
  return best;
}

/** Until the user picks them, the axes are defaultPair()'s (recounted when the jobs change). */
function autoAxes(fig, data, objective, names) {
  if (fig.options.chosen || names.length < 2) return;
  const key = `${data.version}|${objective.name}|${names.join("\u0000")}`;
  if (fig.autoKey === key) return;
  fig.autoKey = key;
  const [x, y] = defaultPair(names, scored(data, objective), [fig.options.x, fig.options.y]);
  fig.options.x = x;
  fig.options.y = y;
  if (fig.selects && fig.selects.x) fig.selects.x.value = x;
  if (fig.selects && fig.selects.y) fig.selects.y.value = y;
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
  autoAxes(fig, data, objective, names);
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
  // No cell measured: nothing is interpolated either; say why the plot is empty.
  const finiteRows = rows.filter((r) => finite(r.value)).length;
  const empty = !rows.length
    ? `No finished job with a ${objective.name} has both ${nx} and ${ny} (a hyperparameter of one branch of the space?): nothing to draw for these two; pick others above.`
    : `Nothing to draw for these two: ${finiteRows ? `the ${plural(finiteRows, "job")} with both fall outside the axes` : `none of the ${plural(rows.length, "job")} with both ${nx} and ${ny} has a finite ${objective.name}`}; pick others above.`;
  fig.note.textContent = selectionText(data, rows) + (every > 1 ? `${xy.length / 2} of ${rows.length} jobs drawn as dots (an even sample). ` : "") +
    (measured === 0 ? empty
      : `${measured} of ${bx * by} cells hold jobs` + (!steps.length ? "" : "; the others near them are averaged from their neighbours" +
        (ax.numeric && ay.numeric ? "" : ` along ${ax.numeric ? nx : ny}`)) + ". Dark: best.");
  fig.hits = hits;
  fig.cellAt = (i, j) => [x((cellT(ax, i, bx) + cellT(ax, i + 1, bx)) / 2), y((cellT(ay, j, by) + cellT(ay, j + 1, by)) / 2)];
  expose(fig, points, {x: nx, y: ny, bins: [bx, by], measured: String(measured),
    grid: grid.map((v) => (v === null ? null : Number(v.toPrecision(4)))),
    scales: [ax, ay].map((a) => (a.numeric ? (a.log ? "log" : "linear") : "category")), jobs: String(rows.length)}, xy.length / 2);
  if (names.length < 2) fig.note.textContent = "A contour needs two hyperparameters.";
  interactive(fig, open);
}
