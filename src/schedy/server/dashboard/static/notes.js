// Notes: plain text kept by the service on an experiment or a job (GET/PUT …/notes/), edited in place.
//
// <section class="notes" data-notes=KIND> holds a textarea and a Save button; data-saved is the
// note's last-saved text time ("updatedAt") once the service has it. The editor is loaded once and
// not overwritten by polling, so what you type is never replaced under you.

import {h} from "./dom.js";
import {request, seg} from "./api.js";
import {dateTime} from "./format.js";

/** The API path of the notes of an experiment, or of one of its jobs. */
export function notesPath(experiment, job = null) {
  return `experiments/${seg(experiment)}/` + (job === null ? "" : `jobs/${seg(job)}/`) + "notes/";
}

export class NoteEditor {
  constructor(path, kind, title = "Notes", onJobs = null) {
    this.path = path;
    this.jobs = new Map();  // job id → note (the experiment's GET lists them)
    this.onJobs = onJobs;
    this.text = h("textarea", {name: "note", rows: 3, "aria-label": title, maxlength: 20000,
      placeholder: "Plain text kept with the search: what you tried, what you saw."});
    this.status = h("span", {class: "muted note-status", role: "status"});
    this.save = h("button", {class: "secondary", dataset: {action: "save-note"}, onclick: () => this.store()}, "Save note");
    this.text.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) this.store(); });
    this.text.addEventListener("input", () => { this.status.textContent = "not saved"; this.el.dataset.dirty = "true"; });
    this.el = h("section", {class: "notes", dataset: {notes: kind}}, h("h2", {}, title), this.text,
      h("div", {class: "note-bar"}, this.save, this.status));
  }

  async load() {
    try {
      const {data} = await request("GET", this.path);
      if (data.jobs) {
        this.jobs = new Map(Object.entries(data.jobs));
        if (this.onJobs) this.onJobs(this.jobs);
      }
      if (this.el.dataset.dirty === "true") return;
      this.show(data);
    } catch (error) {
      this.status.textContent = `Notes unavailable: ${error.message}`;
    }
  }

  show(note) {
    this.text.value = note.text;
    this.el.dataset.saved = note.updatedAt || "";
    delete this.el.dataset.dirty;
    this.status.textContent = note.updatedAt ? `saved ${dateTime(Date.parse(note.updatedAt) / 1000)}` : "";
    this.el.dataset.loaded = "true";
  }

  async store() {
    this.save.disabled = true;
    try {
      const {data} = await request("PUT", this.path, {body: {text: this.text.value}});
      this.show(data);
    } catch (error) {
      this.status.textContent = `Not saved: ${error.message}`;
    } finally {
      this.save.disabled = false;
    }
  }
}
