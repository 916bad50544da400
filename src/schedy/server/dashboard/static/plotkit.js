// Drawing plots on a canvas, and exposing what was drawn in the DOM.
//
// Every plot is a <figure class="plot" data-plot=KIND> holding a <canvas>. Its data points
// are on the figure: data-count (how many were drawn) and, up to POINTS_IN_DOM of them,
// data-points (JSON), so a person (or a test) can check exactly what the plot shows.

import {h} from "./dom.js";
import {tickLabels} from "./format.js";
import {colour} from "./theme.js";

export const POINTS_IN_DOM = 5000;
export const MARGIN = {l: 60, r: 14, t: 12, b: 38};
const PALETTE = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
// On the dark background (prefers-color-scheme, as style.css decides) the dark end, the best values,
// would vanish: there the scale starts at a light violet (contrast ≥ 3.9 with --bg) and still grows lighter.
const PALETTE_DARK = [[130, 90, 210], [70, 120, 190], [33, 150, 145], [94, 201, 98], [253, 231, 37]];
const DARK_SCHEME = globalThis.matchMedia ? globalThis.matchMedia("(prefers-color-scheme: dark)") : null;

/** A figure with a caption and a canvas; `draw(figure)` is called again on every refresh. */
export function figure(kind, title, extra) {
  const canvas = h("canvas", {role: "img", "aria-label": title});
  const note = h("div", {class: "plot-note"});
  const fig = h("figure", {class: "plot", dataset: {plot: kind}}, h("figcaption", {}, title, extra || null), canvas, note);
  fig.canvas = canvas;
  fig.note = note;
  fig.options = {};  // what the caption's controls chose (log-y, x by time, …)
  return fig;
}

/** Size the canvas to its figure and return a 2D context in CSS pixels. */
export function context(fig, height = 260) {
  const width = Math.max(260, fig.clientWidth - 16);
  const ratio = window.devicePixelRatio || 1;
  fig.canvas.width = Math.round(width * ratio);
  fig.canvas.height = Math.round(height * ratio);
  fig.canvas.style.width = `${width}px`;
  fig.canvas.style.height = `${height}px`;
  const ctx = fig.canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  return {ctx, width, height, frame: {x0: MARGIN.l, x1: width - MARGIN.r, y0: height - MARGIN.b, y1: MARGIN.t}};
}

/** Record the drawn points on the figure (`count`: how many were drawn, when `points` was left
 * empty because there are more than POINTS_IN_DOM). */
export function expose(fig, points, attributes = {}, count = points.length) {
  fig.dataset.count = String(count);
  if (count <= POINTS_IN_DOM) {
    fig.dataset.points = JSON.stringify(points);
    delete fig.dataset.truncated;
  } else {
    delete fig.dataset.points;
    fig.dataset.truncated = "true";
  }
  for (const [k, v] of Object.entries(attributes)) fig.dataset[k] = typeof v === "string" ? v : JSON.stringify(v);
  fig.points = points;
}

// Values near the float limit (a result of 1.7e308 beside -1e300 is legal): a difference of two
// finite values may overflow to Infinity (1.7e308 - -1.7e308), and a scale built on it draws
// every point on one edge. The arithmetic below works on halves where it would: each half and
// their difference stay finite, and halving is exact above the subnormals.
const MAX = Number.MAX_VALUE;
const clamp = (v) => Math.min(MAX, Math.max(-MAX, v));

/** hi - lo, or its half when the whole would overflow: [span, k] with span * k = hi - lo (k 1 or 2). */
function halfSpan(lo, hi) {
  const span = hi - lo;
  return Number.isFinite(span) ? [span, 1] : [hi / 2 - lo / 2, 2];
}

/** (v - lo) / (hi - lo) without overflow for finite v, lo, hi (0 when hi === lo). */
export function fraction(v, lo, hi) {
  const span = hi - lo;
  if (Number.isFinite(span) && Number.isFinite(v - lo)) return span ? (v - lo) / span : 0;
  const half = hi / 2 - lo / 2;
  return half ? (v / 2 - lo / 2) / half : 0;
}

/** lo + t * (hi - lo) without overflow, clamped to the finite numbers. */
export function lerp(lo, hi, t) {
  const [span, k] = halfSpan(lo, hi);
  return k === 1 ? clamp(lo + t * span) : clamp(2 * (lo / 2 + t * span));
}

/** [min, max] of finite values, widened when degenerate, padded by 4 % (never past ±MAX_VALUE). */
export function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) { const pad = Math.abs(lo) * 0.05 || 0.5; return [clamp(lo - pad), clamp(hi + pad)]; }
  const [span, k] = halfSpan(lo, hi), pad = span * 0.04 * k;  // at most 0.08 × MAX: finite
  return [clamp(lo - pad), clamp(hi + pad)];
}

export function scale([d0, d1], [r0, r1]) {
  const k = (r1 - r0) / (d1 - d0);
  const f = Number.isFinite(d1 - d0)
    ? (v) => r0 + (v - d0) * k
    : (v) => r0 + (r1 - r0) * fraction(v, d0, d1);
  f.domain = [d0, d1];
  return f;
}

export function ticks([lo, hi], count = 5) {
  const [span, k] = halfSpan(lo, hi);
  const step0 = (span / count) * k;  // finite for count ≥ 2
  if (!(step0 > 0) || !Number.isFinite(step0)) return Number.isFinite(lo) ? [lo] : [];
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0 && Number.isFinite(s)) || step0;
  const out = [];
  // Each tick as a multiple of the step (not a running sum, which stalls where v + step === v).
  for (let i = Math.ceil(lo / step); out.length <= 2 * count + 2; i++) {
    const v = i * step;
    if (!Number.isFinite(v) || !(v <= hi + step * 1e-9)) break;
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

const TITLE = 20;  // the rotated y-axis title's width from the canvas's left edge

/** Ticks as [{at, label}]: plain numbers get labels that tell them apart (tickLabels). */
function labelled(marks) {
  const plain = marks.filter((m) => typeof m !== "object");
  const names = tickLabels(plain);
  let i = 0;
  return marks.map((m) => (typeof m === "object" ? m : {at: m, label: names[i++]}));
}

/** Axes with ticks and labels; `xTicks` may be [{at, label}] for categories, `yTicks` numbers or [{at, label}]. */
export function axes(ctx, frame, x, y, {xLabel, yLabel, xTicks, yTicks}) {
  const ink = inks();
  ctx.strokeStyle = ink.line;
  ctx.fillStyle = ink.muted;
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  // The y labels sit between the axis title (up to TITLE px from the left) and the frame; a label
  // wider than that is narrowed to fit rather than run under the title or off the canvas.
  const room = frame.x0 - 6 - TITLE;
  const drawn = [];
  for (const tick of labelled(yTicks || ticks(y.domain))) {
    const py = Math.round(y(tick.at)) + 0.5;
    ctx.beginPath(); ctx.moveTo(frame.x0, py); ctx.lineTo(frame.x1, py); ctx.stroke();
    ctx.fillText(String(tick.label), frame.x0 - 6, py, room);
    drawn.push(String(tick.label));
  }
  ctx.canvas.dataset.yTicks = JSON.stringify(drawn);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const right = ctx.canvas.width / (ctx.getTransform().a || 1);
  const below = [];
  for (const t of labelled(xTicks || ticks(x.domain))) {
    const px = Math.round(x(t.at)) + 0.5;
    ctx.beginPath(); ctx.moveTo(px, frame.y0); ctx.lineTo(px, frame.y0 + 4); ctx.stroke();
    // A label never runs off the canvas: the last one ends at its right edge.
    const text = String(t.label).slice(0, 14), half = ctx.measureText(text).width / 2;
    ctx.fillText(text, Math.max(half + 1, Math.min(px, right - half - 1)), frame.y0 + 6);
    below.push(text);
  }
  ctx.canvas.dataset.xTicks = JSON.stringify(below);
  ctx.strokeStyle = ink.frame;
  ctx.beginPath(); ctx.moveTo(frame.x0, frame.y1); ctx.lineTo(frame.x0, frame.y0); ctx.lineTo(frame.x1, frame.y0); ctx.stroke();
  ctx.fillStyle = ink.fg;
  if (xLabel) ctx.fillText(xLabel, (frame.x0 + frame.x1) / 2, frame.y0 + 22);
  if (yLabel) {
    ctx.save();
    ctx.translate(12, (frame.y0 + frame.y1) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(yLabel, 0, -6);
    ctx.restore();
  }
}

/** The RGB components of the colour for t in [0, 1] (0: dark, 1: light); non-finite t is light. */
export function rgb(t) {
  const palette = DARK_SCHEME && DARK_SCHEME.matches ? PALETTE_DARK : PALETTE;
  const v = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 1)) * (palette.length - 1);
  const i = Math.min(palette.length - 2, Math.floor(v)), f = v - i;
  return palette[i].map((a, k) => Math.round(a + (palette[i + 1][k] - a) * f));
}

/** A CSS colour for t in [0, 1] (0: dark, 1: light). */
export function color(t, alpha = 1) {
  const [r, g, b] = rgb(t);
  return `rgba(${r},${g},${b},${alpha})`;
}

/**
 * Squares of `size` CSS pixels centred on points, written straight into pixels and
 * blended, then laid over the canvas in one drawImage. Canvas paths of 100k rectangles
 * cost far more to build and rasterise; this costs a few operations per pixel.
 * `layers`: [{xy: [px, py, px, py, …] in CSS pixels, rgb: [r, g, b], alpha}], drawn in
 * order (later layers on top). Points outside the frame (plus `size`) are clipped.
 */
export function dots(ctx, frame, layers, size) {
  const ratio = ctx.getTransform().a || 1;
  const left = Math.floor((frame.x0 - size) * ratio), top = Math.floor((frame.y1 - size) * ratio);
  const w = Math.ceil((frame.x1 + size) * ratio) - left, hgt = Math.ceil((frame.y0 + size) * ratio) - top;
  if (w <= 0 || hgt <= 0) return;
  const image = new ImageData(w, hgt);
  const px = image.data;
  // The same pixels as 32-bit words (RGBA bytes in memory order, so on a little-endian machine
  // A is the high byte): an empty pixel takes a point's colour in one store.
  const words = new Uint32Array(px.buffer, px.byteOffset, w * hgt);
  const little = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  const side = Math.max(1, Math.round(size * ratio)), half = side / 2;
  for (const {xy, rgb: [r, g, b], alpha} of layers) {
    const keep = 1 - alpha, opacity = Uint8ClampedArray.of(alpha * 255)[0];  // as a store into px rounds it
    const word = little ? ((opacity << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | opacity) >>> 0;
    for (let i = 0; i < xy.length; i += 2) {
      const cx = Math.round(xy[i] * ratio - half) - left, cy = Math.round(xy[i + 1] * ratio - half) - top;
      const x1 = Math.min(w, cx + side), y1 = Math.min(hgt, cy + side);
      for (let yy = Math.max(0, cy); yy < y1; yy++) {
        for (let p = yy * w + Math.max(0, cx), end = yy * w + x1; p < end; p++) {
          if (words[p] === 0) {  // nothing below: the colour as it is
            words[p] = word;
            continue;
          }
          const o = p * 4;
          // "source over" with straight (not premultiplied) alpha, as ImageData stores it.
          const below = (px[o + 3] / 255) * keep, out = alpha + below;
          px[o] = (r * alpha + px[o] * below) / out;
          px[o + 1] = (g * alpha + px[o + 1] * below) / out;
          px[o + 2] = (b * alpha + px[o + 2] * below) / out;
          px[o + 3] = out * 255;
        }
      }
    }
  }
  // putImageData would replace the axes under the dots: compose through a scratch canvas.
  const scratch = document.createElement("canvas");
  scratch.width = w;
  scratch.height = hgt;
  scratch.getContext("2d").putImageData(image, 0, 0);
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.drawImage(scratch, left, top);
  ctx.restore();
}

/** Tooltips and clicks on the nearest drawn point: points carry px, py and a label; or a plot
 * sets fig.nearest(mx, my) → {job, label} (e.g. the nearest curve) and fig.highlight(hit, ctx)
 * to draw the hovered item on an overlay canvas. */
export function interactive(fig, onClick) {
  if (fig.interactive) return;
  fig.interactive = true;
  const tip = h("div", {class: "plot-tip", hidden: true, role: "status"});
  const overlay = h("canvas", {class: "plot-overlay", "aria-hidden": "true"});
  fig.append(tip, overlay);
  const nearest = (event) => {
    const rect = fig.canvas.getBoundingClientRect();
    const mx = event.clientX - rect.left, my = event.clientY - rect.top;
    if (fig.nearest) return {best: fig.nearest(mx, my), mx, my};
    let best = null, bestD = 64;
    for (const p of fig.hits || []) {
      const d = (p.px - mx) ** 2 + (p.py - my) ** 2;
      if (d < bestD) { best = p; bestD = d; }
    }
    return {best, mx, my};
  };
  const clearOverlay = () => { overlay.hidden = true; fig.hovered = null; delete fig.dataset.hovered; };
  fig.canvas.addEventListener("mousemove", (event) => {
    const {best, mx, my} = nearest(event);
    tip.hidden = !best;
    if (best) {
      tip.textContent = best.label;
      const left = fig.canvas.offsetLeft + mx + 14;
      tip.style.left = `${Math.min(left, Math.max(0, fig.clientWidth - tip.offsetWidth - 4))}px`;
      tip.style.top = `${fig.canvas.offsetTop + my + 16}px`;
      fig.dataset.hovered = best.job || "";
    }
    if (best && fig.highlight) {
      overlay.hidden = false;
      const ratio = window.devicePixelRatio || 1;
      overlay.width = fig.canvas.width;
      overlay.height = fig.canvas.height;
      overlay.style.width = fig.canvas.style.width;
      overlay.style.height = fig.canvas.style.height;
      overlay.style.left = `${fig.canvas.offsetLeft}px`;
      overlay.style.top = `${fig.canvas.offsetTop}px`;
      const octx = overlay.getContext("2d");
      octx.setTransform(ratio, 0, 0, ratio, 0, 0);
      fig.highlight(best, octx);
    } else if (!best) clearOverlay();
    fig.canvas.style.cursor = best && best.job ? "pointer" : "default";
  });
  fig.canvas.addEventListener("mouseleave", () => { tip.hidden = true; clearOverlay(); });
  fig.canvas.addEventListener("click", (event) => {
    const {best} = nearest(event);
    if (best && best.job) onClick(best.job);
  });
}

/** At most this many labelled ticks on a log axis: across more decades, every k-th power of ten. */
const LOG_TICKS = 8;
/** The steps k between labelled powers of ten, the smallest that keeps at most LOG_TICKS. */
const DECADE_STEPS = [1, 2, 3, 4, 5, 10, 20, 25, 50, 100, 200];

/** Nice round values for a logarithmic axis over [lo, hi] (lo > 0): powers of ten (at most
 * LOG_TICKS of them: every k-th one, k a round step, multiples of k, so 1e-12 … 1e12 ticks 1e-12,
 * 1e-8, …, 1e12 and 1e-300 … 1e300 ticks every 100th), or 1-2-5 steps inside a decade or two, or
 * the linear ticks when the range is narrower still. Never raw values. */
export function logTicks(lo, hi) {
  lo = Math.max(lo, Number.MIN_VALUE);
  hi = Math.min(hi, MAX);  // 10 ** 308.5 is Infinity: the loop below would never end
  const out = [];
  const inside = (v) => Number.isFinite(v) && v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9);
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * Math.pow(10, e);
      if (inside(v)) out.push(Number(v.toPrecision(12)));
    }
  }
  const powers = [];  // the exponents of the powers of ten inside [lo, hi]
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) if (inside(Math.pow(10, e))) powers.push(e);
  if (powers.length >= 3) {
    const span = powers[powers.length - 1] - powers[0];
    const k = DECADE_STEPS.find((step) => span / step < LOG_TICKS) || Math.ceil((span + 1) / LOG_TICKS);
    return powers.filter((e) => e % k === 0).map((e) => Number(Math.pow(10, e).toPrecision(12)));
  }
  if (out.length >= 2) return out;
  return ticks([lo, hi], 4).filter((v) => v > 0);
}

/**
 * A scale of values (the objective) onto [r0, r1], linear or logarithmic: f(v) → pixels, with
 * f.lin (the linear scale of the domain drawn, log10 of it when log) and f.ticks ([{at, label}] in
 * that domain) for axes(). Log needs positive values: with any finite value ≤ 0, f.log is false.
 */
export function valueScale(values, range, log = false) {
  let positive = true;
  for (const v of values) if (Number.isFinite(v) && v <= 0) { positive = false; break; }
  const useLog = log && positive;
  if (!useLog) {
    const lin = scale(extent(values), range);
    const f = (v) => lin(v);
    return Object.assign(f, {lin, log: false, ticks: ticks(lin.domain)});
  }
  const logs = [];
  for (const v of values) if (Number.isFinite(v)) logs.push(Math.log10(v));
  const lin = scale(extent(logs), range);
  const f = (v) => lin(Math.log10(v));
  const [a, b] = lin.domain;
  const marks = logTicks(Math.pow(10, a), Math.min(Math.pow(10, b), MAX));
  const names = tickLabels(marks);
  return Object.assign(f, {lin, log: true, ticks: marks.map((v, i) => ({at: Math.log10(v), label: names[i]}))});
}

/** Round times for an axis of milliseconds (after t0 = `t0` seconds since the epoch), labelled as
 * clock times (with the day when the range spans days): round in the browser's time zone, as the
 * labels (05:30 in Kolkata is not a round time), across changes to and from daylight saving time
 * too (hours and days are stepped on the clock, so labels stay evenly spaced as clock times). */
export function timeTicks([lo, hi], t0, count = 5) {
  const steps = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400].map((s) => s * 1000);
  const step = steps.find((s) => (hi - lo) / s <= count) || steps[steps.length - 1];
  const base = t0 * 1000, first = base + lo, last = base + hi;
  const d = new Date(first);
  let at;  // the n-th candidate tick from a round local time at or before `first`, in ms since the epoch
  if (step <= 1800 * 1000) {
    // Steps that divide half an hour: every time zone's offset, and its daylight saving shift, is
    // whole half-hours or quarter-hours; stepping in real time keeps them evenly spaced.
    const within = ((d.getMinutes() * 60 + d.getSeconds()) * 1000 + d.getMilliseconds()) % step;
    at = (n) => first - within + n * step;
  } else if (step < 86400 * 1000) {
    const hours = step / 3600000;
    const [y, m, day, h] = [d.getFullYear(), d.getMonth(), d.getDate(), Math.floor(d.getHours() / hours) * hours];
    at = (n) => new Date(y, m, day, h + n * hours).getTime();
  } else {
    const days = step / 86400000;
    // Weeks from a Monday.
    const day = d.getDate() - (days === 7 ? (d.getDay() + 6) % 7 : 0);
    const [y, m] = [d.getFullYear(), d.getMonth()];
    at = (n) => new Date(y, m, day + n * days).getTime();
  }
  const out = [];
  const spansDays = hi - lo > 86400 * 1000;
  let previous = -Infinity;
  for (let n = 0; n < 100000; n++) {
    const t = at(n);
    if (t > last) break;
    if (t < first || t <= previous) continue;  // before the range; an hour that does not exist (DST)
    previous = t;
    const tick = new Date(t);
    const hm = `${String(tick.getHours()).padStart(2, "0")}:${String(tick.getMinutes()).padStart(2, "0")}`;
    const label = spansDays ? `${tick.getMonth() + 1}/${tick.getDate()} ${hm}`
      : step < 60000 ? `${hm}:${String(tick.getSeconds()).padStart(2, "0")}` : hm;
    out.push({at: t - base, label});
  }
  return out;
}

/** A checkbox for a figure's caption: toggles `fig.options[key]` and redraws the figure. */
export function toggle(fig, key, text) {
  const box = h("input", {type: "checkbox", name: key, onchange: () => { fig.options[key] = box.checked; if (fig.redraw) fig.redraw(); }});
  return h("label", {class: "plot-option"}, box, ` ${text}`);
}

/** A select for a figure's caption: sets `fig.options[key]` and redraws the figure. */
export function choose(fig, key, text, choices) {
  const select = h("select", {name: key, "aria-label": text, onchange: () => { fig.options[key] = select.value; if (fig.redraw) fig.redraw(); }},
    choices.map(([value, label]) => h("option", {value, selected: fig.options[key] === value}, label)));
  return h("label", {class: "plot-option"}, `${text} `, select);
}

/** The page's colours for what a plot draws (CSS variables of style.css: dark mode reaches the
 * canvases): text, muted text, grid lines, the frame and the background. */
export function inks() {
  return {fg: colour("--fg", "#24292f"), muted: colour("--muted", "#57606a"), line: colour("--line", "#d0d7de"),
    frame: colour("--muted", "#8c959f"), bg: colour("--bg", "#ffffff")};
}
