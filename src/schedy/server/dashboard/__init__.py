"""The dashboard: web pages served by the service at ``/``, and the reads that make them fast.

* :mod:`.routes` serves the page, its assets (``static/``: plain HTML, CSS
  and ES modules, no build step, nothing loaded from elsewhere) and the
  JSON endpoints under ``/dashboard/api/``.
* :mod:`.cookies` is the browser session: an HttpOnly, SameSite=Strict
  cookie holding the session token, and the CSRF check that every
  cookie-authenticated state-changing request must pass.
* :mod:`.service` holds the use cases (one transaction each);
  :mod:`.columns` and :mod:`.objective` shape their answers;
  :mod:`.importance` computes hyperparameter importance (PED-ANOVA).

See docs/dashboard.md.
"""
