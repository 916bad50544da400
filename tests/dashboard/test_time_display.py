"""Times on the dashboard in real headless Chromium: by the service's clock, in the browser's time zone.

"Now" is the service's (told by each answer's Date header), not the browser's:
a browser whose clock is 2 h ahead still shows an experiment active a moment
ago as such, and a running job's timeline bar up to the service's now. Time
axes tick at round local times (Kolkata is UTC+05:30; New York's ticks stay
round across the change from daylight saving time); durations carry what
they round ("2 min 0 s", never "1 min 60 s") and are never negative.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from schedy.testing import ServiceProcess
from tests.dashboard import fill
from tests.dashboard.browser import POLL, Site, points

TIMELINE = 'figure[data-plot="timeline"]'
AHEAD = 2 * 3600 * 1000  # the browser's clock, ahead of the service's by 2 h (ms)

#: The page's own modules (the versioned URLs it loaded them from, so the same instances).
MODULES = """async () => {
    const url = (name) => document.querySelector(`link[href*="/${name}"]`).href;
    return {format: await import(url("format.js")), plotkit: await import(url("plotkit.js"))};
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("times"))
    user = process.new_user("tess@example.com")
    api = fill.client(user)
    fill.put(api, fill.exp_path("clock"), {"scheduler": {"RandomSearch": {"x": {"uniform": {"low": 0, "high": 1}}}}})

    def claim() -> httpx.Response:
        answer = api.post(fill.exp_path("clock") + "nextjob/", content=json.dumps({"worker": "w1"}))
        assert answer.status_code == 200, answer.text
        return answer

    done = claim()  # a job done (the page draws its plots once a job has results), then one running
    body = {"status": "DONE", "hyperparameters": done.json()["hyperparameters"], "results": {"loss": 1.0}}
    fill.put(api, fill.exp_path("clock") + f"jobs/{done.json()['id']}/", body, **{"If-Match": done.headers["ETag"]})
    yield Site(process, user, api, claim().json())
    api.close()
    process.stop()


def browse(chromium: Any, site: Site, zone: str, skew_ms: int = 0, *, log_in: bool = True) -> Any:
    """A page in time zone ``zone`` whose Date.now() is ``skew_ms`` off, logged in unless told not to."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, timezone_id=zone)
    if skew_ms:
        context.add_init_script(f"(() => {{ const now = Date.now; Date.now = () => now.call(Date) + {skew_ms}; }})();")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    page.goto(site.url())
    if log_in:
        page.fill("input[name=email]", site.user.email)
        page.fill("input[name=password]", site.user.password)
        page.click("button[type=submit]")
        page.wait_for_selector("#who .email")
    else:
        page.wait_for_selector("input[name=email]")
    return page


def test_a_browser_clock_2_h_ahead_in_kolkata_sees_the_service_s_now_and_local_round_times(
    chromium: Any, site: Site
) -> None:
    page = browse(chromium, site, "Asia/Kolkata", AHEAD)
    try:
        page.goto(site.url("#/"))
        row = 'table.experiments tr[data-experiment="clock"]'
        page.wait_for_selector(row)
        activity = page.inner_text(f"{row} td:last-child")
        assert activity == "just now" or re.fullmatch(r"\d\d? s ago", activity), activity  # not "2 h ago"
        updated = re.search(r"Updated (\d\d:\d\d:\d\d)", page.inner_text("p.live"))
        assert updated, page.inner_text("p.live")
        kolkata = datetime.now(ZoneInfo("Asia/Kolkata"))
        shown = datetime.combine(kolkata.date(), datetime.strptime(updated.group(1), "%H:%M:%S").time(), kolkata.tzinfo)
        off = (shown - kolkata).total_seconds() % 86400  # (across midnight too)
        assert min(off, 86400 - off) < 30, (updated.group(1), kolkata)  # Kolkata's time by the service, not +2 h

        ten_min_ago = (datetime.now(UTC) - timedelta(minutes=10)).isoformat(timespec="milliseconds")[:-6]  # no zone
        found = page.evaluate(
            f"""async () => {{
                const {{format, plotkit}} = await ({MODULES})();
                const t0 = Date.parse("2026-12-07T00:00:00Z") / 1000;
                return {{
                    durations: [119.6, 179.5, 3599.7, 7170, 86399, 59.96, 0.9996, -0.5, 12.34].map(format.duration),
                    ago: [format.ago("{ten_min_ago}"), format.ago("{ten_min_ago}Z")],
                    hours: plotkit.timeTicks([0, 10 * 3600e3], t0).map((t) => t.label),
                    halves: plotkit.timeTicks([0, 2 * 3600e3], t0).map((t) => t.label),
                    days: plotkit.timeTicks([0, 3 * 86400e3], t0).map((t) => t.label),
                }};
            }}"""
        )
        assert found["durations"] == [
            "2 min 0 s", "3 min 0 s", "1 h 0 min", "2 h 0 min", "24 h 0 min", "1 min 0 s", "1.0 s", "0 ms", "12.3 s",
        ]  # fmt: skip
        assert found["ago"] == ["10 min ago", "10 min ago"]  # a time without a zone is the service's UTC
        assert found["hours"] == ["06:00", "09:00", "12:00", "15:00"]  # not 05:30, 08:30…: UTC's round times
        assert found["halves"] == ["05:30", "06:00", "06:30", "07:00", "07:30"]
        assert found["days"] == ["12/8 00:00", "12/9 00:00", "12/10 00:00"]

        # The running job's bar reaches the service's now, not 2 h past it.
        page.goto(site.url("#/e/clock"))
        page.wait_for_selector(f"{TIMELINE}[data-count]")
        (bar,) = [b for b in points(page, TIMELINE) if b["job"] == site.jobs["id"]]
        assert bar["status"] == "RUNNING"
        assert 0 <= bar["end"] - bar["start"] < 60_000, bar
        assert page.errors == []
    finally:
        page.context.close()


def test_time_axis_ticks_stay_round_clock_times_across_the_end_of_daylight_saving_time(
    chromium: Any, site: Site
) -> None:
    page = browse(chromium, site, "America/New_York", log_in=False)
    try:
        ticks = page.evaluate(
            f"""async () => {{
                const {{plotkit}} = await ({MODULES})();
                const labels = (start, hours) => plotkit.timeTicks([0, hours * 3600e3], Date.parse(start) / 1000)
                    .map((t) => t.label);
                // 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00Z); 2026-03-08: 02:00 EST becomes 03:00 EDT.
                return [labels("2026-11-01T03:00:00Z", 6), labels("2026-11-01T03:30:00Z", 4),
                        labels("2026-11-01T05:00:00Z", 1.5), labels("2026-03-08T05:00:00Z", 4)];
            }}"""
        )
        assert ticks == [
            ["00:00", "03:00"],  # not 23:00 | 01:00 | 04:00
            ["00:00", "01:00", "02:00"],
            ["01:00", "01:30", "01:00", "01:30"],  # the hour from 01:00 to 02:00, twice
            ["00:00", "01:00", "03:00", "04:00", "05:00"],
        ]
        assert page.errors == []
    finally:
        page.context.close()


assert POLL  # the page polls every POLL ms (site.url), so answers and their Date headers keep coming
