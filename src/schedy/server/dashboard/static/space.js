// The search space an experiment declares: how each hyperparameter's axis is drawn.
//
// The axis follows the declared distribution, never the sampled values: a Uniform(0, 0.6)
// is linear even when its samples span three decades; a LogUniform or a log Integer is
// logarithmic; a Choice (numbers included) is a set of categories in declared order.
// Hyperparameters the search does not declare (Manual, jobs added by hand) fall back to the
// values: numbers on a linear axis, a logarithmic one when positive over two decades.

/** Map of hyperparameter → {kind: "linear" | "log" | "category", low?, high?, values?, dist}. */
export function declaredSpace(experiment) {
  const out = new Map();
  const scheduler = experiment && experiment.scheduler;
  if (!scheduler || typeof scheduler !== "object") return out;
  const [name] = Object.keys(scheduler);
  const params = scheduler[name];
  if (!params || typeof params !== "object" || Array.isArray(params)) return out;
  if (name === "GridSearch") {
    for (const [k, values] of Object.entries(params)) {
      if (Array.isArray(values)) out.set(k, {kind: "category", values, dist: "grid"});
      else walk({[k]: values}, out);  // a range kept compact (an integer, a stepped uniform): as declared
    }
    return out;
  }
  if (name === "PBT") walk(params.init, out);
  else if (params.distributions && typeof params.distributions === "object") walk(params.distributions, out);
  else walk(params, out);
  return out;
}

function walk(space, out) {
  if (!space || typeof space !== "object") return;
  for (const [k, dist] of Object.entries(space)) {
    if (!dist || typeof dist !== "object" || Array.isArray(dist)) continue;
    const entries = Object.entries(dist);
    if (entries.length !== 1) continue;
    const [[kind, args]] = entries;
    const a = args && typeof args === "object" ? args : {};
    if (kind === "uniform" || kind === "normal") out.set(k, {kind: "linear", low: a.low, high: a.high, dist: kind});
    else if (kind === "loguniform") out.set(k, {kind: "log", low: a.low, high: a.high, dist: kind});
    else if (kind === "integer") out.set(k, {kind: a.log ? "log" : "linear", low: a.low, high: a.high, dist: kind});
    else if (kind === "const") out.set(k, {kind: "category", values: [args], dist: kind});
    else if (kind === "choice" && Array.isArray(a.values)) {
      out.set(k, {kind: "category", values: a.values, dist: kind});
      for (const branch of Object.values(a.branches || {})) walk(branch, out);
    }
  }
}
