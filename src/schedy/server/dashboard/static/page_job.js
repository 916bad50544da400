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

/** What a crashed attempt raised: type and message, and the end of its traceback (folded). */
function errorBox(error, endReason) {
  if (!error) {
    const why = endReason === "lease-expired" ? "its worker stopped sending heartbeats (the lease expired)"
      : "its worker sent no error (an older client, or the job was marked CRASHED by hand)";
    return h("section", {class: "crash"}, h("h2", {}, "Crashed"), h("p", {class: "muted"}, `No error text: ${why}.`));
  }
  return h("section", {class: "crash", role: "alert"}, h("h2", {}, "Crashed"),
    h("p", {class: "error-line"}, h("strong", {class: "error-type"}, error.type), ": ",
      h("span", {class: "error-message"}, error.message)),
    error.traceback ? h("details", {}, h("summary", {}, "Traceback (its last frames)"),
      h("pre", {class: "traceback"}, error.traceback)) : null);
}

/** Every attempt of the job, earlier ones first: outcome, worker, times, error. */
function attemptsSection(page, job) {
  const rows = [...(job.attempts || []), {
    attempt: job.attempt, job: job.id, status: job.status, endReason: job.endReason, worker: job.worker,
    startedAt: job.startedAt, finishedAt: job.finishedAt, error: job.error, current: true,
  }];
  const cell = (a) => (a.error ? `${a.error.type}: ${a.error.message}` : "");
  return h("section", {class: "attempts"}, h("h2", {}, "Attempts"),
    h("div", {class: "wide-table"}, h("table", {class: "kv attempts"},
      h("thead", {}, h("tr", {}, ["#", "job", "status", "end reason", "worker", "started", "finished", "error"]
        .map((t) => h("th", {scope: "col"}, t)))),
      h("tbody", {}, rows.map((a) => h("tr", {dataset: {attempt: a.attempt}, class: a.current ? "current" : null},
        h("td", {}, String(a.attempt)),
        h("td", {}, a.job === job.id ? a.job : h("a", {href: `#/e/${seg(page.experiment)}/j/${seg(a.job)}`}, a.job)),
        h("td", {}, badge(a.status)), h("td", {}, a.endReason ?? ""), h("td", {}, a.worker ?? ""),
        h("td", {}, dateTime(seconds(a.startedAt))), h("td", {}, dateTime(seconds(a.finishedAt))),
        h("td", {class: "attempt-error", title: cell(a)}, cell(a))))))));
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
      job.status === "CRASHED" ? errorBox(job.error, job.endReason) : null,
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
        attemptsSection(this, job),
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
