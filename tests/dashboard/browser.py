"""Helpers for the browser tests: log in, read what a plot exposes, read the pixels it painted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from schedy.testing import Credentials, ServiceProcess

POLL = 300


@dataclass
class Site:
    """A service a browser test module starts, its user, an API client as that user, and the jobs it made."""

    process: ServiceProcess
    user: Credentials
    api: httpx.Client
    jobs: Any  # what the module filled in, as it keeps it

    def url(self, fragment: str = "") -> str:
        """The page's URL with a short poll interval, at ``fragment`` (e.g. ``#/e/NAME``)."""
        return f"{self.process.url}?poll={POLL}{fragment}"


def open_page(chromium: Any, url: str, user: Credentials, width: int = 1280, height: int = 900) -> Any:
    """A new browser context of ``width`` × ``height`` pixels at ``url``, logged in as ``user``."""
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    page.goto(url)
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", user.password)
    page.click("button[type=submit]")
    page.wait_for_selector("#who .email")
    return page


def points(page: Any, selector: str) -> list[Any]:
    """The data points a plot exposes (``data-points``), once it has drawn."""
    page.wait_for_selector(f"{selector}[data-count]")
    return json.loads(page.get_attribute(selector, "data-points"))


def pixels(page: Any, selector: str, box: tuple[float, float, float, float], canvas: str = "canvas") -> list[list[int]]:
    """The RGBA pixels a figure's canvas holds in ``box`` (x0, y0, x1, y1 in CSS pixels of the canvas)."""
    return page.eval_on_selector(
        selector,
        """(fig, [box, which]) => {
            const canvas = which === "canvas" ? fig.canvas : fig.querySelector(which);
            const ctx = canvas.getContext("2d"), ratio = canvas.width / canvas.clientWidth;
            const [x0, y0, x1, y1] = box.map((v) => Math.round(v * ratio));
            const data = ctx.getImageData(x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0)).data;
            const out = [];
            for (let i = 0; i < data.length; i += 4) out.push([data[i], data[i + 1], data[i + 2], data[i + 3]]);
            return out;
        }""",
        [list(box), canvas],
    )


def painted(
    page: Any, selector: str, x: float, y: float, radius: float = 1.5, canvas: str = "canvas"
) -> list[list[int]]:
    """The pixels painted (alpha over 60) within ``radius`` CSS pixels of (x, y)."""
    return [p for p in pixels(page, selector, (x - radius, y - radius, x + radius, y + radius), canvas) if p[3] > 60]


def rgb(css: str) -> tuple[int, int, int]:
    """``"rgba(1,2,3,0.5)"`` or ``"rgb(1,2,3)"`` → (1, 2, 3)."""
    inner = css[css.index("(") + 1 : css.index(")")]
    r, g, b = (int(float(v)) for v in inner.split(",")[:3])
    return r, g, b


def near(pixel: list[int], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    """Whether a pixel has about that colour."""
    return all(abs(pixel[i] - colour[i]) <= tolerance for i in range(3))


def is_red(pixel: list[int]) -> bool:
    """The red of the non-finite markers (#cf222e)."""
    return near(pixel, (207, 34, 46), 45)
