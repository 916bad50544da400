// The dashboard: a login form, then three pages chosen by the URL's hash:
//   #/                      your experiments
//   #/e/NAME                one experiment (plots and job table)
//   #/e/NAME/j/ID           one job
// Pages poll the service (ETag / If-None-Match) while they are shown; ?poll=MS sets the period.

import {h, fill} from "./dom.js";
import {HttpError, paths, request} from "./api.js";
import {parseRoute} from "./start.js";
import {ExperimentsPage} from "./page_list.js";
import {ExperimentPage} from "./page_experiment.js";
import {JobPage} from "./page_job.js";

const main = document.getElementById("main");
const who = document.getElementById("who");
const params = new URLSearchParams(location.search);
export const POLL_MS = Math.max(200, Number(params.get("poll")) || 2000);

let current = null;
// Pages put back their own scroll once their data is drawn (see ExperimentPage.writeState).
if ("scrollRestoration" in history) history.scrollRestoration = "manual";

export function go(hash) { location.hash = hash; }

// A page's state (the table's sort, filters, scroll; the objective) follows its path after "?":
// #/e/NAME?sort=res.loss&dir=desc&status=DONE,CRASHED&row=120, so a view can be shared and Back
// returns to it (parseRoute, in start.js).

function route() {
  if (current) current.stop();
  const r = parseRoute();
  if (r.page === "experiment") current = new ExperimentPage(main, r.experiment, POLL_MS, r.params);
  else if (r.page === "job") current = new JobPage(main, r.experiment, r.job, POLL_MS);
  else if (r.page === "bad-address") current = badAddress(r.address);
  else current = new ExperimentsPage(main, POLL_MS, r.params);
  document.body.dataset.page = r.page;
  current.start();
}

/** The page of a hash whose names are not percent-encoded (#/e/50%): it says so, with the way back. */
function badAddress(address) {
  return {
    start() {
      document.title = "Not a valid address · Schedy";
      fill(main, h("nav", {class: "crumbs"}, h("a", {href: "#/"}, "Experiments")),
        h("p", {class: "error bad-address", role: "alert"},
          `“${address}” is not a valid experiment or job address: a “%” in it starts no valid percent-escape. `,
          h("a", {href: "#/"}, "Back to the experiments"), "."));
    },
    stop() {},
  };
}

function showLogin(message) {
  if (current) { current.stop(); current = null; }
  document.body.dataset.page = "login";
  fill(who);
  const error = h("p", {class: "error", role: "alert"}, message || "");
  const email = h("input", {type: "email", name: "email", autocomplete: "username", required: true, autofocus: true});
  const password = h("input", {type: "password", name: "password", autocomplete: "current-password", required: true});
  const form = h("form", {class: "login", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const {data} = await request("POST", paths.session, {body: {email: email.value, password: password.value}});
      loggedIn(data.email);
    } catch (e) {
      error.textContent = e instanceof HttpError && e.status === 403 ? "Wrong email or password." : e.message;
    }
  }},
  h("h1", {}, "Log in to Schedy"),
  h("label", {}, "Email", email),
  h("label", {}, "Password", password),
  h("button", {type: "submit"}, "Log in"),
  error,
  h("p", {class: "muted"}, "The first start of the service printed the admin's password; ",
    h("code", {}, "schedy user passwd EMAIL"), " sets a new one."));
  fill(main, form);
  email.focus();
}

function loggedIn(email) {
  fill(who, h("span", {class: "email"}, email), " ",
    h("button", {class: "link", onclick: async () => {
      await request("DELETE", paths.session).catch(() => null);
      showLogin("You are logged out.");
    }}, "Log out"));
  route();
}

window.addEventListener("hashchange", () => { if (document.body.dataset.page !== "login") route(); });
window.addEventListener("schedy:logged-out", () => showLogin("Your session ended; log in again."));

(async () => {
  try {
    const {data} = await request("GET", paths.session);
    loggedIn(data.email);
  } catch {
    showLogin();
  }
})();
