// One hyperparameter's (or the objective's) axis: a position in [0, 1] for every value, and ticks.

import {label, tickLabels} from "./format.js";
import {fraction, lerp, logTicks, ticks} from "./plotkit.js";

const finite = Number.isFinite;
const PAD = 0.03;  // the ends of an axis stay this far from the frame

/**
 * axisFor("lr", {numeric}, values, declared) → {name, numeric, log, pos(v), at(t), ticks: [{t, label}], cats?}
 * `declared` is the entry of declaredSpace (space.js) for the hyperparameter, if the search declares it.
 */
export function axisFor(name, info, values, declared) {
  if (declared && declared.kind === "category") return categories(name, declared.values, values);
  if (info.numeric || (declared && declared.kind !== "category")) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (typeof v === "number" && finite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (declared && finite(declared.low) && finite(declared.high)) {
      lo = Math.min(lo, declared.low);
      hi = Math.max(hi, declared.high);
    }
    if (lo === Infinity) { lo = 0; hi = 1; }
    const log = declared ? declared.kind === "log" && lo > 0 : lo > 0 && hi / lo > 100;
    return numeric(name, lo, hi, log);
  }
  return categories(name, null, values);
}

function numeric(name, lo, hi, log) {
  const f = log ? Math.log10 : (v) => v;
  // fraction() and lerp(): overflow-safe near the float limit (hi - lo of ±1.7e308 is Infinity).
  const a = f(lo), b = f(hi) === a ? a + 1 : f(hi);
  const pos = (v) => (typeof v === "number" ? PAD + (1 - 2 * PAD) * fraction(f(v), a, b) : NaN);
  const at = (t) => { const u = lerp(a, b, (t - PAD) / (1 - 2 * PAD)); return log ? Math.pow(10, u) : u; };
  let marks;
  if (log) {
    // Round values only (1e-4, 2e-4, 5e-4, …), never a raw sample such as 0.000175865.
    marks = logTicks(lo, hi);
  } else {
    marks = lo === hi ? [lo] : ticks([lo, hi], 4);
  }
  const names = tickLabels(marks);
  return {name, numeric: true, log, pos, at, lo, hi, ticks: marks.map((v, i) => ({t: pos(v), label: names[i]}))};
}

/** A Map key per value: primitives as they are (1 and "1" stay apart), objects by their JSON. */
const keyOf = (v) => (v !== null && typeof v === "object" ? "\u0000" + JSON.stringify(v) : v ?? null);

function categories(name, declaredValues, values) {
  const order = [];
  const seen = new Set();
  for (const v of declaredValues || []) { const k = keyOf(v); if (!seen.has(k)) { seen.add(k); order.push(v); } }
  const extra = [];
  for (const v of values) { const k = keyOf(v); if (!seen.has(k)) { seen.add(k); extra.push(v ?? null); } }
  // Undeclared values: numbers in numeric order, then the rest by their text.
  extra.sort((p, q) => (typeof p === "number" && typeof q === "number" ? p - q
    : typeof p === "number" ? -1 : typeof q === "number" ? 1 : String(keyOf(p)).localeCompare(String(keyOf(q)))));
  const cats = [...order, ...extra];
  const index = new Map(cats.map((c, i) => [keyOf(c), i]));
  const pos = (v) => { const i = index.get(keyOf(v)); return i === undefined ? NaN : (i + 0.5) / cats.length; };
  const every = Math.ceil(cats.length / 12);
  return {
    name, numeric: false, cats, pos, width: 1 / cats.length,
    ticks: cats.map((c, i) => ({t: (i + 0.5) / cats.length, label: label(c)})).filter((_, i) => i % every === 0),
  };
}

/** A small, stable sideways offset for a job on a category axis (the same on every refresh). */
export function jitter(job, axis) {
  if (axis.numeric) return 0;
  return ((((job.pk * 2654435761) >>> 0) % 1000) / 1000 - 0.5) * 0.5 * axis.width;
}
