// PBT: the lineage of members over generations, and the hyperparameter schedule of the best member.

import {bestJob, objectiveOf} from "./model.js";
import {num, short} from "./format.js";
import {axes, color, context, expose, extent, fraction, inks, interactive, MARGIN, scale} from "./plotkit.js";
import {colour} from "./theme.js";

/**
 * The colours of these plots, read from the page's CSS variables at each draw (dark mode too):
 * edges of a member continuing itself (--edge: slate in light, well apart from the axes; light
 * slate in dark) and of an exploit (--exploit: orange), the best lineage (--fg), nodes by status
 * (ringed in --dot-ring in dark mode, where the best values' dark purple would vanish).
 */
function palette() {
  return {
    ...inks(),
    grid: colour("--grid", "#eaeef2"),
    accent: colour("--accent", "#0969da"),
    edge: colour("--edge", "#425066"),
    exploit: colour("--exploit", "#bc4c00"),
    ring: colour("--dot-ring", "transparent"),
    status: {RUNNING: colour("--running", "#0969da"), QUEUED: colour("--queued", "#8c959f"),
      CRASHED: colour("--crashed", "#cf222e"), PRUNED: colour("--pruned", "#9a6700")},
  };
}

/** Integer generations to label on an axis from `lo` to `hi`: at most about 12. */
function generationTicks(lo, hi) {
  const step = Math.max(1, Math.ceil((hi - lo + 1) / 12));
  const out = [];
  for (let g = lo; g <= hi; g += step) out.push(g);
  return out;
}

/** The chain of jobs from the first generation to `job`, following parents. */
export function ancestry(data, job) {
  const chain = [];
  const seen = new Set();
  for (let j = job; j && !seen.has(j.id); j = j.parent ? data.byId.get(j.parent) : null) {
    chain.push(j);
    seen.add(j.id);
  }
  return chain.reverse();
}

/** Members (rows) over generations (columns); an edge from each job to its parent, exploits in orange. */
export function lineage(fig, data, objective, open) {
  const nodes = data.jobs.filter((j) => j.member !== null && j.generation !== null);
  const members = [...new Set(nodes.map((j) => j.member))].sort();
  const row = new Map(members.map((m, i) => [m, i]));
  const best = objective ? bestJob(nodes, objective) : null;
  const path = best ? ancestry(data, best) : [];
  const onPath = new Set(path.map((j) => j.id));
  const height = Math.min(520, Math.max(200, members.length * 16 + MARGIN.t + MARGIN.b));
  const {ctx, frame} = context(fig, height);
  const ink = palette();
  const maxGen = Math.max(1, ...nodes.map((j) => j.generation));
  const x = scale([0.5, maxGen + 0.5], [frame.x0, frame.x1]);
  const y = scale([-0.5, members.length - 0.5], [frame.y1, frame.y0]);
  const every = Math.ceil(members.length / 24);
  const yTicks = [];
  axes(ctx, frame, x, {domain: [0, 1]}, {
    xLabel: "generation", yLabel: "member",
    xTicks: generationTicks(1, maxGen).map((g) => ({at: g, label: g})),
    yTicks,
  });
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  ctx.fillStyle = ink.muted;
  members.forEach((m, i) => { if (i % every === 0) ctx.fillText(m.slice(0, 8), frame.x0 - 6, y(i)); });
  const values = nodes.map((j) => objectiveOf(j, objective));
  const [lo, hi] = extent(values);
  const tone = (v) => (Number.isFinite(v) ? (objective.direction === "min" ? fraction(v, lo, hi) : fraction(v, hi, lo)) : 1);
  let exploits = 0;
  for (const job of nodes) {
    const parent = job.parent ? data.byId.get(job.parent) : null;
    if (!parent || parent.generation === null || !row.has(parent.member)) continue;
    const exploit = parent.member !== job.member;
    if (exploit) exploits++;
    const strong = onPath.has(job.id) && onPath.has(parent.id);
    ctx.strokeStyle = strong ? ink.fg : exploit ? ink.exploit : ink.edge;
    ctx.lineWidth = strong ? 3 : exploit ? 1.6 : 1.2;
    ctx.beginPath();
    ctx.moveTo(x(parent.generation), y(row.get(parent.member)));
    ctx.lineTo(x(job.generation), y(row.get(job.member)));
    ctx.stroke();
  }
  const hits = [];
  const r = members.length > 40 || maxGen > 60 ? 2.5 : 4;
  for (const job of nodes) {
    const px = x(job.generation), py = y(row.get(job.member));
    const value = objectiveOf(job, objective);
    ctx.fillStyle = job.status === "DONE" ? color(tone(value)) : ink.status[job.status] || ink.status.QUEUED;
    ctx.beginPath(); ctx.arc(px, py, onPath.has(job.id) ? r + 1.5 : r, 0, 2 * Math.PI); ctx.fill();
    if (ink.ring !== "transparent") { ctx.strokeStyle = ink.ring; ctx.lineWidth = 1; ctx.stroke(); }
    hits.push({px, py, job: job.id, label: `${job.id} · ${job.member} gen ${job.generation} · ${job.status}${value !== undefined ? ` · ${num(value)}` : ""}`});
  }
  fig.project = (generation, member) => [x(generation), y(row.get(member))];
  fig.note.textContent = `${members.length} members, ${exploits} exploits (orange edges). `
    + (best ? `Thick line: the lineage of the best job, ${best.id}.` : "");
  fig.hits = hits;
  expose(fig, nodes.map((j) => ({job: j.id, member: j.member, generation: j.generation, parent: j.parent, status: j.status})),
    {bestPath: path.map((j) => j.id), exploits: String(exploits)});
  interactive(fig, open);
}

/** Each numeric hyperparameter along the best job's ancestry, one strip per hyperparameter. */
export function schedule(fig, data, objective, hpKeys, open) {
  const nodes = data.jobs.filter((j) => j.member !== null && j.generation !== null);
  const best = objective ? bestJob(nodes, objective) : null;
  const chain = best ? ancestry(data, best) : [];
  const names = [...hpKeys.keys()].filter((k) => hpKeys.get(k).numeric);
  const strip = 90;
  const {ctx, frame} = context(fig, Math.max(120, names.length * strip + MARGIN.t + MARGIN.b));
  const ink = palette();
  const gens = chain.map((j) => j.generation);
  const x = scale([Math.min(1, ...gens) - 0.5, Math.max(1, ...gens) + 0.5], [frame.x0, frame.x1]);
  const hits = [], labels = [];
  // Generations: a faint line and a label for each (thinned past a dozen), under the strips.
  const marks = chain.length ? generationTicks(Math.min(...gens), Math.max(...gens)) : [];
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.fillStyle = ink.muted;
  for (const g of marks) {
    const px = Math.round(x(g)) + 0.5;
    ctx.strokeStyle = ink.grid;
    ctx.beginPath(); ctx.moveTo(px, frame.y1); ctx.lineTo(px, frame.y0 - 6); ctx.stroke();
    ctx.strokeStyle = ink.frame;
    ctx.beginPath(); ctx.moveTo(px, frame.y0 - 6); ctx.lineTo(px, frame.y0 - 2); ctx.stroke();
    ctx.fillText(String(g), px, frame.y0);
  }
  names.forEach((name, i) => {
    const top = frame.y1 + i * strip + 8, bottom = frame.y1 + (i + 1) * strip - 8;
    const y = scale(extent(chain.map((j) => j.hp[name])), [bottom, top]);
    ctx.strokeStyle = ink.line;
    ctx.strokeRect(frame.x0, top, frame.x1 - frame.x0, bottom - top);
    ctx.fillStyle = ink.fg;
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(name, frame.x0 + 4, top + 2);
    ctx.textAlign = "right";
    ctx.fillStyle = ink.muted;
    ctx.fillText(short(y.domain[1]), frame.x0 - 4, top);
    ctx.textBaseline = "bottom";
    ctx.fillText(short(y.domain[0]), frame.x0 - 4, bottom);
    labels.push(short(y.domain[1]), short(y.domain[0]));
    ctx.strokeStyle = ink.accent;
    ctx.lineWidth = 2;
    ctx.beginPath();
    chain.forEach((job, k) => {
      const px = x(job.generation), py = y(job.hp[name]);
      if (k === 0) ctx.moveTo(px, py); else { ctx.lineTo(px, y(chain[k - 1].hp[name])); ctx.lineTo(px, py); }
      hits.push({px, py, job: job.id, label: `${job.id} · gen ${job.generation} · ${name} = ${num(job.hp[name])}`});
    });
    ctx.stroke();
    // Where the member copied another (an exploit), mark the step.
    chain.forEach((job, k) => {
      if (k > 0 && chain[k - 1].member !== job.member) {
        ctx.fillStyle = ink.exploit;
        ctx.beginPath(); ctx.arc(x(job.generation), y(job.hp[name]), 3.5, 0, 2 * Math.PI); ctx.fill();
      }
    });
  });
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.fillStyle = ink.fg;
  ctx.fillText("generation (lineage of the best job; orange: after an exploit)", (frame.x0 + frame.x1) / 2, frame.y0 + 20);
  fig.note.textContent = best ? `Best job ${best.id} (member ${best.member}, generation ${best.generation}).` : "No finished job yet.";
  fig.hits = hits;
  expose(fig, chain.map((j) => ({job: j.id, member: j.member, generation: j.generation, hyperparameters: j.hp})),
    {best: best ? best.id : "", ticks: marks.map(String), labels});
  interactive(fig, open);
}
