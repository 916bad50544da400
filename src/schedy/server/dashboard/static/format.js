// How values look: numbers (NaN and ±Infinity included), times, durations.

const NON_FINITE = {"NaN": NaN, "Infinity": Infinity, "-Infinity": -Infinity};

/** A result as a number: numbers as they are, "NaN"/"Infinity"/"-Infinity" (how the service
 * sends non-finite numbers) as such; undefined for anything else. */
export function asNumber(value) {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value in NON_FINITE) return NON_FINITE[value];
  if (typeof value === "boolean") return undefined;
  return undefined;
}

/** Whether the value is a list of numbers (a learning curve). */
export function isCurve(value) {
  // Three values at least: a pair of numbers is more often a vector than a curve.
  return Array.isArray(value) && value.length >= 3 && value.every((v) => asNumber(v) !== undefined);
}

export function num(value) {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "Infinity";
  if (value === -Infinity) return "-Infinity";
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e7)) return value.toExponential(4);
  return String(Number(value.toPrecision(6)));
}

/** A number for an axis label: three significant digits, short exponents ("2.4e-4"). */
export function short(value) {
  if (!Number.isFinite(value)) return num(value);
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e5 || abs < 1e-3) return value.toExponential(1).replace("e+", "e").replace(".0e", "e");
  return String(Number(value.toPrecision(3)));
}

/** One number in `digits` significant digits, exponents short ("1.025e308", "2e-4"). */
function compact(value, digits) {
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e5 || abs < 1e-3) {
    return value.toExponential(digits - 1).replace(/(\.\d*?)0+e/, "$1e").replace(".e", "e").replace("e+", "e");
  }
  return String(Number(value.toPrecision(digits)));
}

/**
 * Labels for an axis's ticks: the fewest significant digits that still tell every tick's value,
 * so ticks close together far from zero stay apart ("9.75e307", "1e308", "1.025e308") and round
 * ones stay short ("0.25", "1.2e5").
 */
export function tickLabels(values) {
  const finiteValues = values.filter(Number.isFinite);
  // Half the span: the whole overflows to Infinity across ±1.7e308 (and would let any digits pass).
  const half = finiteValues.length > 1 ? Math.max(...finiteValues) / 2 - Math.min(...finiteValues) / 2 : 0;
  for (let digits = 1; digits <= 15; digits++) {
    const out = values.map((v) => (Number.isFinite(v) ? compact(v, digits) : num(v)));
    const exact = values.every((v, i) => !Number.isFinite(v)
      || Math.abs(Number(out[i]) / 2 - v / 2) <= 1e-6 * (half || Math.abs(v / 2)));
    if (exact) return out;
  }
  return values.map(num);
}

/** A category's label: strings as they are (quoted only when blank: `""`, so the tick is seen),
 * numbers and others as in the table. */
export function label(value) {
  if (value === undefined) return "(none)";
  if (typeof value === "string" && value.trim() === "") return JSON.stringify(value);
  return show(value);
}

/** "1 value", "3 values". */
export function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** Any JSON value, short. */
export function show(value) {
  if (value === undefined) return "";
  if (value === null) return "null";
  if (typeof value === "number") return num(value);
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return String(value);
  if (isCurve(value)) return `[${value.length} values, last ${show(value[value.length - 1])}]`;
  const text = JSON.stringify(value);
  return text.length > 80 ? text.slice(0, 77) + "…" : text;
}

/** Any JSON value, in full (lists of numbers on one line). */
export function showFull(value) {
  if (typeof value === "string" || typeof value === "number" || value === null) return show(value);
  if (isCurve(value) || (Array.isArray(value) && value.length < 8)) return `[${value.map(show).join(", ")}]`;
  return JSON.stringify(value, null, 1);
}

export function dateTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const d = new Date(seconds * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// The service's clock, not the browser's, is what "now" means on the page (the project's times
// come from the service): the page keeps how far the browser's clock is from it, told by each
// answer's Date header (serviceClock(), from api.js), and now() reads the browser's clock plus that.
let clockOffset = 0;  // ms: the service's clock minus the browser's

/** How much later than its `Date` header an answer may leave the service (ms): the header has whole
 * seconds, and the server (uvicorn) writes it anew only about once a second. */
const DATE_LAG = 3000;

/**
 * Note the service's time an answer tells: its `Date` header, for a request sent at `sent` and
 * answered at `received` (the browser's ms). The offset changes only as much as that answer
 * requires, so clocks that agree within the header's few seconds are left as they are (no jitter
 * either way); a browser's clock hours off is corrected to within those seconds.
 */
export function serviceClock(date, sent, received = Date.now()) {
  const at = date ? Date.parse(date) : NaN;
  if (!Number.isFinite(at)) return;
  const least = at - received;  // the service's clock read `at` or later, before `received`…
  const most = at + DATE_LAG - Math.min(sent ?? received, received);  // …and before at + DATE_LAG, after `sent`
  clockOffset = Math.min(Math.max(clockOffset, least), Math.max(least, most));
}

/** Now by the service's clock, in ms since the epoch (Date.now() on the service, as well as the page can tell). */
export function now() {
  return Date.now() + clockOffset;
}

/** The time of day now, as dateTime writes it (HH:MM:SS, local). */
export function clock() {
  return dateTime(now() / 1000).slice(11);
}

/** A duration: "350 ms", "12.5 s", "2 min 0 s", "3 h 5 min"; rounded as shown (never "1 min 60 s"), never below 0. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  seconds = Math.max(0, seconds);
  const ms = Math.round(seconds * 1000);
  if (ms < 1000) return `${ms} ms`;
  const tenths = Math.round(seconds * 10);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Milliseconds since the epoch of the service's ISO time; one without a zone is UTC (as the service's are). */
export function parseTime(iso) {
  const text = String(iso).trim();
  const zoned = /(?:[zZ]|[+-]\d\d(?::?\d\d)?)$/.test(text) || !/\d[T ]\d/.test(text);
  return Date.parse(zoned ? text : text.replace(" ", "T") + "Z");
}

/** How long ago the service's ISO time was, by the service's clock: "just now", "5 min ago"… */
export function ago(iso) {
  if (!iso) return "";
  const seconds = (now() - parseTime(iso)) / 1000;
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 5) return "just now";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

export const STATUSES = ["QUEUED", "RUNNING", "DONE", "CRASHED", "PRUNED"];
