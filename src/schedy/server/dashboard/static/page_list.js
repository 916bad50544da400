// Your experiments: status, scheduler, job counts by status, best result, last activity.

import {h, fill} from "./dom.js";
import {paths, request, seg} from "./api.js";
import {Poller} from "./poll.js";
import {STATUSES, ago, clock, num} from "./format.js";
import {experimentBadge} from "./overview.js";

export function counts(jobCounts) {
  return h("span", {class: "counts"}, STATUSES.filter((s) => jobCounts[s]).map((s) =>
    h("span", {class: `chip status-${s}`, title: s, dataset: {status: s, count: jobCounts[s]}}, `${s.toLowerCase()} ${jobCounts[s]}`)));
}

export function badge(status) {
  return h("span", {class: `badge status-${status}`}, status);
}

export class ExperimentsPage {
  constructor(root, ms) {
    this.root = root;
    this.etag = null;
    this.body = h("tbody");
    this.status = h("p", {class: "muted live"});
    this.poller = new Poller(() => this.refresh(), ms, (e) => { this.status.textContent = `Could not refresh: ${e.message}`; });
  }

  start() {
    document.title = "Experiments · Schedy";
    fill(this.root,
      h("h1", {}, "Experiments"),
      h("div", {class: "wide-table"}, h("table", {class: "experiments"},
        h("thead", {}, h("tr", {}, ["Experiment", "Status", "Scheduler", "Jobs", "Best result", "Last activity"].map((t) => h("th", {}, t)))),
        this.body)),
      this.status);
    this.poller.start();
  }

  stop() { this.poller.stop(); }

  async refresh() {
    const answer = await request("GET", paths.experiments, {etag: this.etag});
    this.status.textContent = `Updated ${clock()}; refreshes by itself.`;
    if (answer.status === 304) return;
    this.etag = answer.etag;
    const items = answer.data.items;
    if (!items.length) {
      fill(this.body, h("tr", {}, h("td", {colspan: 6, class: "empty"},
        "No experiment yet. Create one with the client, e.g. ", h("code", {}, "db.add_experiment(schedy.RandomSearch(...))"), ".")));
      return;
    }
    fill(this.body, items.map((e) => {
      const total = Object.values(e.jobCounts).reduce((a, b) => a + b, 0);
      return h("tr", {dataset: {experiment: e.name}},
        h("td", {}, h("a", {href: `#/e/${seg(e.name)}`, class: "name"}, e.name)),
        h("td", {}, experimentBadge(e.status, e.jobCounts, e.maxJobs, e.jobsCreated)),
        h("td", {}, e.scheduler),
        h("td", {}, h("span", {class: "total", dataset: {total}}, `${total} `), counts(e.jobCounts)),
        h("td", {class: "best"}, e.best
          ? [h("span", {class: "objective"}, `${e.objective.name} (${e.objective.direction}) `),
            h("a", {href: `#/e/${seg(e.name)}/j/${seg(e.best.job)}`, dataset: {value: e.best.value}}, num(e.best.value))]
          : h("span", {class: "muted"}, "—")),
        h("td", {title: e.lastActivity}, ago(e.lastActivity)));
    }));
  }
}
