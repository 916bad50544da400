"""The PBT lineage, the best member's schedule and the early-stopping rungs in dark mode (issue 15).

Chromium is told the system prefers dark (``color_scheme="dark"``); the test
reads the canvases' pixels: edges, bars, lines and text must stand out from
the dark background (WCAG contrast of at least 3 for graphics), and no text is
drawn in the light mode's near-black. In light mode the same plots keep their
colours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from schedy.testing import Credentials, ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import POLL, near, pixels, points, rgb

DARK_BG = (13, 17, 23)
LIGHT_INK = [(31, 35, 40), (36, 41, 47), (87, 96, 106)]  # light mode's --fg, the old text colour, --muted
DARK = {
    "edge": (159, 176, 199),
    "exploit": (240, 136, 62),
    "fg": (230, 237, 243),
    "accent": (68, 147, 248),
    "soft": (36, 90, 150),
}
BEST_DOT = (130, 90, 210)  # plotkit.js's colour for the best value in dark mode (68, 1, 84 in light mode)
DARK_FAINT = [(61, 68, 77), (38, 44, 54)]  # dark --line and --grid
LIGHT = {"edge": (66, 80, 102), "exploit": (188, 76, 0), "accent": (9, 105, 218), "soft": (182, 212, 254)}
MARGIN_T, MARGIN_R, RUNG_LEFT = 12, 14, 130  # plotkit.js MARGIN.t / MARGIN.r, reports.js's bar start


@dataclass
class Site:
    """A service with one user, a PBT experiment and an ASHA experiment with reports."""

    process: ServiceProcess
    user: Credentials
    pbt: dict[str, dict[str, Any]]  # job id → job

    def url(self, fragment: str = "") -> str:
        return f"{self.process.url}?poll={POLL}{fragment}"


def asha(api: httpx.Client, name: str) -> None:
    """Twelve jobs reporting a loss at steps 1..9 under ASHA (rungs at steps 1 and 3)."""
    fill.put(
        api,
        fill.exp_path(name),
        {
            "scheduler": {"RandomSearch": {"lr": {"loguniform": {"low": 1e-3, "high": 1.0}}}},
            "earlyStopping": {
                "asha": {"resultName": "loss", "objective": "min", "minStep": 1, "reductionFactor": 3, "maxStep": 9}
            },
        },
    )
    for i in range(12):
        job = api.post(fill.exp_path(name) + "nextjob/", json={"heartbeat": 30, "worker": f"w{i % 3}"})
        assert job.status_code == 200, job.text
        job_id, tag = job.json()["id"], job.headers["ETag"]
        status, last = "DONE", 0.0
        for step in range(1, 10):
            last = (1 + (i * 7) % 12) / (step + 1)
            verdict = api.post(
                fill.exp_path(name) + f"jobs/{job_id}/reports/",
                content=json.dumps({"step": step, "metrics": {"loss": last}}),
            )
            assert verdict.status_code == 200, verdict.text
            if verdict.json()["stop"]:
                status = "PRUNED"
                break
        body = {"status": status, "hyperparameters": job.json()["hyperparameters"], "results": {"loss": last}}
        fill.put(api, fill.exp_path(name) + f"jobs/{job_id}/", body, **{"If-Match": tag})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("dark-plots"))
    user = process.new_user("dana@example.com")
    api = fill.client(user)
    jobs = {j["id"]: j for j in fill.pbt(api, "pbt", members=5, generations=7)}
    asha(api, "asha")
    api.close()
    yield Site(process, user, jobs)
    process.stop()


def opened(chromium: Any, site: Site, scheme: str) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site.url())
    page.fill("input[name=email]", site.user.email)
    page.fill("input[name=password]", site.user.password)
    page.click("button[type=submit]")
    page.wait_for_selector("#who .email")
    yield page
    assert errors == []
    context.close()


@pytest.fixture
def dark(chromium: Any, site: Site) -> Iterator[Any]:
    yield from opened(chromium, site, "dark")


@pytest.fixture
def light(chromium: Any, site: Site) -> Iterator[Any]:
    yield from opened(chromium, site, "light")


def ready(page: Any, site: Site, fragment: str) -> None:
    page.goto(site.url(fragment))
    page.wait_for_selector("body[data-ready=true] table.jobs tbody tr[data-job]")


def luminance(colour: tuple[float, float, float]) -> float:
    """WCAG relative luminance of an sRGB colour (0..255 components)."""

    def linear(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(pixel: list[int], background: tuple[int, int, int]) -> float:
    """The WCAG contrast ratio of a canvas pixel (composited over ``background``) with that background."""
    a = pixel[3] / 255
    shown = tuple(pixel[i] * a + background[i] * (1 - a) for i in range(3))
    hi, lo = sorted((luminance(shown), luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def project(page: Any, selector: str, generation: float, member: str) -> tuple[float, float]:
    x, y = page.eval_on_selector(selector, "(fig, args) => fig.project(...args)", [generation, member])
    return float(x), float(y)


def around(page: Any, selector: str, x: float, y: float, radius: float = 1.0) -> list[list[int]]:
    """The pixels painted (alpha over 60) within ``radius`` CSS pixels of (x, y)."""
    box = (x - radius, y - radius, x + radius + 1, y + radius + 1)
    return [p for p in pixels(page, selector, box) if p[3] > 60]


def edges(page: Any, selector: str) -> dict[str, list[list[list[int]]]]:
    """The pixels at the middle of each lineage edge, by kind: continue, exploit, best (the best lineage)."""
    nodes = points(page, selector)
    byid = {n["job"]: n for n in nodes}
    best = set(json.loads(page.get_attribute(selector, "data-best-path")))
    out: dict[str, list[list[list[int]]]] = {"continue": [], "exploit": [], "best": []}
    for n in nodes:
        parent = byid.get(n["parent"] or "")
        if parent is None:
            continue
        (x0, y0), (x1, y1) = (
            project(page, selector, parent["generation"], parent["member"]),
            project(page, selector, n["generation"], n["member"]),
        )
        kind = (
            "best"
            if {n["job"], parent["job"]} <= best
            else "exploit"
            if parent["member"] != n["member"]
            else "continue"
        )
        out[kind].append(around(page, selector, (x0 + x1) / 2, (y0 + y1) / 2))
    return out


def mostly(found: list[list[list[int]]], test: Any, share: float = 0.8) -> bool:
    """Whether at least ``share`` of the edges have a pixel passing ``test`` (edges may cross)."""
    return sum(any(test(p) for p in edge) for edge in found) >= share * len(found)


def text_pixels(page: Any, selector: str, box: tuple[float, float, float, float]) -> list[list[int]]:
    """The nearly opaque pixels in ``box``: the cores of the glyphs and lines drawn there."""
    return [p for p in pixels(page, selector, box) if p[3] > 200]


def not_light_ink(found: list[list[int]]) -> None:
    """Drawn, legible on the dark background, and nothing in the light mode's ink."""
    # Grid lines and ticks are faint by design (--line, --grid: as in light mode); the rest is legible.
    inked = [p for p in found if not any(near(p, faint, 6) for faint in DARK_FAINT)]
    assert inked, "something is drawn there"
    assert not [p for p in inked if any(near(p, ink, 12) for ink in LIGHT_INK)], "text in the light mode's ink"
    assert min(contrast(p, DARK_BG) for p in inked) >= 3


def test_dark_mode_lineage_edges_and_schedule_stand_out_from_the_dark_background(site, dark):
    ready(dark, site, "#/e/pbt")
    assert rgb(dark.eval_on_selector("body", "b => getComputedStyle(b).backgroundColor")) == DARK_BG
    lineage = 'figure[data-plot="lineage"]'
    found = edges(dark, lineage)
    assert found["continue"]
    assert found["exploit"]
    assert found["best"]
    for kind, colour in (("continue", DARK["edge"]), ("exploit", DARK["exploit"]), ("best", DARK["fg"])):
        assert mostly(found[kind], lambda p, c=colour: near(p, c, 40)), kind
        # Its colour (a thin line is antialiased: half a pixel's alpha on each of two rows) contrasts.
        assert mostly(found[kind], lambda p: contrast([*p[:3], 255], DARK_BG) >= 3), kind
        assert sum(sum(p[3] for p in edge) >= 255 for edge in found[kind]) >= 0.8 * len(found[kind]), kind
    # The best job's dot: the dark scale's light violet, which stands out by itself, and a ring.
    best = json.loads(dark.get_attribute(lineage, "data-best-path"))[-1]
    node = next(n for n in points(dark, lineage) if n["job"] == best)
    x, y = project(dark, lineage, node["generation"], node["member"])
    dot = pixels(dark, lineage, (x, y, x + 1, y + 1))[0]
    assert near(dot, BEST_DOT, 12), dot
    assert contrast(dot, DARK_BG) >= 3
    for dy in (-6, 5):  # the top and the bottom of the ring (radius 5.5 on the best lineage)
        rim = [p for p in pixels(dark, lineage, (x - 1, y + dy, x + 1, y + dy + 1)) if p[3] > 60]
        assert max(contrast(p, DARK_BG) for p in rim) >= 3, rim
    # Member names (left of the frame) and the axes: light on dark, not the light mode's ink.
    height = dark.eval_on_selector(lineage, "fig => fig.canvas.clientHeight")
    not_light_ink(text_pixels(dark, lineage, (0, 0, 54, height - 40)))
    not_light_ink(text_pixels(dark, lineage, (60, height - 38, 400, height)))

    schedule = 'figure[data-plot="schedule"]'
    chain = points(dark, schedule)
    assert chain
    height = dark.eval_on_selector(schedule, "fig => fig.canvas.clientHeight")
    width = dark.eval_on_selector(schedule, "fig => fig.canvas.clientWidth")
    # The hyperparameter's step line in the dark accent; the names, limits and ticks legible.
    drawn = text_pixels(dark, schedule, (61, MARGIN_T + 20, width - MARGIN_R - 1, MARGIN_T + 82))
    line = [p for p in drawn if near(p, DARK["accent"], 40)]
    assert line
    assert min(contrast(p, DARK_BG) for p in line) >= 3
    assert not [p for p in drawn if near(p, LIGHT["accent"], 30)]
    not_light_ink(text_pixels(dark, schedule, (0, 0, 58, height - 38)))  # the strips' limits
    not_light_ink(text_pixels(dark, schedule, (60, height - 38, width, height)))  # generations and the title
    not_light_ink(text_pixels(dark, schedule, (62, MARGIN_T + 9, 120, MARGIN_T + 22)))  # the name "h0"


def rung_bars(page: Any, selector: str) -> list[dict[str, Any]]:
    """Per rung: the pixel in the middle of its "went on" part and of its "stopped there" part (if wide enough)."""
    # The figure is drawn empty until the stopping summary arrives.
    page.wait_for_function("s => Number(document.querySelector(s)?.dataset.count) > 1", arg=selector)
    rows = points(page, selector)
    width = page.eval_on_selector(selector, "fig => fig.canvas.clientWidth")
    most = max(r["reached"] for r in rows)

    def w(n: int) -> float:  # reports.js's bar length
        return float((width - MARGIN_R - RUNG_LEFT - 60) * n / most)

    out = []
    for i, r in enumerate(rows):
        y = MARGIN_T + i * 26 + 13
        went = w(r["survived"] or 0)
        bar: dict[str, Any] = {"row": r, "y": y, "end": RUNG_LEFT + max(1.0, w(r["reached"]))}
        if went > 4:
            bar["on"] = pixels(page, selector, (RUNG_LEFT + went / 2, y, RUNG_LEFT + went / 2 + 1, y + 1))[0]
        if w(r["reached"]) - went > 4:
            x = RUNG_LEFT + (went + w(r["reached"])) / 2
            bar["stopped"] = pixels(page, selector, (x, y, x + 1, y + 1))[0]
        out.append(bar)
    return out


def test_dark_mode_rung_bars_and_their_labels_stand_out_from_the_dark_background(site, dark):
    ready(dark, site, "#/e/asha")
    rungs = 'figure[data-plot="rungs"]'
    bars = rung_bars(dark, rungs)
    assert len(bars) >= 2  # rungs at steps 1 and 3 (9 is the last step)
    on = [b["on"] for b in bars if "on" in b]
    stopped = [b["stopped"] for b in bars if "stopped" in b]
    assert on
    assert stopped
    for p in on:
        assert near(p, DARK["accent"], 20), p
        assert contrast(p, DARK_BG) >= 3
    for p in stopped:
        assert near(p, DARK["soft"], 20), p
        assert contrast(p, DARK_BG) >= 2  # the dimmer part, still well apart from the background
        assert contrast(p, tuple(on[0][:3])) >= 1.8  # and told apart from the part that went on
    # "step 1" left of each bar and "12 → 4" right of it: light on dark.
    for b in bars:
        not_light_ink(text_pixels(dark, rungs, (10, b["y"] - 7, RUNG_LEFT - 6, b["y"] + 7)))
    for b in bars:
        not_light_ink(text_pixels(dark, rungs, (b["end"] + 2, b["y"] - 7, 1200, b["y"] + 7)))


def test_light_mode_keeps_the_colours_of_the_lineage_and_the_rungs(site, light):
    ready(light, site, "#/e/pbt")
    found = edges(light, 'figure[data-plot="lineage"]')
    assert mostly(found["continue"], lambda p: near(p, LIGHT["edge"], 35))
    assert mostly(found["exploit"], lambda p: near(p, LIGHT["exploit"], 35))
    ready(light, site, "#/e/asha")
    bars = rung_bars(light, 'figure[data-plot="rungs"]')
    assert "on" in bars[-1]  # the last rung (3) shows how many went on from it too, not just how many reached it
    assert all(near(b["on"], LIGHT["accent"], 10) for b in bars if "on" in b)
    assert all(near(b["stopped"], LIGHT["soft"], 10) for b in bars if "stopped" in b)


def _legend_ends(page: Any) -> tuple[list[int], list[int]]:
    """The parallel coordinates' colour bar: its best end (top) and its worst end (bottom)."""
    parallel = 'figure[data-plot="parallel"]'
    page.wait_for_selector(f"{parallel}[data-legend]")
    at = page.eval_on_selector(
        parallel, "fig => ({w: fig.canvas.clientWidth, y0: fig.layout.frame.y0, y1: fig.layout.frame.y1})"
    )
    top = pixels(page, parallel, (at["w"] - 60, at["y1"] + 2, at["w"] - 58, at["y1"] + 4))[0]
    bottom = pixels(page, parallel, (at["w"] - 60, at["y0"] - 4, at["w"] - 58, at["y0"] - 2))[0]
    return top, bottom


def test_the_best_jobs_colour_stands_out_in_dark_mode_and_is_unchanged_in_light_mode(site, dark, light):
    """On the dark background the scale's best end is a light violet, not the light mode's near-black purple."""
    ready(dark, site, "#/e/pbt")
    best, worst = _legend_ends(dark)
    assert near(best, BEST_DOT, 30), best
    assert contrast(best, DARK_BG) >= 3, best
    assert near(worst, (253, 231, 37), 30), worst
    ready(light, site, "#/e/pbt")
    best, worst = _legend_ends(light)
    assert near(best, (68, 1, 84), 30), best
    assert near(worst, (253, 231, 37), 30), worst
