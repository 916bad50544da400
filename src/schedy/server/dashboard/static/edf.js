// The empirical distribution function of the objective: for every value v, the share of finished
// jobs at least as good as v (value ≤ v when minimised, ≥ v when maximised), so the curve rises
// towards the good end whichever the direction. Non-finite values are counted apart.

import {num, plural} from "./format.js";
import {POINTS_IN_DOM, axes, context, expose, interactive, scale, ticks, valueScale} from "./plotkit.js";
import {selectionText, shown} from "./plots.js";

const finite = Number.isFinite;

/** Draw the EDF of the objective over the jobs shown (the selection, if any); log-x with
 * fig.options.logX. Exposes data-points [{x, y}] (each distinct value and its share). */
export function edf(fig, data, objective, open) {
  const rows = shown(data, objective);
  const values = [];
  let nonFinite = 0;
  for (const r of rows) if (finite(r.value)) values.push(r.value); else nonFinite++;
  const min = objective.direction === "min";
  values.sort((a, b) => a - b);
  const n = values.length;
  // Steps: (value, share at least as good), one per distinct value, in increasing value.
  const steps = [];
  for (let i = 0; i < n; i++) {
    if (i + 1 < n && values[i + 1] === values[i]) continue;
    if (min) steps.push([values[i], (i + 1) / n]);
  }
  if (!min) {
    for (let i = 0; i < n; i++) {
      if (i > 0 && values[i - 1] === values[i]) continue;
      steps.push([values[i], (n - i) / n]);
    }
  }
  const {ctx, frame} = context(fig, 220);
  const x = valueScale(values, [frame.x0, frame.x1], !!fig.options.logX);
  const y = scale([0, 1.02], [frame.y0, frame.y1]);
  axes(ctx, frame, x.lin, y, {xLabel: objective.name + (x.log ? " (log)" : ""),
    yLabel: min ? "share of jobs ≤ value" : "share of jobs ≥ value",
    xTicks: x.ticks, yTicks: ticks([0, 1], 4)});
  ctx.strokeStyle = "rgb(9,105,218)";
  ctx.lineWidth = 2;
  ctx.beginPath();
  if (steps.length) {
    // A staircase from the left edge (no job yet when minimised, every job when maximised).
    let last = y(min ? 0 : 1);
    ctx.moveTo(frame.x0, last);
    for (const [v, share] of steps) { ctx.lineTo(x(v), last); ctx.lineTo(x(v), y(share)); last = y(share); }
    ctx.lineTo(frame.x1, min ? last : y(0));
  }
  ctx.stroke();
  fig.note.textContent = selectionText(data, rows) +
    (nonFinite ? `${plural(nonFinite, "non-finite value")} (NaN, ±Infinity) left out.` : "");
  const hits = steps.length <= POINTS_IN_DOM
    ? steps.map(([v, share]) => ({px: x(v), py: y(share), label: `${num(v)}: ${Math.round(share * 1000) / 10} % of jobs`})) : [];
  fig.hits = hits;
  fig.project = (v, share) => [x(v), y(share)];
  expose(fig, steps.map(([v, share]) => ({x: v, y: share})),
    {direction: objective.direction, jobs: String(n), nonFinite: String(nonFinite), logX: String(x.log)}, steps.length);
  interactive(fig, open);
}
