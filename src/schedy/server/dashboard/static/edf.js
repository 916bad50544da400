// The empirical distribution function of the objective: for every value v, the share of finished
// jobs at least as good as v (value ≤ v when minimised, ≥ v when maximised), so the curve rises
// towards the good end whichever the direction. Non-finite values are counted apart.

import {num, plural} from "./format.js";
import {POINTS_IN_DOM, axes, context, expose, interactive, scale, ticks, valueScale} from "./plotkit.js";
import {nonNumericText, selectionText, shown} from "./plots.js";

const finite = Number.isFinite;

/** Draw the EDF of the objective over the jobs shown (the selection, if any); log-x with
 * fig.options.logX. Exposes data-points [{x, y}] (each distinct value and its share). */
export function edf(fig, data, objective, open) {
  const rows = shown(data, objective);
  const values = new Float64Array(rows.length);
  let n = 0, nonFinite = 0;
  for (const r of rows) if (finite(r.value)) values[n++] = r.value; else nonFinite++;
  const min = objective.direction === "min";
  const sorted = values.subarray(0, n).sort();  // typed: numeric order, fast at 100k
  // Steps: (value, share at least as good), one per distinct value, in increasing value.
  const steps = [];
  for (let i = 0; i < n; i++) {
    if (min) { if (i + 1 < n && sorted[i + 1] === sorted[i]) continue; steps.push([sorted[i], (i + 1) / n]); }
    else { if (i > 0 && sorted[i - 1] === sorted[i]) continue; steps.push([sorted[i], (n - i) / n]); }
  }
  const {ctx, frame} = context(fig, 220);
  const x = valueScale(sorted, [frame.x0, frame.x1], !!fig.options.logX);
  const y = scale([0, 1.02], [frame.y0, frame.y1]);
  axes(ctx, frame, x.lin, y, {xLabel: objective.name + (x.log ? " (log)" : ""),
    yLabel: min ? "share of jobs ≤ value" : "share of jobs ≥ value",
    xTicks: x.ticks, yTicks: ticks([0, 1], 4)});
  ctx.strokeStyle = "rgb(9,105,218)";
  ctx.lineWidth = 2;
  ctx.beginPath();
  if (steps.length) {
    // A staircase from the left edge: flat between values, a vertical at each. Minimised, the share
    // of jobs ≤ x (right-continuous) rises at a value to the share including it; maximised, the
    // share of jobs ≥ x (left-continuous) holds its value's share up to it and falls after it to
    // the next value's share (0 past the last).
    const after = (k) => y(min ? steps[k][1] : k + 1 < steps.length ? steps[k + 1][1] : 0);
    let level = y(min ? 0 : 1);
    ctx.moveTo(frame.x0, level);
    // One corner per pixel column at most (100k steps would make a path of 200k points): the
    // values within half a pixel of a corner share its vertical, down (or up) to the level after
    // the last of them.
    let column = -Infinity;
    for (let k = 0; k < steps.length; k++) {
      const px = x(steps[k][0]);
      if (px - column >= 0.5) { ctx.lineTo(px, level); column = px; }
      level = after(k);
      if (k + 1 === steps.length || x(steps[k + 1][0]) - column >= 0.5) ctx.lineTo(column, level);
    }
    ctx.lineTo(frame.x1, level);
  }
  ctx.stroke();
  const logNote = fig.options.logX && !x.log ? "Log scale needs positive values: drawn linear. " : "";
  fig.note.textContent = selectionText(data, rows) + logNote + nonNumericText(data, objective) +
    (nonFinite ? `${plural(nonFinite, "non-finite value")} (NaN, ±Infinity) left out.` : "");
  const hits = steps.length <= POINTS_IN_DOM
    ? steps.map(([v, share]) => ({px: x(v), py: y(share), label: `${num(v)}: ${Math.round(share * 1000) / 10} % of jobs`})) : [];
  fig.hits = hits;
  fig.project = (v, share) => [x(v), y(share)];
  expose(fig, steps.length <= POINTS_IN_DOM ? steps.map(([v, share]) => ({x: v, y: share})) : [],
    {direction: objective.direction, jobs: String(n), nonFinite: String(nonFinite), logX: String(x.log)}, steps.length);
  interactive(fig, open);
}
