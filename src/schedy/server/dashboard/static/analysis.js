// The analysis views of the experiment page, kept out of page_experiment.js: the controls of the
// history and scatters (log-y, x by order or time), brushing parallel coordinates (brush.js) and
// the selection it makes, the EDF, the contour and the timeline of jobs per worker.
//
// The page calls analysisFigures() when it makes its figures, beforePlots() before drawing them
// (the selection is computed there, so every plot and the table see the same one) and
// analysisPlots() after.

import {h} from "./dom.js";
import {choose, figure, toggle} from "./plotkit.js";
import {history, parallel, parallelAxes, scatter, scored} from "./plots.js";
import {brushable, clearBrushes} from "./brush.js";
import {edf} from "./edf.js";
import {contour, contourControls} from "./contour.js";
import {timeline} from "./timeline.js";

const finite = Number.isFinite;

/** Add the analysis figures to `figs` and the controls to the page's own figures. `page` is the
 * ExperimentPage (its drawPlots() and renderTable() run when the selection changes). */
export function analysisFigures(figs, keys, page) {
  const hpNames = [...keys.hp.keys()];
  const caption = (fig) => fig.querySelector("figcaption");
  if (figs.history) {
    figs.history.options.x = "order";
    caption(figs.history).append(" ", toggle(figs.history, "logY", "log y"), " ",
      choose(figs.history, "x", "x", [["order", "by order"], ["time", "by finish time"]]));
  }
  for (const fig of figs.scatter.values()) caption(fig).append(" ", toggle(fig, "logY", "log y"));
  if (figs.parallel) {
    // The ranges brushed come from the URL (a shared or restored view) and go back to it.
    figs.parallel.brushes = brushesFromUrl(page.params.get("brush"));
    const selectionChanged = () => { page.drawPlots(true); page.renderTable(page.data.keys(), true); page.saveState(true); };
    const clear = h("button", {class: "link", name: "clear-selection", onclick: () => { clearBrushes(figs.parallel); selectionChanged(); }},
      "clear selection");
    caption(figs.parallel).append(" ", clear);
    brushable(figs.parallel, () => figs.parallel.redraw && figs.parallel.redraw(), selectionChanged);
    figs.edf = figure("edf", "Empirical distribution of the objective");
    caption(figs.edf).append(" ", toggle(figs.edf, "logX", "log x"));
    if (hpNames.length >= 2) {
      figs.contour = figure("contour", "Contour: ");
      caption(figs.contour).append(...contourControls(figs.contour, hpNames));
    }
  }
  if (page.data.jobs.some((j) => j.started !== null && j.started !== undefined)) {
    figs.timeline = figure("timeline", "Timeline of jobs per worker");
    figs.timeline.classList.add("wide");
  }
  return [figs.edf, figs.contour, figs.timeline];
}

/** The ranges brushed, as the URL keeps them: `name:t0:t1` (positions in [0, 1] of the axis) joined
 * by commas, each name percent-encoded; "" when there are none. */
export function brushesToUrl(brushes) {
  if (!brushes || !brushes.size) return "";
  return [...brushes].map(([name, [t0, t1]]) => `${encodeURIComponent(name)}:${t0.toFixed(4)}:${t1.toFixed(4)}`).join(",");
}

/** The ranges of a `brush` URL parameter (see brushesToUrl); whatever does not parse is left out. */
export function brushesFromUrl(text) {
  const out = new Map();
  for (const part of (text || "").split(",")) {
    const [name, a, b] = part.split(":");
    const t0 = Number(a), t1 = Number(b);
    if (!name || !finite(t0) || !finite(t1) || t0 < 0 || t1 > 1 || t0 > t1) continue;
    try { out.set(decodeURIComponent(name), [t0, t1]); } catch { /* not percent-encoded: left out */ }
  }
  return out;
}

/** The jobs inside every range brushed on parallel coordinates (a Set of pks), or null. Axis
 * positions are computed afresh over the current jobs, as parallel() will draw them. */
export function selectionOf(fig, data, objective, hpKeys) {
  const brushes = fig && fig.brushes;
  if (!brushes || !brushes.size || !objective) return null;
  const rows = scored(data, objective);
  const axes = parallelAxes(fig, data, objective, hpKeys, rows.filter((r) => finite(r.value))).filter((a) => brushes.has(a.name));
  if (!axes.length) return null;
  const out = new Set();
  for (const {job, value} of rows) {
    let inside = true;
    for (const axis of axes) {
      const [t0, t1] = brushes.get(axis.name);
      const t = axis.pos(axis.objective ? value : job.hp[axis.name]);
      if (!finite(t) || t < t0 - 1e-9 || t > t1 + 1e-9) { inside = false; break; }
    }
    if (inside) out.add(job.pk);
  }
  return out;
}

/** Before the page draws its plots: the selection, and how each figure redraws by itself. */
export function beforePlots(figs, data, objective, keys) {
  data.selection = figs.parallel ? selectionOf(figs.parallel, data, objective, keys.hp) : null;
  if (figs.history) figs.history.redraw = () => history(figs.history, data, objective, figs.open);
  if (figs.parallel) figs.parallel.redraw = () => parallel(figs.parallel, data, objective, keys.hp, figs.open);
  for (const [name, fig] of figs.scatter) fig.redraw = () => scatter(fig, data, objective, name, keys.hp.get(name), figs.open);
}

/** After the page drew its plots: the EDF, the contour and the timeline. */
export function analysisPlots(figs, data, objective, keys) {
  if (figs.edf) (figs.edf.redraw = () => edf(figs.edf, data, objective, figs.open))();
  if (figs.contour) (figs.contour.redraw = () => contour(figs.contour, data, objective, keys.hp, figs.open))();
  if (figs.timeline) (figs.timeline.redraw = () => timeline(figs.timeline, data, figs.open))();
}
