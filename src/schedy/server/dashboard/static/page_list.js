// Your experiments: status, scheduler, job counts by status, best result, last activity.

import {h, fill} from "./dom.js";
import {paths, request, seg} from "./api.js";
import {Poller} from "./poll.js";
import {STATUSES, ago, clock, num, plural} from "./format.js";
import {experimentBadge} from "./overview.js";

export function counts(jobCounts) {
  return h("span", {class: "counts"}, STATUSES.filter((s) => jobCounts[s]).map((s) =>
    h("span", {class: `chip status-${s}`, title: s, dataset: {status: s, count: jobCounts[s]}}, `${s.toLowerCase()} ${jobCounts[s]}`)));
}

export function badge(status) {
  return h("span", {class: `badge status-${status}`}, status);
}

// The columns; those with a `value` sort (the best result does not: each experiment has its own objective).
const total = (e) => Object.values(e.jobCounts).reduce((a, b) => a + b, 0);
const COLUMNS = [
  {key: "name", title: "Experiment", value: (e) => e.name},
  {key: "status", title: "Status", value: (e) => e.status},
  {key: "scheduler", title: "Scheduler", value: (e) => e.scheduler},
  {key: "jobs", title: "Jobs", value: total, first: -1},
  {key: "best", title: "Best result"},
  {key: "activity", title: "Last activity", value: (e) => (e.lastActivity ? Date.parse(e.lastActivity) : -Infinity), first: -1},
];
const byKey = new Map(COLUMNS.map((c) => [c.key, c]));
const collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});  // run-2 before run-10

/** Whether an experiment matches every word of the filter (in its name, search or status). */
function matches(e, words) {
  const text = `${e.name} ${e.scheduler} ${e.status}`.toLowerCase();
  return words.every((w) => text.includes(w));
}

export class ExperimentsPage {
  /** `params`: the view's state after "#/?": q (the filter), sort (a column's key) and dir (asc, desc). */
  constructor(root, ms, params = new URLSearchParams()) {
    this.root = root;
    this.etag = null;
    this.items = null;
    this.query = params.get("q") || "";
    const sort = byKey.get(params.get("sort"));
    this.sort = sort && sort.value ? {key: sort.key, dir: params.get("dir") === "desc" ? -1 : 1} : null;
    this.head = h("thead");
    this.body = h("tbody");
    this.shown = h("span", {class: "muted shown"});
    this.filter = h("input", {type: "search", name: "filter", value: this.query, "aria-label": "Filter experiments",
      placeholder: "Filter by name, search or status", oninput: () => {
        this.query = this.filter.value;
        this.writeState();
        this.draw();
      }});
    this.status = h("p", {class: "muted live"});
    this.poller = new Poller(() => this.refresh(), ms, (e) => { this.status.textContent = `Could not refresh: ${e.message}`; });
  }

  start() {
    document.title = "Experiments · Schedy";
    this.drawHead();
    fill(this.root,
      h("div", {class: "table-bar"}, h("h1", {}, "Experiments"), this.filter, this.shown),
      h("div", {class: "wide-table"}, h("table", {class: "experiments"}, this.head, this.body)),
      this.status);
    this.poller.start();
  }

  stop() { this.poller.stop(); }

  /** The filter and the sort in the URL (#/?q=…&sort=…&dir=…): a reload or a shared link shows the same view. */
  writeState() {
    const params = new URLSearchParams();
    if (this.query) params.set("q", this.query);
    if (this.sort) { params.set("sort", this.sort.key); params.set("dir", this.sort.dir > 0 ? "asc" : "desc"); }
    const query = params.toString();
    window.history.replaceState(null, "", `#/${query ? `?${query}` : ""}`);
  }

  sortBy(key) {
    const column = byKey.get(key);
    const dir = this.sort && this.sort.key === key ? -this.sort.dir : (column.first || 1);
    this.sort = {key, dir};
    this.writeState();
    this.drawHead();
    this.draw();
    const button = this.head.querySelector(`th[data-key="${key}"] button`);
    if (button) button.focus();
  }

  drawHead() {
    fill(this.head, h("tr", {}, COLUMNS.map((c) => {
      if (!c.value) return h("th", {scope: "col", dataset: {key: c.key}}, c.title);
      const active = this.sort && this.sort.key === c.key;
      return h("th", {class: active ? "sorted" : "", scope: "col", dataset: {key: c.key},
        "aria-sort": active ? (this.sort.dir > 0 ? "ascending" : "descending") : "none"},
      h("button", {class: "sort", type: "button", title: `${c.title}: sort`, onclick: () => this.sortBy(c.key)},
        c.title, active ? (this.sort.dir > 0 ? " ▲" : " ▼") : ""));
    })));
  }

  async refresh() {
    const answer = await request("GET", paths.experiments, {etag: this.etag});
    this.status.textContent = `Updated ${clock()}; refreshes by itself.`;
    if (answer.status === 304) return;
    this.etag = answer.etag;
    this.items = answer.data.items;
    this.draw();
  }

  draw() {
    const items = this.items;
    if (items === null) return;
    if (!items.length) {
      this.shown.textContent = "";
      fill(this.body, h("tr", {}, h("td", {colspan: COLUMNS.length, class: "empty"},
        "No experiment yet. Create one with the client, e.g. ", h("code", {}, "db.add_experiment(schedy.RandomSearch(...))"), ".")));
      return;
    }
    const words = this.query.toLowerCase().split(/\s+/).filter(Boolean);
    let view = words.length ? items.filter((e) => matches(e, words)) : items.slice();
    if (this.sort) {
      const {value} = byKey.get(this.sort.key), dir = this.sort.dir;
      const keys = new Map(view.map((e, i) => [e, [value(e), i]]));
      view.sort((a, b) => {
        const [ka, ia] = keys.get(a), [kb, ib] = keys.get(b);
        const c = typeof ka === "string" ? collator.compare(ka, kb) : ka - kb;
        return c ? c * dir : ia - ib;  // ties keep the service's order
      });
    }
    this.shown.textContent = words.length ? `${view.length} of ${plural(items.length, "experiment")}` : plural(items.length, "experiment");
    if (!view.length) {
      fill(this.body, h("tr", {}, h("td", {colspan: COLUMNS.length, class: "empty"},
        `No experiment matches “${this.query.trim()}”.`)));
      return;
    }
    fill(this.body, view.map((e) => {
      const jobs = total(e);
      return h("tr", {dataset: {experiment: e.name}},
        h("td", {}, h("a", {href: `#/e/${seg(e.name)}`, class: "name"}, e.name)),
        h("td", {}, experimentBadge(e.status, e.jobCounts, e.maxJobs, e.jobsCreated)),
        h("td", {}, e.scheduler),
        h("td", {}, h("span", {class: "total", dataset: {total: jobs}}, `${jobs} `), counts(e.jobCounts)),
        h("td", {class: "best"}, e.best
          ? [h("span", {class: "objective"}, `${e.objective.name} (${e.objective.direction}) `),
            h("a", {href: `#/e/${seg(e.name)}/j/${seg(e.best.job)}`, dataset: {value: e.best.value}}, num(e.best.value))]
          : h("span", {class: "muted"}, "—")),
        h("td", {title: e.lastActivity}, ago(e.lastActivity)));
    }));
  }
}
