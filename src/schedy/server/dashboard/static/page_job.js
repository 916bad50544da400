// One job: hyperparameters, results, times, worker, lineage, and the actions on it.

import {h, fill, confirmDialog} from "./dom.js";
import {HttpError, paths, request, seg} from "./api.js";
import {Poller} from "./poll.js";
import {dateTime, duration, isCurve, plural, showFull} from "./format.js";
import {badge} from "./page_list.js";
import {curves} from "./plots.js";
import {figure} from "./plotkit.js";
import {Reports} from "./reports.js";
import {NoteEditor, notesPath} from "./notes.js";

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

/** Why the early-stopping policy stopped the job (a PRUNED job, or one still RUNNING that was told to stop). */
function stoppedBox(job) {
  if (!job.stopReason) return null;
  const title = job.status === "PRUNED" ? "Stopped early" : "Told to stop";
  return h("section", {class: "stopped"}, h("h2", {}, title),
    h("p", {class: "stop-reason"}, `The early-stopping policy said stop: ${job.stopReason}`));
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

/** The files stored with the job (checkpoints, models), each a download link. */
function artifactsSection(page, job) {
  const items = page.artifacts || [];
  const size = (n) => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB`
    : n < 1 << 30 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / (1 << 30)).toFixed(2)} GiB`);
  return h("section", {class: "artifacts"}, h("h2", {}, "Artifacts"),
    items.length ? h("div", {class: "wide-table"}, h("table", {class: "kv artifacts"},
      h("thead", {}, h("tr", {}, ["file", "size", "SHA-256", "stored"].map((t) => h("th", {scope: "col"}, t)))),
      h("tbody", {}, items.map((a) => h("tr", {dataset: {artifact: a.name}},
        h("td", {}, h("a", {href: paths.artifact(page.experiment, job.id, a.name), download: a.name}, a.name)),
        h("td", {}, size(a.size)), h("td", {title: a.sha256}, h("code", {}, a.sha256.slice(0, 12) + "…")),
        h("td", {}, dateTime(seconds(a.createdAt))))))))
      : h("p", {class: "muted"}, "No files stored with this job (job.save_artifact(path) stores one)."),
    items.length ? h("p", {class: "muted"}, plural(items.length, "file")) : null);
}

/** Whether a job has a place in a PBT population: a member, a generation, a parent or children. */
function hasLineage(job) {
  return job.member != null || job.generation != null || job.parent != null || (job.children || []).length > 0;
}

export class JobPage {
  constructor(root, experiment, id, ms) {
    this.root = root;
    this.experiment = experiment;
    this.id = id;
    this.poller = new Poller(() => this.refresh(), ms, (e) => this.failed(e));
    this.etag = null;
    this.job = null;
    this.reports = new Reports(experiment);
    this.artifacts = null;
    this.ticks = 0;
  }

  start() {
    document.title = `${this.id} · ${this.experiment} · Schedy`;
    this.content = h("div", {class: "job"});
    this.message = h("p", {class: "error", role: "alert"});
    this.notes = new NoteEditor(notesPath(this.experiment, this.id), "job", "Notes on this job");
    fill(this.root,
      h("nav", {class: "crumbs"}, h("a", {href: "#/"}, "Experiments"), " / ",
        h("a", {href: `#/e/${seg(this.experiment)}`}, this.experiment), " / ", this.id),
      this.message, this.content, this.notes.el);
    this.notes.load();
    this.poller.start();
  }

  stop() { this.poller.stop(); }

  failed(error) {
    if (error instanceof HttpError && error.status === 404) {
      this.poller.stop();
      fill(this.content, h("p", {class: "error"}, `Job ${this.id} does not exist in ${this.experiment}.`));
      this.notes.el.hidden = true;
      return;
    }
    this.message.textContent = error.message;
  }

  /** Conditional: the job is read again only when it changed (304 otherwise); its reports when it
   * changed, and while it runs (only the new ones); its artifacts when it changed and every fifth
   * round whatever its status (a checkpoint is often stored once the job has ended). */
  async refresh() {
    const answer = await request("GET", paths.job(this.experiment, this.id), {etag: this.etag});
    let changed = false;
    if (answer.status !== 304) {
      this.etag = answer.etag;
      this.job = answer.data;
      changed = true;
    }
    const running = this.job.status === "RUNNING";
    if (changed || running) changed = (await this.reports.refresh(this.id)) || changed;
    if (changed || ++this.ticks % 5 === 0) {
      const listed = await request("GET", paths.artifacts(this.experiment, this.id)).catch(() => null);
      const items = listed && listed.data ? listed.data.items : [];
      if (JSON.stringify(items) !== JSON.stringify(this.artifacts)) { this.artifacts = items; changed = true; }
    }
    if (changed) this.render(this.job);
    document.body.dataset.ready = "true";
  }

  link(job) {
    return h("a", {href: `#/e/${seg(this.experiment)}/j/${seg(job.id)}`, dataset: {job: job.id}},
      job.id, job.member ? ` (${job.member}, gen ${job.generation})` : "", " ", badge(job.status));
  }

  render(job) {
    const started = seconds(job.startedAt), finished = seconds(job.finishedAt);
    const actions = [];
    if (job.status === "CRASHED" || job.status === "PRUNED") {  // PRUNED: its next run is judged afresh
      actions.push(h("button", {dataset: {action: "requeue"}, onclick: () => this.requeue(job)}, "Re-queue"));
    }
    actions.push(h("button", {class: "danger", dataset: {action: "delete"}, onclick: () => this.remove(job)}, "Delete job"));
    const curveKeys = Object.keys(job.results).filter((k) => isCurve(job.results[k]));
    const plots = curveKeys.map((k) => figure("job-curve", `${k}`));
    const metrics = [...this.reports.metrics].sort();
    const reported = metrics.map((k) => figure("job-report", `${k} (reports)`));
    fill(this.content,
      h("h1", {}, `Job ${job.id} `, badge(job.status)),
      h("div", {class: "actions"}, actions),
      job.status === "CRASHED" ? errorBox(job.error, job.endReason) : null,
      stoppedBox(job),
      h("div", {class: "columns"},
        h("section", {}, h("h2", {}, "Hyperparameters"), table("hyperparameters", job.hyperparameters)),
        h("section", {}, h("h2", {}, "Results"), table("results", job.results))),
      plots.length || reported.length ? h("section", {class: "plots"}, reported, plots) : null,
      h("div", {class: "columns"},
        h("section", {}, h("h2", {}, "Run"), table("run", {
          created: dateTime(seconds(job.createdAt)), started: dateTime(started), finished: dateTime(finished),
          duration: started && finished ? duration(finished - started) : "", "last update": dateTime(seconds(job.updatedAt)),
          worker: job.worker ?? "", attempt: job.attempt, "end reason": job.endReason ?? "",
          // A lease is held only while the job runs.
          ...(job.status === "RUNNING" ? {"lease expires": dateTime(seconds(job.leaseExpiresAt))} : {}),
        })),
        attemptsSection(this, job),
        artifactsSection(this, job),
        // PBT's members and generations; a job of another search has none of them, and no section.
        hasLineage(job) ? h("section", {class: "lineage"}, h("h2", {}, "Lineage"),
          h("p", {}, "Member: ", job.member ?? "—", ", generation: ", job.generation ?? "—"),
          h("p", {class: "parent"}, "Parent: ", job.parentJob ? this.link(job.parentJob) : (job.parent ?? "none")),
          h("div", {class: "children"}, "Children: ", job.children.length
            ? h("ul", {}, job.children.map((c) => h("li", {}, this.link(c)))) : "none")) : null));
    // The learning curves of this job alone, drawn with the experiment plot's code.
    const one = {id: job.id, pk: 0, res: job.results, status: job.status};
    const data = {jobs: [one], byId: new Map([[job.id, one]])};
    plots.forEach((fig, i) => curves(fig, data, null, curveKeys[i], () => null));
    reported.forEach((fig, i) => curves(fig, data, null, metrics[i], () => null,
      {series: this.reports.series(data, metrics[i]), xLabel: "step (as reported)"}));
  }

  async requeue(job) {
    try {
      await request("POST", paths.requeue(this.experiment, job.id), {ifMatch: job.etag});
      this.etag = null;
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
