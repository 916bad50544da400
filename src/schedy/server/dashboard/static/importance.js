// Hyperparameter importance: the service's PED-ANOVA answer as horizontal bars, one per hyperparameter.
//
// The figure is <figure class="plot" data-plot="importance"> with data-method, data-objective,
// data-direction, data-jobs and data-points ([{name, importance}], most important first), like the
// other plots; data-unused names the hyperparameters with no bar (no job used has them). It asks again when the objective changes, or when the jobs changed and at least
// REFRESH_MS passed (the service keeps its answer until a DONE job changes; a large experiment,
// whose answer is from a sample, is asked again at most every LARGE_REFRESH_MS). Jobs that change
// sooner are asked about once that interval is over, by a timer: the page renders only when a poll
// brings a change, and the last jobs of a search bring none after them.

import {h, fill} from "./dom.js";
import {request, seg} from "./api.js";
import {colour} from "./theme.js";
import {context} from "./plotkit.js";

const REFRESH_MS = 10000;
const LARGE_REFRESH_MS = 60000;
const ROW = 22;

export class ImportanceView {
  constructor(name) {
    this.name = name;
    this.canvas = h("canvas", {role: "img", "aria-label": "Hyperparameter importance"});
    this.caption = h("figcaption", {}, "Hyperparameter importance");
    this.note = h("div", {class: "plot-note"});
    this.el = h("figure", {class: "plot importance", dataset: {plot: "importance"}}, this.caption, this.canvas, this.note);
    this.el.canvas = this.canvas;
    this.asked = "";
    this.askedAt = 0;
    this.version = -1;
    this.answer = null;
    this.later = null;  // the timer of a request put off until the interval is over
  }

  /** Called on every render: ask the service again if the objective changed, or the jobs did a while
   * ago; jobs that changed sooner are asked about when the interval is over (a timer, armed once). */
  async update(objective, version) {
    clearTimeout(this.later);
    this.later = null;
    if (!objective) { this.el.hidden = true; return; }
    this.el.hidden = false;
    const key = `${objective.name}|${objective.direction}`;
    const now = Date.now();
    const every = this.answer && this.answer.sampled ? LARGE_REFRESH_MS : REFRESH_MS;
    if (key === this.asked && version === this.version) return;
    if (key === this.asked && now - this.askedAt < every) {
      // Once the page is left (the figure is out of the document), nothing more is asked.
      this.later = setTimeout(() => { if (this.el.isConnected) this.update(objective, version); },
        every - (now - this.askedAt));
      return;
    }
    this.asked = key;
    this.askedAt = now;
    this.version = version;
    const query = new URLSearchParams({objective: objective.name, direction: objective.direction});
    try {
      const {data} = await request("GET", `dashboard/api/experiments/${seg(this.name)}/importance/?${query}`);
      if (key !== this.asked) return;  // the objective changed meanwhile
      this.answer = data;
      this.draw();
    } catch (error) {
      this.note.textContent = `Importance unavailable: ${error.message}`;
    }
  }

  draw() {
    const data = this.answer;
    if (!data) return;
    const bars = data.importances;
    fill(this.caption, "Hyperparameter importance ", h("span", {class: "muted method"}, `(${data.method}, for ${data.objective} ${data.direction === "min" ? "minimised" : "maximised"})`));
    Object.assign(this.el.dataset, {
      method: data.method, objective: data.objective, direction: data.direction, jobs: String(data.jobs),
      count: String(bars.length), points: JSON.stringify(bars), unused: JSON.stringify(data.unused || []),
    });
    const sampled = data.sampled ? ` (an even sample of the ${data.done} finished jobs)` : "";
    // The best jobs the service compares with all (importance.py: the best 10 %, at least 2).
    const top = Math.max(2, Math.ceil(0.1 * data.jobs));
    // Hyperparameters no job used has (a branch of the space no finished job with a finite objective took).
    const unused = data.unused || [];
    const left = !bars.length || !unused.length ? ""
      : ` No bar for ${unused.join(", ")}: none of the ${data.jobs} jobs used has ${unused.length === 1 ? "it" : "them"}.`;
    this.note.textContent = bars.length
      ? `From ${data.jobs} finished jobs with a finite ${data.objective}${sampled}: how differently each hyperparameter is spread among the best ${top} (the best 10 %, at least 2) than among all ${data.jobs}.${left}`
      : `Not enough finished jobs with a finite ${data.objective} yet (${data.jobs}; 5 needed).`;
    // Sized as every plot is (plotkit.js), with the section's width.
    const {ctx, width} = context({canvas: this.canvas, clientWidth: this.el.clientWidth}, Math.max(ROW * bars.length + 12, 40));
    ctx.font = "12px system-ui, sans-serif";
    const labelWidth = Math.min(width * 0.4, Math.max(60, ...bars.map((b) => ctx.measureText(b.name).width + 12)));
    const x0 = labelWidth, x1 = width - 52;
    const boxes = [];
    ctx.textBaseline = "middle";
    bars.forEach((b, i) => {
      const y = 6 + i * ROW;
      const w = Math.max(1, (x1 - x0) * b.importance);
      ctx.fillStyle = colour("--accent");
      ctx.fillRect(x0, y + 3, w, ROW - 6);
      ctx.fillStyle = colour("--fg");
      ctx.textAlign = "right";
      ctx.fillText(fit(ctx, b.name, labelWidth - 8), x0 - 6, y + ROW / 2);
      ctx.textAlign = "left";
      ctx.fillText(b.importance.toFixed(2), x0 + w + 4, y + ROW / 2);
      boxes.push({name: b.name, x: x0, y: y + 3, w, h: ROW - 6});
    });
    this.el.dataset.bars = JSON.stringify(boxes.map((b) => ({...b, x: Math.round(b.x), y: Math.round(b.y), w: Math.round(b.w)})));
  }
}

function fit(ctx, text, max) {
  if (ctx.measureText(text).width <= max) return text;
  let t = text;
  while (t.length > 1 && ctx.measureText(t + "…").width > max) t = t.slice(0, -1);
  return t + "…";
}
