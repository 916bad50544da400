// A sortable, filterable job table that renders only the rows in view, so 100k jobs stay fast.

import {h, fill} from "./dom.js";

const ROW_HEIGHT = 28;   // px; must match .jobs tbody tr in style.css
const OVERSCAN = 10;

/**
 * columns: [{key, label, value(job) → sortable value, text(job) → string, numeric, title}]
 * Sorting puts the finite numbers first (in numeric order), then the other values (texts), then
 * ±Infinity, then NaN, then missing values, in both directions (group()).
 */
/** A value's group in a sort, the same in both directions: finite numbers (0), then texts and other
 * values (1), ±Infinity (2), NaN (3), missing (4). Within groups 0-2 values sort by `<` in the
 * chosen direction, so a column mixing numbers and texts has both in order (as axis.js
 * categories() puts numbers before the rest), and a diverged run never tops the table. */
function group(v) {
  if (v === undefined || v === null) return 4;
  if (typeof v !== "number") return 1;
  if (Number.isNaN(v)) return 3;
  return Number.isFinite(v) ? 0 : 2;
}

export class VirtualTable {
  /** onOpen(job): a row was opened (click, Enter); onChange(): the sort or the scroll changed. */
  constructor({onOpen, onChange, sort}) {
    this.onOpen = onOpen;
    this.onChange = onChange || (() => null);
    this.columns = [];
    this.rows = [];
    this.filter = null;      // job → bool
    this.sort = sort && sort.key ? {key: sort.key, dir: sort.dir < 0 ? -1 : 1} : {key: null, dir: 1};
    this.view = [];
    this.dirty = true;
    this.head = h("thead");
    this.body = h("tbody");
    this.table = h("table", {class: "jobs"}, this.head, this.body);
    this.scroller = h("div", {class: "table-scroll"}, this.table);
    this.scroller.addEventListener("scroll", () => { this.draw(); this.onChange(); });
    // Keyboard: Tab reaches the headers (Enter or Space sorts) and the rows; in the rows, Enter
    // opens the job, the arrows, Page Up/Down, Home and End move (scrolling the rows in view).
    this.body.addEventListener("keydown", (event) => this.key(event));
    this.el = this.scroller;
  }

  /** Index (in the view) of the first row shown. */
  firstRow() { return Math.floor(this.scroller.scrollTop / ROW_HEIGHT); }

  scrollToRow(index) { this.scroller.scrollTop = Math.max(0, index) * ROW_HEIGHT; this.draw(); }

  key(event) {
    const row = event.target.closest && event.target.closest("tr[data-index]");
    if (!row) return;
    const index = Number(row.dataset.index);
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      this.onOpen(this.view[index]);
      return;
    }
    const page = Math.max(1, Math.floor(this.scroller.clientHeight / ROW_HEIGHT) - 1);
    const moves = {ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -Infinity, End: Infinity};
    if (!(event.key in moves)) return;
    event.preventDefault();
    this.focusRow(Math.max(0, Math.min(this.view.length - 1, index + moves[event.key])));
  }

  /** Focus the row at `index` of the view, scrolling it into view (it may not be rendered yet). */
  focusRow(index) {
    const top = index * ROW_HEIGHT, head = this.head.offsetHeight || ROW_HEIGHT;
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + ROW_HEIGHT > this.scroller.scrollTop + this.scroller.clientHeight - head) {
      this.scroller.scrollTop = top + ROW_HEIGHT - this.scroller.clientHeight + head;
    }
    this.draw();
    const el = this.body.querySelector(`tr[data-index="${index}"]`);
    if (el) el.focus({preventScroll: true});
  }

  setColumns(columns) {
    const signature = columns.map((c) => c.key).join("\u0000");
    this.columns = columns;
    if (signature !== this._signature) {
      this._signature = signature;
      if (this.sort.key && !columns.some((c) => c.key === this.sort.key)) this.sort = {key: null, dir: 1};
      this.drawHead();
    }
    this.dirty = true;
  }

  setRows(rows) { this.rows = rows; this.dirty = true; }
  setFilter(filter, resetScroll) {
    this.filter = filter;
    this.dirty = true;
    if (resetScroll) this.scroller.scrollTop = 0;
  }

  sortBy(key, dir) {
    this.sort = {key, dir: dir ?? (this.sort.key === key ? -this.sort.dir : 1)};
    this.dirty = true;
    this.drawHead();
    this.scroller.scrollTop = 0;
    this.draw();
    this.onChange();
    const button = this.head.querySelector(`th[data-key="${CSS.escape(key)}"] button`);
    if (button) button.focus();
  }

  drawHead() {
    fill(this.head, h("tr", {}, this.columns.map((c) => {
      const active = this.sort.key === c.key;
      return h("th", {
        class: (c.numeric ? "num " : "") + (active ? "sorted" : ""),
        scope: "col",
        "aria-sort": active ? (this.sort.dir > 0 ? "ascending" : "descending") : "none",
        dataset: {key: c.key},
      }, h("button", {class: "sort", type: "button", title: `${c.title || c.label}: sort`,
        onclick: () => this.sortBy(c.key)}, c.label, active ? (this.sort.dir > 0 ? " ▲" : " ▼") : ""));
    })));
  }

  /** Recompute which rows are shown and in what order. */
  compute() {
    let view = this.filter ? this.rows.filter(this.filter) : this.rows.slice();
    const column = this.columns.find((c) => c.key === this.sort.key);
    if (column) {
      const dir = this.sort.dir;
      const keys = new Map(view.map((job) => [job, column.value(job)]));
      view.sort((a, b) => {
        const va = keys.get(a), vb = keys.get(b);
        const ga = group(va), gb = group(vb);
        if (ga !== gb) return ga - gb;  // whatever the direction
        if (ga < 3) {
          if (va < vb) return -dir;
          if (va > vb) return dir;
        }
        return a.pk - b.pk;
      });
    }
    this.view = view;
    this.dirty = false;
    this.table.dataset.rows = String(view.length);
  }

  draw() {
    if (this.dirty) this.compute();
    const height = this.scroller.clientHeight || 480;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.view.length, first + Math.ceil(height / ROW_HEIGHT) + 2 * OVERSCAN);
    const top = h("tr", {class: "spacer", "aria-hidden": "true"});
    top.style.height = `${first * ROW_HEIGHT}px`;
    const bottom = h("tr", {class: "spacer", "aria-hidden": "true"});
    bottom.style.height = `${(this.view.length - last) * ROW_HEIGHT}px`;
    const rows = [];
    for (let i = first; i < last; i++) {
      const job = this.view[i];
      rows.push(h("tr", {
        class: `status-${job.status}`, dataset: {job: job.id, index: i}, tabindex: i === Math.min(last - 1, Math.max(first, this.firstRow())) ? 0 : -1,
        "aria-rowindex": i + 2, onclick: () => this.onOpen(job),
      }, this.columns.map((c) => {
        const text = c.text(job);
        return h("td", {class: c.numeric ? "num" : null, title: text.length > 24 ? text : null}, text);
      })));
    }
    // The focused row keeps its focus across a redraw (a poll, a scroll by the arrows).
    const focused = document.activeElement && this.body.contains(document.activeElement)
      ? document.activeElement.dataset.index : null;
    fill(this.body, top, rows, bottom);
    this.table.setAttribute("aria-rowcount", String(this.view.length + 1));
    if (focused !== null) {
      const el = this.body.querySelector(`tr[data-index="${focused}"]`);
      if (el) { el.tabIndex = 0; el.focus({preventScroll: true}); }
    }
  }
}
