// What the page does before its other modules arrive: read the route from the URL's hash and,
// on an experiment's page, start the request for its jobs at once, so the service reads them
// while the browser is still fetching and compiling the page's code (api.js's request() takes
// the answer instead of asking again). index.html loads this module first, with no imports.

/** Path segment for a name: percent-encoded with no safe characters (docs/protocol.md). */
export function seg(name) {
  return encodeURIComponent(name).replace(/[!'()*~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The jobs of an experiment, in columns (the experiment page's data). */
export const jobsPath = (exp) => `dashboard/api/experiments/${seg(exp)}/jobs/`;

/**
 * The page the hash names, and its state after "?" (the table's sort, filters, scroll; the objective):
 * #/ → {page: "list"}, #/e/NAME?sort=res.loss → {page: "experiment", experiment, params},
 * #/e/NAME/j/ID → {page: "job", experiment, job, params}; a path that is not percent-encoded
 * (#/e/50%, #/e/%E0%A4%A) → {page: "bad-address", address}, never an exception.
 */
export function parseRoute(hash = location.hash) {
  const path = hash.replace(/^#\/?/, "");
  const cut = path.indexOf("?");
  const params = new URLSearchParams(cut < 0 ? "" : path.slice(cut + 1));
  let parts;
  try {
    parts = (cut < 0 ? path : path.slice(0, cut)).split("/").map(decodeURIComponent);
  } catch {
    return {page: "bad-address", address: hash, params};
  }
  if (parts[0] === "e" && parts.length >= 2 && parts[1]) {
    if (parts[2] === "j" && parts[3]) return {page: "job", experiment: parts[1], job: parts[3], params};
    return {page: "experiment", experiment: parts[1], params};
  }
  return {page: "list", params};
}

const early = new Map();

/** The response of a GET started before the page's modules loaded, once; else undefined. */
export function takeEarly(path) {
  const response = early.get(path);
  early.delete(path);
  return response;
}

try {
  const first = parseRoute();
  if (first.page === "experiment") {
    const path = jobsPath(first.experiment);
    const response = fetch(path, {method: "GET", cache: "no-store", credentials: "same-origin"});
    response.catch(() => null);  // a failure is seen (and reported) by the request that takes it
    early.set(path, response);
  }
} catch {
  // Nothing here may stop the page (a hash that cannot be decoded is the "bad-address" page, in app.js).
}
