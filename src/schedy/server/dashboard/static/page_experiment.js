// One experiment: its plots and its job table, kept live by polling for what changed.

import {h, fill} from "./dom.js";
import {HttpError, paths, request, seg} from "./api.js";
import {Poller} from "./poll.js";
import {STATUSES, asNumber, dateTime, duration, num, show} from "./format.js";
import {ExperimentData, bestJob, objectiveOf} from "./model.js";
import {VirtualTable} from "./table.js";
import {curves, history, parallel, scatter} from "./plots.js";
import {lineage, schedule} from "./lineage.js";
import {figure} from "./plotkit.js";
import {badge, counts} from "./page_list.js";

const str = (v) => (v === null || v === undefined ? undefined : typeof v === "number" ? v : String(v));

export class ExperimentPage {
  constructor(root, name, ms) {
    this.root = root;
    this.name = name;
    this.data = new ExperimentData(name);
    this.objective = null;
    this.statuses = new Set(STATUSES);
    this.figs = null;
    this.drawn = "";
    this.table = new VirtualTable({onOpen: (job) => this.open(job.id)});
    this.poller = new Poller(() => this.refresh(), ms, (e) => this.failed(e));
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
      this.header, this.controls, this.plots,
      h("section", {class: "jobs-section", "aria-label": "Jobs"},
        h("div", {class: "table-bar"}, h("h2", {}, "Jobs"), this.filters, this.shown),
        this.table.el),
      h("footer", {}, this.live));
    this.poller.start();
  }

  stop() { this.poller.stop(); }

  open(id) { location.hash = `#/e/${seg(this.name)}/j/${seg(id)}`; }

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
    const answer = await request("GET", url, {etag: full ? null : this.data.etag});
    if (answer.status !== 304) {
      // A full answer may be an earlier one the service kept plus a patch of what changed since.
      let complete = this.data.apply(answer.data);
      if (answer.data.patch) complete = this.data.apply(answer.data.patch);
      this.data.etag = answer.etag;
      if (!complete && !full) return this.refresh(true);
      this.render();
    }
    this.live.textContent = `${this.data.total} jobs · updated ${new Date().toLocaleTimeString()} · refreshes by itself`;
    if (document.body.dataset.ready !== "true") {
      // Milliseconds from navigation to the first complete render (for bench/dashboard_100k.py).
      document.body.dataset.readyAt = String(Math.round(performance.now()));
      document.body.dataset.ready = "true";
    }
  }

  chooseObjective() {
    const saved = localStorage.getItem(`schedy.objective.${this.name}`);
    const keys = this.data.keys();
    if (saved) {
      const parsed = JSON.parse(saved);
      if (keys.res.has(parsed.name)) return parsed;
    }
    return this.data.defaultObjective;
  }

  setObjective(objective) {
    localStorage.setItem(`schedy.objective.${this.name}`, JSON.stringify(objective));
    this.objective = objective;
    this.render();
  }

  render() {
    const exp = this.data.experiment;
    const keys = this.data.keys();
    this.objective = this.chooseObjective();
    this.renderHeader(exp);
    this.renderControls(keys);
    this.renderPlots(keys);
    this.renderTable(keys);
  }

  renderHeader(exp) {
    const scheduler = Object.keys(exp.scheduler)[0];
    const next = exp.status === "DONE" ? "RUNNING" : "DONE";
    fill(this.header,
      h("h1", {}, this.name, " ", badge(exp.status)),
      h("div", {class: "meta"},
        h("span", {}, `${scheduler} · created ${dateTime(Date.parse(exp.createdAt) / 1000)} · `),
        h("span", {class: "total", dataset: {total: this.data.total}}, `${this.data.total} jobs `),
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
    const nameSelect = h("select", {name: "objective", "aria-label": "Objective",
      onchange: () => this.setObjective({name: nameSelect.value, direction: dirSelect.value, declared: false})},
    numeric.map((k) => h("option", {value: k, selected: objective && objective.name === k}, k)));
    const dirSelect = h("select", {name: "direction", "aria-label": "Direction",
      onchange: () => this.setObjective({name: nameSelect.value, direction: dirSelect.value, declared: false})},
    ["min", "max"].map((d) => h("option", {value: d, selected: objective && objective.direction === d}, d === "min" ? "minimise" : "maximise")));
    const best = objective ? bestJob(this.data.jobs, objective) : null;
    fill(this.controls,
      numeric.length ? [h("label", {}, "Objective ", nameSelect), " ", dirSelect,
        objective && objective.declared ? h("span", {class: "muted"}, " (declared by the search)") : null] :
        h("span", {class: "muted"}, "No numeric result yet: plots appear when jobs report one."),
      best ? h("span", {class: "best", dataset: {job: best.id}}, " Best: ",
        h("strong", {}, num(objectiveOf(best, objective))), " — job ",
        h("a", {href: `#/e/${seg(this.name)}/j/${seg(best.id)}`}, best.id)) : null);
  }

  makeFigures(keys) {
    const open = (id) => this.open(id);
    const figs = {open};
    figs.history = figure("history", "Optimisation history");
    figs.parallel = figure("parallel", "Parallel coordinates");
    figs.parallel.classList.add("wide");
    const curveKeys = [...keys.res].filter(([, i]) => i.curve).map(([k]) => k);
    if (curveKeys.length) {
      figs.curveSelect = h("select", {"aria-label": "Learning curve result", onchange: () => this.drawPlots(true)},
        curveKeys.map((k) => h("option", {value: k}, k)));
      figs.curves = figure("curves", "Learning curves: ", figs.curveSelect);
    }
    if (this.data.isPbt()) {
      figs.lineage = figure("lineage", "PBT lineage: members over generations");
      figs.lineage.classList.add("wide");
      figs.schedule = figure("schedule", "Hyperparameter schedule of the best member");
    }
    figs.scatter = new Map([...keys.hp.keys()].map((k) => [k, figure("scatter", `${k} vs objective`)]));
    figs.signature = this.figureSignature(keys);
    fill(this.plots, [figs.history, figs.curves, figs.lineage, figs.schedule, figs.parallel, ...figs.scatter.values()]);
    return figs;
  }

  figureSignature(keys) {
    const curveKeys = [...keys.res].filter(([, i]) => i.curve).map(([k]) => k);
    return JSON.stringify([[...keys.hp.keys()], curveKeys, this.data.isPbt()]);
  }

  renderPlots(keys) {
    if (!this.objective) { fill(this.plots); this.figs = null; return; }
    if (!this.figs || this.figs.signature !== this.figureSignature(keys)) this.figs = this.makeFigures(keys);
    this.drawPlots(false);
  }

  drawPlots(force) {
    const signature = `${this.data.version}|${JSON.stringify(this.objective)}`;
    if (!force && this.drawn === signature) return;
    this.drawn = signature;
    const {figs, data, objective} = this;
    const keys = data.keys();
    history(figs.history, data, objective, figs.open);
    parallel(figs.parallel, data, objective, keys.hp, figs.open);
    if (figs.curves) curves(figs.curves, data, objective, figs.curveSelect.value, figs.open);
    if (figs.lineage) {
      lineage(figs.lineage, data, objective, figs.open);
      schedule(figs.schedule, data, objective, keys.hp, figs.open);
    }
    for (const [name, fig] of figs.scatter) scatter(fig, data, objective, name, keys.hp.get(name), figs.open);
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
        },
      }, `${s.toLowerCase()} ${jobCounts[s] || 0}`)),
      h("button", {class: "link", onclick: () => { this.statuses = new Set(STATUSES); this.renderTable(this.data.keys(), true); }}, "all"));
    const statuses = this.statuses;
    this.table.setColumns(this.columns(keys));
    this.table.setRows(this.data.jobs);
    this.table.setFilter(statuses.size === STATUSES.length ? null : (j) => statuses.has(j.status), resetScroll);
    this.table.draw();
    this.shown.textContent = `${this.table.view.length} of ${this.data.jobs.length} jobs shown`;
    this.shown.dataset.shown = String(this.table.view.length);
  }
}
