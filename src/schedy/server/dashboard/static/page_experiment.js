// One experiment: its plots and its job table, kept live by polling for what changed.

import {h, fill} from "./dom.js";
import {HttpError, paths, request, requestColumns, seg} from "./api.js";
import {Poller} from "./poll.js";
import {STATUSES, asNumber, clock, dateTime, duration, num, plural, show} from "./format.js";
import {ExperimentData, bestJob, objectiveOf} from "./model.js";
import {VirtualTable} from "./table.js";
import {curves, history, parallel, scatter} from "./plots.js";
import {lineage, schedule} from "./lineage.js";
import {figure} from "./plotkit.js";
import {analysisFigures, analysisPlots, beforePlots, brushesToUrl} from "./analysis.js";
import {Reports, rungs} from "./reports.js";
import {counts} from "./page_list.js";
import {ImportanceView} from "./importance.js";
import {NoteEditor, notesPath} from "./notes.js";
import {downloadButtons} from "./download.js";
import {Overview, experimentBadge, gridCells} from "./overview.js";

const str = (v) => (v === null || v === undefined ? undefined : typeof v === "number" ? v : String(v));
/** Words of a result name that read as a cost (minimised) or a gain (maximised): the lists and the
 * rule of the service's guess (objective.py, guessed_direction; a test checks both agree). */
const COST_WORDS = "loss|err|error|mse|mae|rmse|regret|cost|time|latency|perplexity|nll|distance|penalty";
const GAIN_WORDS = "acc|accuracy|auc|auroc|f1|precision|recall|score|reward|return|map|iou|bleu|rouge|r2|ndcg|psnr|ssim|dice";
const WORD = new RegExp(`^(?:(${COST_WORDS})|(${GAIN_WORDS}))s?[0-9]*$`);
const ENDING = new RegExp(`(?:(${COST_WORDS})|(${GAIN_WORDS}))s?[0-9]*$`);

/** "min" if a result's name reads like a cost, else "max" (as the service guesses): the name split
 * into words (at anything but ASCII letters and digits, at camelCase, after digits), the last word
 * that is a cost or a gain word decides (score_time: min; sentiment_acc: max); a cost word inside
 * another word does not count (sentiment, terrain, maestro); without a whole one, a word ending in
 * one does (valloss, runtime), a gain (valacc) before a cost. */
export function guessedDirection(name) {
  const spaced = String(name).replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase().replace(/([0-9])([a-z])/g, "$1 $2");
  const words = spaced.split(/[^a-z0-9]+/).filter((w) => w);
  const whole = words.map((w) => WORD.exec(w)).filter((m) => m);
  if (whole.length) return whole[whole.length - 1][1] ? "min" : "max";
  const endings = words.map((w) => ENDING.exec(w)).filter((m) => m);
  if (endings.some((m) => m[2])) return "max";
  return endings.length ? "min" : "max";
}

/** The directions the experiment declares, by result: the search's objective (PBT's
 * qualityResultName, a model-based search's resultName) and the early-stopping policy's. */
export function declaredDirections(experiment) {
  const out = new Map();
  if (!experiment) return out;
  const add = (name, direction) => {
    if (typeof name === "string" && (direction === "min" || direction === "max") && !out.has(name)) out.set(name, direction);
  };
  for (const params of Object.values(experiment.scheduler || {})) {
    if (params && typeof params === "object") {
      add(params.qualityResultName, params.objective);
      add(params.resultName, params.objective);
    }
  }
  for (const policy of Object.values(experiment.earlyStopping || {})) {
    if (policy && typeof policy === "object") add(policy.resultName, policy.objective);
  }
  return out;
}

/** The results the search itself ranks finished jobs by (PBT's qualityResultName, a model-based
 * search's resultName): a Set, empty for the other searches. */
function rankedBy(experiment) {
  const out = new Set();
  for (const params of Object.values((experiment && experiment.scheduler) || {})) {
    if (!params || typeof params !== "object") continue;
    for (const name of [params.qualityResultName, params.resultName]) if (typeof name === "string") out.add(name);
  }
  return out;
}

export class ExperimentPage {
  constructor(root, name, ms, params) {
    this.root = root;
    this.name = name;
    this.params = params || new URLSearchParams();
    this.data = new ExperimentData(name);
    this.reports = new Reports(name);
    this.stopping = null;
    this.objective = null;
    const shown = this.params.get("status");
    this.statuses = new Set(shown === null ? STATUSES : shown.split(",").filter((s) => STATUSES.includes(s)));
    this.figs = null;
    this.drawn = "";
    const sort = this.params.get("sort");
    this.table = new VirtualTable({
      onOpen: (job) => this.open(job.id), onChange: () => this.saveState(),
      sort: sort ? {key: sort, dir: this.params.get("dir") === "desc" ? -1 : 1} : null,
    });
    this.restoreRow = Number(this.params.get("row")) || 0;
    this.poller = new Poller(() => this.refresh(), ms, (e) => this.failed(e));
    this.importance = new ImportanceView(name);
    this.notes = new NoteEditor(notesPath(name), "experiment", "Notes", () => { if (this.data.experiment) this.render(); });
    this.overview = new Overview(name, this.table.el);
  }

  /** The page's state in its URL (replaced, not pushed: Back leaves the page, and returns to it as it was). */
  saveState(now = false) {
    if (this.restoreRow || this.stopped) return;  // not until the saved scroll is restored
    clearTimeout(this.saveTimer);
    if (now) this.writeState(); else this.saveTimer = setTimeout(() => this.writeState(), 150);
  }

  writeState() {
    {
      const p = new URLSearchParams();
      if (this.table.sort.key) { p.set("sort", this.table.sort.key); p.set("dir", this.table.sort.dir > 0 ? "asc" : "desc"); }
      if (this.statuses.size !== STATUSES.length) p.set("status", STATUSES.filter((s) => this.statuses.has(s)).join(","));
      if (this.objective && this.objectiveChosen) { p.set("objective", this.objective.name); p.set("direction", this.objective.direction); }
      const brushed = brushesToUrl(this.figs && this.figs.parallel && this.figs.parallel.brushes);
      if (brushed) p.set("brush", brushed);  // the selection brushed in parallel coordinates (analysis.js)
      const row = this.table.firstRow();
      if (row) p.set("row", String(row));
      const query = p.toString();
      const hash = `#/e/${seg(this.name)}${query ? "?" + query : ""}`;
      // The window's scroll goes in the history entry's state: Back puts the page where it was.
      if (document.body.dataset.page === "experiment") window.history.replaceState({y: Math.round(window.scrollY)}, "", hash);
    }
  }

  start() {
    document.title = `${this.name} · Schedy`;
    this.header = h("div", {class: "exp-header"});
    this.controls = h("div", {class: "objective-bar"});
    this.plots = h("section", {class: "plots", "aria-label": "Plots"});
    this.filters = h("div", {class: "filters", role: "group", "aria-label": "Filter by status"});
    this.shown = h("span", {class: "muted shown"});
    this.live = h("span", {class: "muted live"}, `Loading ${this.name}…`);
    fill(this.root,
      h("nav", {class: "crumbs"}, h("a", {href: "#/"}, "Experiments"), " / ", this.name),
      this.header, this.overview.el, this.controls, this.plots, h("section", {class: "analysis", "aria-label": "Analysis"}, this.importance.el, this.notes.el),
      h("section", {class: "jobs-section", "aria-label": "Jobs"},
        h("div", {class: "table-bar"}, h("h2", {}, "Jobs"), this.filters, this.shown,
          h("span", {class: "muted"}, "Download: ", downloadButtons(() => ({table: this.table, data: this.data, name: this.name, notes: this.notes.jobs})))),
        this.table.el),
      h("footer", {}, this.live));
    const saved = window.history.state;
    this.restoreY = saved && typeof saved.y === "number" ? saved.y : 0;
    this.onWindowScroll = () => this.saveState();
    window.addEventListener("scroll", this.onWindowScroll, {passive: true});
    this.notes.load();
    this.poller.start();
  }

  stop() {
    this.poller.stop();
    clearTimeout(this.saveTimer);
    window.removeEventListener("scroll", this.onWindowScroll);
    this.stopped = true;
  }

  open(id) {
    this.saveState(true);
    location.hash = `#/e/${seg(this.name)}/j/${seg(id)}`;
  }

  failed(error) {
    if (error instanceof HttpError && error.status === 404) {
      this.poller.stop();
      fill(this.root, h("nav", {class: "crumbs"}, h("a", {href: "#/"}, "Experiments")),
        h("p", {class: "error"}, `Experiment “${this.name}” does not exist (or is not yours).`));
      return;
    }
    this.live.textContent = `Could not refresh: ${error.message}`;
  }

  async refresh(full = false) {
    const since = full ? null : this.data.cursor;
    const url = paths.jobs(this.name) + (since ? `?since=${encodeURIComponent(since)}` : full ? "?full=true" : "");
    const answer = await requestColumns(url, {etag: full ? null : this.data.etag, onJobs: (so) => this.data.prepare(so)});
    if (answer.status !== 304) {
      // A full answer may be an earlier one the service kept plus a patch of what changed since.
      let complete = this.data.apply(answer.data);
      if (answer.data.patch) complete = this.data.apply(answer.data.patch);
      this.data.etag = answer.etag;
      if (!complete && !full) return this.refresh(true);
      this.render();
    }
    this.live.textContent = `${plural(this.data.total, "job")} · updated ${clock()} · refreshes by itself`;
    if (document.body.dataset.ready !== "true") {
      // Milliseconds from navigation to the first complete render (for bench/dashboard_100k.py).
      document.body.dataset.readyAt = String(Math.round(performance.now()));
      document.body.dataset.ready = "true";
    }
    // Then the intermediate reports (only the new ones) and the early-stopping rungs.
    // The curves are drawn as soon as the reports are here, without waiting for the rungs: after the
    // service started, its first rung summary of an experiment reads every report.
    const changed = await this.reports.refresh();
    this.plots.dataset.reports = String(this.reports.count);
    if (changed && this.data.experiment) this.render();
    if (this.data.experiment && this.data.experiment.earlyStopping && (changed || answer.status !== 304 || !this.stopping)) {
      const {data} = await request("GET", paths.stopping(this.name));
      // Hyperband's bracket that never stops has no rung: its jobs are counted apart (brackets.py).
      if (data && data.policy && "hyperband" in data.policy) data.brackets = (await request("GET", paths.brackets(this.name))).data.brackets;
      if (JSON.stringify(data) !== JSON.stringify(this.stopping)) {
        this.stopping = data;
        this.render();
      }
    }
  }

  /** The direction of a result: declared by the experiment, else the one chosen for it in this
   * browser, else guessed from its name (a cost is minimised). */
  directionFor(name) {
    const declared = declaredDirections(this.data.experiment).get(name);
    if (declared) return {direction: declared, declared: true};
    const remembered = localStorage.getItem(`schedy.direction.${this.name}.${name}`);
    if (remembered === "min" || remembered === "max") return {direction: remembered, declared: false};
    const fallback = this.data.defaultObjective;
    if (fallback && fallback.name === name) return {direction: fallback.direction, declared: !!fallback.declared};
    return {direction: guessedDirection(name), declared: false};
  }

  chooseObjective() {
    const keys = this.data.keys();
    const fromUrl = this.params.get("objective");
    let name = null, direction = null;
    if (fromUrl && keys.res.has(fromUrl)) {
      name = fromUrl;
      const d = this.params.get("direction");
      if (d === "min" || d === "max") direction = d;
      this.objectiveChosen = true;
    } else {
      const saved = localStorage.getItem(`schedy.objective.${this.name}`);
      const parsed = saved ? JSON.parse(saved) : null;
      if (parsed && keys.res.has(parsed.name)) name = parsed.name;
      else if (this.data.defaultObjective) name = this.data.defaultObjective.name;
    }
    if (!name) return null;
    const found = this.directionFor(name);
    return {name, direction: direction || found.direction, declared: found.declared && (!direction || direction === found.direction)};
  }

  /** The objective's result changed: its direction follows it (declared, remembered or guessed). */
  setObjectiveName(name) {
    localStorage.setItem(`schedy.objective.${this.name}`, JSON.stringify({name}));
    this.params.delete("objective");
    this.params.delete("direction");
    this.objectiveChosen = true;
    this.render();
    this.saveState();
  }

  /** The direction changed: remembered for this result in this browser. */
  setDirection(direction) {
    localStorage.setItem(`schedy.direction.${this.name}.${this.objective.name}`, direction);
    this.params.delete("direction");
    this.objectiveChosen = true;
    this.render();
    this.saveState();
  }

  render() {
    const exp = this.data.experiment;
    const keys = this.data.keys();
    this.objective = this.chooseObjective();
    this.renderHeader(exp);
    this.overview.update(exp, this.data.total, [this.controls, this.plots]);
    this.renderControls(keys);
    this.renderPlots(keys);
    this.renderTable(keys);
    // Nothing to rank before a job exists: no section, no request (its 422 would say so in red).
    this.importance.update(this.data.total === 0 ? null : this.objective, this.data.version);
  }

  renderHeader(exp) {
    const scheduler = Object.keys(exp.scheduler)[0];
    const next = exp.status === "DONE" ? "RUNNING" : "DONE";
    fill(this.header,
      h("h1", {}, this.name, " ", experimentBadge(exp.status, exp.jobCounts, exp.maxJobs, exp.jobsCreated)),
      h("div", {class: "meta"},
        h("span", {}, `${scheduler} · created ${dateTime(Date.parse(exp.createdAt) / 1000)} · `),
        h("span", {class: "total", dataset: {total: this.data.total}},
          `${plural(this.data.total, "job")} ${gridCells(exp) === null ? "" : `of ${gridCells(exp)} cells `}`),
        counts(exp.jobCounts),
        h("button", {class: "secondary action", dataset: {action: `mark-${next}`}, onclick: () => this.mark(next),
          title: next === "DONE" ? "Workers get no new job while the experiment is DONE" : "Hand out jobs again"},
        `Mark ${next}`)));
  }

  async mark(status) {
    await request("PUT", paths.status(this.name), {body: {status}});
    this.data.etag = null;
    await this.refresh();
  }

  renderControls(keys) {
    const numeric = [...keys.res].filter(([, info]) => info.numeric).map(([k]) => k);
    const objective = this.objective;
    // The declared results stay listed (and the chosen one shown) even when no job has them as numbers,
    // so the select never shows another result than the plots use, and one can always go back to them;
    // the slip is then said in words.
    const ranked = rankedBy(this.data.experiment);
    const absent = objective && !numeric.includes(objective.name);
    const listed = [...new Set([...(absent ? [objective.name] : []), ...ranked])].filter((k) => !numeric.includes(k))
      .concat(numeric);
    const nameSelect = h("select", {name: "objective", "aria-label": "Objective",
      onchange: () => this.setObjectiveName(nameSelect.value)},
    listed.map((k) => h("option", {value: k, selected: objective && objective.name === k}, k)));
    const dirSelect = h("select", {name: "direction", "aria-label": "Direction",
      onchange: () => this.setDirection(dirSelect.value)},
    ["min", "max"].map((d) => h("option", {value: d, selected: objective && objective.direction === d}, d === "min" ? "minimise" : "maximise")));
    const best = objective ? bestJob(this.data.jobs, objective) : null;
    const done = (this.data.experiment.jobCounts || {}).DONE || 0;
    // Only a search that ranks jobs by it (TPE, PBT) needs it in the results: an early-stopping policy
    // judges reports, and the final results may be named otherwise.
    const slip = absent && ranked.has(objective.name) && done > 0
      ? h("span", {class: "error objective-absent", dataset: {result: objective.name}},
        `No finished job has a numeric “${objective.name}”, the result the search `
        + `${objective.direction === "min" ? "minimises" : "maximises"}${numeric.length ? ` (they have ${numeric.join(", ")})` : ""}`
        + ": it ranks them all worst and learns nothing. Check the result name the workers use.")
      : null;
    fill(this.controls,
      numeric.length || absent ? [h("label", {}, "Objective ", nameSelect), " ", dirSelect,
        objective && objective.declared ? h("span", {class: "muted declared-by"},
          ` (declared by ${ranked.has(objective.name) ? "the search" : "the early-stopping policy"})`) : null, slip] :
        h("span", {class: "muted"}, "No numeric result yet: plots appear when jobs report one."),
      best ? h("span", {class: "best", dataset: {job: best.id}}, " Best: ",
        h("strong", {}, num(objectiveOf(best, objective))), " — job ",
        h("a", {href: `#/e/${seg(this.name)}/j/${seg(best.id)}`}, best.id)) : null);
  }

  makeFigures(keys) {
    const open = (id) => this.open(id);
    const figs = {open};
    const scoring = !!this.objective;  // without an objective, only the learning curves of the reports
    if (scoring) {
      figs.history = figure("history", "Optimisation history");
      figs.parallel = figure("parallel", "Parallel coordinates");
      figs.parallel.classList.add("wide");
    }
    const curveKeys = [...keys.res].filter(([, i]) => i.curve).map(([k]) => k);
    const reported = [...this.reports.metrics].sort();
    if (curveKeys.length || reported.length) {
      // Reported metrics first (what early stopping decides on), then list-valued results.
      const preferred = this.objective && reported.includes(this.objective.name) ? `rep:${this.objective.name}` : null;
      figs.curveSelect = h("select", {"aria-label": "Learning curve result", name: "curve", onchange: () => this.drawPlots(true)},
        reported.map((k) => h("option", {value: `rep:${k}`, selected: `rep:${k}` === preferred}, `${k} (reports)`)),
        curveKeys.map((k) => h("option", {value: `res:${k}`}, k)));
      figs.curves = figure("curves", "Learning curves: ", figs.curveSelect);
    }
    if (this.data.experiment.earlyStopping) figs.rungs = figure("rungs", "Early stopping: jobs per rung");
    if (scoring && this.data.isPbt()) {
      figs.lineage = figure("lineage", "PBT lineage: members over generations");
      figs.lineage.classList.add("wide");
      figs.schedule = figure("schedule", "Hyperparameter schedule of the best member");
    }
    figs.scatter = new Map(scoring ? [...keys.hp.keys()].map((k) => [k, figure("scatter", `${k} vs objective`)]) : []);
    figs.signature = this.figureSignature(keys);
    const [edf, contour, timeline] = analysisFigures(figs, keys, this);  // analysis.js (helper B)
    fill(this.plots, [figs.history, edf, figs.curves, figs.rungs, figs.lineage, figs.schedule, figs.parallel,
      contour, ...figs.scatter.values(), timeline]);
    return figs;
  }

  figureSignature(keys) {
    const curveKeys = [...keys.res].filter(([, i]) => i.curve).map(([k]) => k);
    return JSON.stringify([[...keys.hp.keys()], curveKeys, [...this.reports.metrics].sort(), this.data.isPbt(),
      !!this.data.experiment.earlyStopping, !!this.objective]);
  }

  renderPlots(keys) {
    if (!this.objective && !this.reports.metrics.size) { fill(this.plots); this.figs = null; return; }
    if (!this.figs || this.figs.signature !== this.figureSignature(keys)) this.figs = this.makeFigures(keys);
    this.drawPlots(false);
  }

  drawPlots(force) {
    const signature = `${this.data.version}|${this.reports.version}|${JSON.stringify(this.stopping)}|${JSON.stringify(this.objective)}`;
    if (!force && this.drawn === signature) return;
    this.drawn = signature;
    const {figs, data, objective} = this;
    const keys = data.keys();
    beforePlots(figs, data, objective, keys);  // the selection brushed in parallel coordinates
    if (figs.history) history(figs.history, data, objective, figs.open);
    if (figs.parallel) parallel(figs.parallel, data, objective, keys.hp, figs.open);
    if (figs.curves) {
      const [source, key] = [figs.curveSelect.value.slice(0, 3), figs.curveSelect.value.slice(4)];
      if (source === "rep") {
        curves(figs.curves, data, objective, key, figs.open,
          {series: this.reports.series(data, key), xLabel: "step (as reported)"});
      } else curves(figs.curves, data, objective, key, figs.open);
    }
    if (figs.rungs) rungs(figs.rungs, this.stopping);
    if (figs.lineage) {
      lineage(figs.lineage, data, objective, figs.open);
      schedule(figs.schedule, data, objective, keys.hp, figs.open);
    }
    for (const [name, fig] of figs.scatter) scatter(fig, data, objective, name, keys.hp.get(name), figs.open);
    analysisPlots(figs, data, objective, keys);
  }

  columns(keys) {
    const data = this.data;
    const cols = [
      {key: "id", label: "id", value: (j) => j.id, text: (j) => j.id},
      {key: "status", label: "status", value: (j) => j.status, text: (j) => j.status},
    ];
    if (data.isPbt()) {
      cols.push({key: "member", label: "member", value: (j) => j.member ?? undefined, text: (j) => j.member ?? ""});
      cols.push({key: "generation", label: "gen", numeric: true, value: (j) => j.generation ?? undefined, text: (j) => show(j.generation ?? undefined)});
    }
    for (const [k, info] of keys.hp) {
      cols.push({key: `hp.${k}`, label: k, title: `hyperparameter ${k}`, numeric: info.numeric,
        value: (j) => str(j.hp[k]), text: (j) => show(j.hp[k])});
    }
    for (const [k, info] of keys.res) {
      const curve = info.curve && !info.numeric;
      cols.push({key: `res.${k}`, label: k, title: `result ${k}${this.objective && this.objective.name === k ? " (objective)" : ""}`,
        numeric: info.numeric || curve,
        value: curve ? (j) => (Array.isArray(j.res[k]) ? asNumber(j.res[k][j.res[k].length - 1]) : undefined)
          : (j) => { const v = asNumber(j.res[k]); return v !== undefined ? v : str(j.res[k]); },
        text: (j) => show(j.res[k])});
    }
    cols.push(
      {key: "created", label: "created", numeric: true, value: (j) => j.created, text: (j) => dateTime(data.time(j.created))},
      {key: "duration", label: "duration", numeric: true,
        value: (j) => (j.started !== null && j.finished !== null ? j.finished - j.started : undefined),
        text: (j) => (j.started !== null && j.finished !== null ? duration((j.finished - j.started) / 1000) : "")},
      {key: "worker", label: "worker", value: (j) => j.worker ?? undefined, text: (j) => j.worker ?? ""});
    const notes = this.notes.jobs;
    if (notes.size) cols.push({key: "note", label: "note", value: (j) => notes.get(j.id), text: (j) => notes.get(j.id) ?? ""});
    return cols;
  }

  renderTable(keys, resetScroll = false) {
    const jobCounts = this.data.experiment.jobCounts;
    fill(this.filters,
      STATUSES.map((s) => h("button", {
        class: `filter chip status-${s}`, "aria-pressed": String(this.statuses.has(s)), dataset: {status: s},
        onclick: () => {
          if (this.statuses.has(s)) this.statuses.delete(s); else this.statuses.add(s);
          this.renderTable(this.data.keys(), true);
          this.saveState();
        },
      }, `${s.toLowerCase()} ${jobCounts[s] || 0}`)),
      h("button", {class: "link", onclick: () => {
        this.statuses = new Set(STATUSES);
        this.renderTable(this.data.keys(), true);
        this.saveState();
      }}, "all"));
    const statuses = this.statuses;
    this.table.setColumns(this.columns(keys));
    this.table.setRows(this.data.jobs);
    // The jobs brushed in parallel coordinates (analysis.js), if any, AND the status filter.
    const selection = this.data.selection;
    this.table.setFilter(statuses.size === STATUSES.length && !selection ? null
      : (j) => statuses.has(j.status) && (!selection || selection.has(j.pk)), resetScroll);
    this.table.draw();
    this.shown.textContent = `${this.table.view.length} of ${this.data.jobs.length} jobs shown`;
    this.shown.dataset.shown = String(this.table.view.length);
    if (this.restoreRow) {
      // The scroll of the URL (a shared view, or Back from a job), once the rows are there.
      const row = this.restoreRow;
      this.restoreRow = 0;
      this.table.scrollToRow(row);
    }
    if (this.restoreY) {
      const y = this.restoreY;
      this.restoreY = 0;
      window.scrollTo(0, y);
    }
  }
}
