"""Vendored plotting libraries against the dashboard's canvas kit, in real Chromium, at 100k points.

Draws the same 100,000-point scatter (and, where the library has one, 4,000-line
parallel coordinates) with uPlot, Apache ECharts and Plotly, and with the kit's
own ``dots()`` (``schedy/server/dashboard/static/plotkit.js``), in headless
Chromium, R times each, and prints for each: the bundle's bytes (raw and
gzipped), the time to load it (parse and evaluate), and the median time to draw.

The libraries are not dependencies of Schedy: fetch them once with npm and
point ``--packages`` at the directory they were unpacked in::

    mkdir /tmp/libs && cd /tmp/libs && npm pack uplot@1.6.32 echarts@6.1.0 plotly.js-dist-min@4.1.2
    for f in *.tgz; do tar xzf $f --one-top-level=${f%.tgz}; done
    python bench/plot_libraries.py --packages /tmp/libs [--repeat 5]

Needs Debian's ``chromium`` and ``playwright`` (dev extra).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import os
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

STATIC = Path(__file__).resolve().parents[1] / "src" / "schedy" / "server" / "dashboard" / "static"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
BUNDLES = {
    "uPlot 1.6.32": "uplot-1.6.32/package/dist/uPlot.iife.min.js",
    "ECharts 6.1.0": "echarts-6.1.0/package/dist/echarts.min.js",
    "Plotly 4.1.2": "plotly.js-dist-min-4.1.2/package/plotly.min.js",
}

# Each draws N points (xs, ys) into #box (640 × 260) and resolves when drawn; then, where the library
# has parallel coordinates, L lines over 4 axes.
DRAW = {
    "uPlot 1.6.32": """async (xs, ys) => {
        const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
        const x = Float64Array.from(order, (i) => xs[i]), y = Float64Array.from(order, (i) => ys[i]);
        const t = performance.now();
        new uPlot({width: 640, height: 260, scales: {x: {time: false}}, legend: {show: false}, cursor: {show: false},
          series: [{}, {stroke: "blue", paths: () => null, points: {show: true, size: 3, space: 0}}]},
          [x, y], document.getElementById("box"));
        return t;
    }""",
    "ECharts 6.1.0": """async (xs, ys) => {
        const data = xs.map((v, i) => [v, ys[i]]);
        const t = performance.now();
        const chart = echarts.init(document.getElementById("box"), null, {renderer: "canvas", width: 640, height: 260});
        chart.setOption({animation: false, xAxis: {}, yAxis: {},
          series: [{type: "scatter", symbolSize: 3, large: true, largeThreshold: 2000, data}]});
        return t;
    }""",
    "Plotly 4.1.2": """async (xs, ys) => {
        const t = performance.now();
        await Plotly.newPlot("box", [{x: xs, y: ys, mode: "markers", type: "scatter", marker: {size: 3}}],
          {width: 640, height: 260, margin: {l: 40, r: 10, t: 10, b: 30}}, {staticPlot: true});
        return t;
    }""",
    "Schedy's kit": """async (xs, ys) => {
        const kit = await import("/plotkit.js");
        const t = performance.now();
        const fig = document.createElement("figure");
        fig.style.width = "656px";
        fig.append(document.createElement("canvas"));
        fig.canvas = fig.firstChild;
        document.getElementById("box").append(fig);
        const {ctx, frame} = kit.context(fig, 260);
        const x = kit.scale(kit.extent(xs), [frame.x0, frame.x1]), y = kit.scale(kit.extent(ys), [frame.y0, frame.y1]);
        kit.axes(ctx, frame, x, y, {});
        const xy = new Float64Array(xs.length * 2);
        for (let i = 0; i < xs.length; i++) { xy[2 * i] = x(xs[i]); xy[2 * i + 1] = y(ys[i]); }
        kit.dots(ctx, frame, [{xy, rgb: [9, 105, 218], alpha: 0.55}], 3);
        return t;
    }""",
}
PARALLEL = {
    "ECharts 6.1.0": """async (rows) => {
        const t = performance.now();
        const chart = echarts.init(document.getElementById("box"), null, {renderer: "canvas", width: 640, height: 260});
        chart.setOption({animation: false, parallelAxis: [0, 1, 2, 3].map((dim) => ({dim})),
          series: [{type: "parallel", lineStyle: {opacity: 0.12}, data: rows}]});
        return t;
    }""",
    "Plotly 4.1.2": """async (rows) => {
        const t = performance.now();
        await Plotly.newPlot("box", [{type: "parcoords",
          dimensions: [0, 1, 2, 3].map((k) => ({values: rows.map((r) => r[k])}))}], {width: 640, height: 260});
        return t;
    }""",
    "Schedy's kit": """async (rows) => {
        const t = performance.now();
        const canvas = document.createElement("canvas");
        canvas.width = 640; canvas.height = 260;
        document.getElementById("box").append(canvas);
        const ctx = canvas.getContext("2d");
        ctx.strokeStyle = "rgba(33,145,140,0.12)";
        ctx.beginPath();
        const at = (v) => 250 - v * 240;
        for (const r of rows) r.forEach((v, k) => (k ? ctx.lineTo(40 + k * 180, at(v)) : ctx.moveTo(40, at(v))));
        ctx.stroke();
        ctx.getImageData(0, 0, 1, 1);  // wait for the raster
        return t;
    }""",
}
# The time from a drawing's start to the next frame painted after it (the drawing returns its start).
TIMED = """async () => {{ const t = await ({draw})({args});
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r)));
    return performance.now() - t; }}"""
DATA = """(n) => { let s = 7; const r = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    window.xs = Array.from({length: n}, r); window.ys = window.xs.map((v) => (v - 0.4) ** 2 + 0.05 * r());
    window.rows = Array.from({length: 4000}, () => [r(), r(), r(), r()]); }"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    """Serves the dashboard's static files without logging every request."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=Path, required=True, help="where `npm pack` output was unpacked")
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(STATIC)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"{'library':<15} {'bundle':>10} {'gzipped':>9} {'load':>8} {'scatter':>9} {'parallel':>9}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=ARGS)
        for name, draw in DRAW.items():
            loads, scatters, parallels = [], [], []
            size = zipped = 0
            for _ in range(args.repeat):
                page = browser.new_page(viewport={"width": 1000, "height": 800})
                page.goto(base + "index.html")
                page.set_content('<div id="box" style="width:640px;height:260px"></div>')
                page.evaluate(DATA, args.points)
                if name in BUNDLES:
                    source = (args.packages / BUNDLES[name]).read_bytes()
                    size, zipped = len(source), len(gzip.compress(source, 9))
                    before = page.evaluate("performance.now()")
                    page.add_script_tag(content=source.decode())
                    loads.append(page.evaluate("performance.now()") - before)
                else:
                    kit = [(STATIC / f).read_bytes() for f in ("plotkit.js", "axis.js", "plots.js")]
                    size, zipped = sum(map(len, kit)), sum(len(gzip.compress(b, 9)) for b in kit)
                    loads.append(0.0)
                scatters.append(page.evaluate(TIMED.format(draw=draw, args="window.xs, window.ys")))
                if name in PARALLEL:
                    page.evaluate("document.getElementById('box').replaceChildren()")
                    parallels.append(page.evaluate(TIMED.format(draw=PARALLEL[name], args="window.rows")))
                page.close()
            par = f"{statistics.median(parallels):7.0f}ms" if parallels else "      —"
            print(
                f"{name:<15} {size / 1e3:8.0f}kB {zipped / 1e3:7.0f}kB {statistics.median(loads):6.0f}ms "
                f"{statistics.median(scatters):7.0f}ms {par:>9}"
            )
        browser.close()
    server.shutdown()
    print(
        f"{args.points} points, 4000 lines; medians of {args.repeat}; {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
