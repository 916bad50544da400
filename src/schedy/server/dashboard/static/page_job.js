// One job: hyperparameters, results, times, worker, lineage, and the actions on it.

import {h, fill, confirmDialog} from "./dom.js";
import {HttpError, paths, request, seg} from "./api.js";
import {Poller} from "./poll.js";
import {dateTime, duration, isCurve, showFull} from "./format.js";
import {badge} from "./page_list.js";
import {curves} from "./plots.js";
import {figure} from "./plotkit.js";

const seconds = (iso) => (iso ? Date.parse(iso) / 1000 : null);

function table(cls, object) {
  const entries = Object.entries(object || {});
  if (!entries.length) return h("p", {class: "muted"}, "none");
  return h("table", {class: `kv ${cls}`}, h("tbody", {}, entries.map(([k, v]) =>
    h("tr", {dataset: {key: k}}, h("th", {}, k), h("td", {}, h("code", {}, showFull(v)))))));
}

export class JobPage {
  constructor(root, experiment, id, ms) {
    this.root = root;
    this.experiment = experiment;
    this.id = id;
    this.poller = new Poller(() => this.refresh(), ms, (e) => this.failed(e));
    this.lastBody = null;
  }

  start() {
    document.title = `${this.id} · ${this.experiment} · Schedy`;
    this.content = h("div", {class: "job"});
    this.message = h("p", {class: "error", role: "alert"});
    fill(this.root,
      h("nav", {class: "crumbs"}, h("a", {href: "#/"}, "Experiments"), " / ",
        h("a", {href: `#/e/${seg(this.experiment)}`}, this.experiment), " / ", this.id),
      this.message, this.content);
    this.poller.start();
  }

  stop() { this.poller.stop(); }

  failed(error) {
    if (error instanceof HttpError && error.status === 404) {
      this.poller.stop();
      fill(this.content, h("p", {class: "error"}, `Job ${this.id} does not exist in ${this.experiment}.`));
      return;
    }
    this.message.textContent = error.message;
  }

  async refresh() {
    const {data} = await request("GET", paths.job(this.experiment, this.id));
    const body = JSON.stringify(data);
    if (body === this.lastBody) return;
    this.lastBody = body;
    this.render(data);
    document.body.dataset.ready = "true";
  }

  link(job) {
    return h("a", {href: `#/e/${seg(this.experiment)}/j/${seg(job.id)}`, dataset: {job: job.id}},
      job.id, job.member ? ` (${job.member}, gen ${job.generation})` : "", " ", badge(job.status));
  }

  render(job) {
    const started = seconds(job.startedAt), finished = seconds(job.finishedAt);
    const actions = [];
    if (job.status === "CRASHED") {
      actions.push(h("button", {dataset: {action: "requeue"}, onclick: () => this.requeue(job)}, "Re-queue"));
    }
    actions.push(h("button", {class: "danger", dataset: {action: "delete"}, onclick: () => this.remove(job)}, "Delete job"));
    const curveKeys = Object.keys(job.results).filter((k) => isCurve(job.results[k]));
    const plots = curveKeys.map((k) => figure("job-curve", `${k}`));
    fill(this.content,
      h("h1", {}, `Job ${job.id} `, badge(job.status)),
      h("div", {class: "actions"}, actions),
      h("div", {class: "columns"},
        h("section", {}, h("h2", {}, "Hyperparameters"), table("hyperparameters", job.hyperparameters)),
        h("section", {}, h("h2", {}, "Results"), table("results", job.results))),
      plots.length ? h("section", {class: "plots"}, plots) : null,
      h("div", {class: "columns"},
        h("section", {}, h("h2", {}, "Run"), table("run", {
          created: dateTime(seconds(job.createdAt)), started: dateTime(started), finished: dateTime(finished),
          duration: started && finished ? duration(finished - started) : "", "last update": dateTime(seconds(job.updatedAt)),
          worker: job.worker ?? "", attempt: job.attempt, "end reason": job.endReason ?? "",
          "lease expires": dateTime(seconds(job.leaseExpiresAt)),
        })),
        h("section", {class: "lineage"}, h("h2", {}, "Lineage"),
          h("p", {}, "Member: ", job.member ?? "—", ", generation: ", job.generation ?? "—"),
          h("p", {class: "parent"}, "Parent: ", job.parentJob ? this.link(job.parentJob) : (job.parent ?? "none")),
          h("div", {class: "children"}, "Children: ", job.children.length
            ? h("ul", {}, job.children.map((c) => h("li", {}, this.link(c)))) : "none"))));
    // The learning curves of this job alone, drawn with the experiment plot's code.
    const data = {jobs: [{id: job.id, pk: 0, res: job.results, status: job.status}]};
    plots.forEach((fig, i) => curves(fig, data, null, curveKeys[i], () => null));
  }

  async requeue(job) {
    try {
      await request("POST", paths.requeue(this.experiment, job.id), {ifMatch: job.etag});
      this.lastBody = null;
      await this.refresh();
    } catch (e) { this.message.textContent = e.message; }
  }

  async remove(job) {
    if (!(await confirmDialog(`Delete job ${job.id} of ${this.experiment}? This cannot be undone.`, "Delete"))) return;
    try {
      await request("DELETE", paths.deleteJob(this.experiment, job.id));
      this.poller.stop();
      location.hash = `#/e/${seg(this.experiment)}`;
    } catch (e) { this.message.textContent = e.message; }
  }
}
