"""The app in a real browser: serve `coherence-sim app`, drive it with headless Chromium.

Chromium is Debian's (`apt-get install -y chromium`; `make test` installs it when missing), driven
by Playwright's Python package; Playwright's own browser download is never used. Without chromium
the tests FAIL with a message saying how to install it: they are part of the suite, not optional.

What a class needs, checked at both window sizes of the issue (1280x800 and 1920x1080):

- every panel whole: each district's six element rows and the table's legend are inside the window
  without scrolling and clipped by no container; the caption, the chart and the story are whole
  once scrolled to (bounding boxes, checked in the page);
- a setting applies at once (no Reset): the run restarts with it and says so; a bad seed is refused
  with a message and leaves the run alone;
- two browser sessions have their own models;
- nothing is fetched from outside this machine.

Screenshots go to ``tmp_path``, or to ``$COHERENCE_APP_SCREENSHOTS`` when that is set (the
developers look at them there).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
SIZES = [(1280, 800), (1920, 1080)]
DISTRICTS = ("Avalon", "Birchwood", "Cedarville", "Diamond")

# True when ``el`` lies inside the window and inside every ancestor that clips its content
# (overflow other than visible), with a pixel of tolerance for borders.
FULLY_VISIBLE_JS = """
el => {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return 'has no size';
  const tol = 1;
  if (r.left < -tol || r.top < -tol || r.right > window.innerWidth + tol || r.bottom > window.innerHeight + tol)
    return `outside the window: ${JSON.stringify([r.left, r.top, r.right, r.bottom])} in ${window.innerWidth}x${window.innerHeight}`;
  for (let a = el.parentElement; a; a = a.parentElement) {
    const s = getComputedStyle(a);
    if ([s.overflow, s.overflowX, s.overflowY].some(o => o !== 'visible')) {
      const b = a.getBoundingClientRect();
      if (r.left < b.left - tol || r.top < b.top - tol || r.right > b.right + tol || r.bottom > b.bottom + tol)
        return `clipped by <${a.tagName.toLowerCase()} class="${a.className}">: ` +
               `${JSON.stringify([r.left, r.top, r.right, r.bottom])} outside ${JSON.stringify([b.left, b.top, b.right, b.bottom])}`;
    }
  }
  return 'ok';
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"the app server exited with code {proc.returncode}:\n{out[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the app server did not answer at {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    cli = Path(sys.executable).with_name("coherence-sim")
    cmd = [str(cli), "app", "--host", "127.0.0.1", "--port", str(port)] if cli.exists() else [
        sys.executable, "-m", "experiments.cli", "app", "--host", "127.0.0.1", "--port", str(port)]
    # the command itself turns Solara's telemetry and version check off (tests/test_app.py checks it)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_server(url, proc)
        yield url
    finally:
        # stop the server and its solara child (its own process group, started above)
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run `apt-get install -y chromium` (as root); `make test` does this")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Session:
    """One browser context (its own cookies: a new Solara session) on the app, recording every
    request that would leave this machine (and refusing it)."""

    def __init__(self, browser, url: str, size: tuple[int, int]):
        self.outside: list[str] = []
        self.context = browser.new_context(viewport={"width": size[0], "height": size[1]})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.goto(url)
        self.page.wait_for_selector("#app-month")
        self.page.wait_for_selector("#legend")

    def _route(self, route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def close(self):
        self.context.close()

    def month_text(self) -> str:
        return self.page.locator("#app-month").inner_text()

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            before = self.month_text()
            self.page.get_by_role("button", name="Step").click()
            self.page.wait_for_function("t => document.querySelector('#app-month')?.innerText !== t", arg=before)

    def select(self, label: str, option: str) -> None:
        """Pick ``option`` in the Vuetify select labelled ``label``."""
        page = self.page
        field = page.locator(".v-select").filter(has=page.locator("label", has_text=re.compile(f"^{re.escape(label)}$")))
        field.locator(".v-select__slot").click()
        page.locator(".menuable__content__active .v-list-item", has_text=re.compile(f"^{re.escape(option)}$")).click()
        page.wait_for_function(
            "([label, option]) => [...document.querySelectorAll('.v-select')].some(el => "
            "el.querySelector('label')?.innerText.trim() === label && "
            "el.querySelector('.v-select__selection')?.innerText.trim() === option)",
            arg=[label, option],
        )

    def show_district(self, name: str) -> None:
        self.page.locator(".district-panel .v-btn", has_text=re.compile(f"^{name}$", re.I)).click()
        self.page.wait_for_selector(f"#elements-{name}")

    def visibility(self, selector: str) -> list[str]:
        return self.page.locator(selector).evaluate_all(f"els => els.map({FULLY_VISIBLE_JS})")


def _screenshot_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("COHERENCE_APP_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_panel_is_whole(server, browser, size, tmp_path):
    """All six rows of each district and the legend in the window, unclipped, after 24 months (the
    tables are fuller than at the start); the caption, chart and story whole once scrolled to."""
    from playwright.sync_api import expect

    s = Session(browser, server, size)
    try:
        assert s.month_text().startswith("Start: before month 0 (Jul 2020) of 36")
        expect(s.page.locator("#app-caption")).to_contain_text("Press Step")
        s.step(24)
        assert s.month_text().startswith("Month 23 (Jun 2022) of 36")
        expect(s.page.locator("#app-caption")).to_have_text(re.compile(r"^June 2022: .+\.$"))
        for name in DISTRICTS:
            s.show_district(name)
            rows = f"#elements-{name} table.elements tbody tr"
            expect(s.page.locator(rows)).to_have_count(6)
            assert s.visibility(rows) == ["ok"] * 6, f"{name} at {size}: {s.visibility(rows)}"
            assert s.visibility("#legend") == ["ok"], f"{name} at {size}: {s.visibility('#legend')}"
            # the table fits its panel's width: no column cut off at the right
            assert s.page.evaluate("() => { const t = document.querySelector('table.elements');"
                                   " return t.scrollWidth <= t.parentElement.clientWidth + 1; }")
            if name == "Diamond":
                s.page.screenshot(path=str(_screenshot_dir(tmp_path) / f"app_{size[0]}x{size[1]}.png"))
        for panel in (".caption-panel", ".chart-panel", ".story-panel", "#dimensions-chart"):
            s.page.locator(panel).scroll_into_view_if_needed()
            assert s.visibility(panel) == ["ok"], f"{panel} at {size}: {s.visibility(panel)}"
        s.page.screenshot(path=str(_screenshot_dir(tmp_path) / f"app_{size[0]}x{size[1]}_scrolled.png"))
        # the chart: five lines, a point for the start and each month stepped
        expect(s.page.locator("#dimensions-chart polyline.dimension")).to_have_count(5)
        n_points = s.page.locator("#dimensions-chart polyline.dimension").first.get_attribute("points").split()
        assert len(n_points) == 25
        assert not s.outside, f"requests to outside hosts: {s.outside}"
    finally:
        s.close()


def test_settings_apply_at_once(server, browser, tmp_path):
    """Choosing a district, then giving its lead authority, each start a new run with the setting at
    once (no Reset); the page says changes apply at once; a bad seed is refused and the run kept."""
    from playwright.sync_api import expect

    s = Session(browser, server, SIZES[0])
    page = s.page
    try:
        expect(page.locator("#apply-note")).to_contain_text("Changes apply at once")
        assert s.visibility("#apply-note") == ["ok"]
        s.step(3)
        assert s.month_text().startswith("Month 2 (Sep 2020)")

        s.select("District", "Diamond")  # no Reset
        page.wait_for_function("document.querySelector('#app-month')?.innerText.includes('district Diamond')")
        assert s.month_text().startswith("Start: before month 0")  # a new run
        expect(page.locator(".district")).to_have_count(1)
        expect(page.locator("#elements-Diamond td.state")).to_have_text(["No change yet"] * 6)
        # the Diamond case: the fluency leader owns pedagogy, assessment and teacher learning
        owners = page.locator("#elements-Diamond td.owner").all_inner_texts()
        assert sum("fluency agenda" in o for o in owners) == 3, owners
        expect(page.locator(".team")).to_contain_text("without positional authority")

        s.step(2)
        s.select("Lead's positional authority", "with authority")
        page.wait_for_function("document.querySelector('#app-month')?.innerText.startsWith('Start')")
        expect(page.get_by_text("Diamond's lead (Director of Early Childhood) with authority.")).to_be_visible()
        expect(page.locator(".team")).to_contain_text("with positional authority")

        # a seed that is not a number: refused, said so, and the run is left as it was
        s.step(1)
        seed = page.get_by_label("Random seed (a whole number)")
        seed.fill("abc")
        seed.press("Enter")
        expect(page.get_by_text("seed: 'abc' is not a whole number")).to_be_visible()
        assert s.month_text().startswith("Month 0 (Jul 2020)")

        # step until the team has changed an element; the story tells of it, up to this month
        month = 0
        while month < 35:
            states = page.locator("#elements-Diamond td.state").all_inner_texts()
            if any(t.startswith(("Add on", "Transform")) for t in states):
                break
            s.step()
            month += 1
        assert any(t.startswith(("Add on", "Transform")) for t in states), f"no change in Diamond by month {month}"
        page.wait_for_function("() => /Month \\d+ \\([A-Z][a-z]{2} \\d{4}\\) — Diamond/.test("
                               "document.querySelector('#story')?.innerText)")
        told = [int(m) for m in re.findall(r"Month (\d+) \(", page.locator("#story").inner_text())]
        assert told and max(told) <= month
        assert not s.outside, f"requests to outside hosts: {s.outside}"
    finally:
        s.close()


def test_two_sessions_have_their_own_models(server, browser):
    """A second browser session starts its own run: it does not see the first's months or settings,
    and stepping or changing one leaves the other alone."""
    from playwright.sync_api import expect

    a = Session(browser, server, SIZES[0])
    try:
        a.step(3)
        assert a.month_text().startswith("Month 2 (Sep 2020)")
        b = Session(browser, server, SIZES[0])
        try:
            assert b.month_text().startswith("Start: before month 0")  # not the first session's month 2
            b.select("District", "Birchwood")
            b.page.wait_for_function("document.querySelector('#app-month')?.innerText.includes('district Birchwood')")
            b.step(1)
            assert b.month_text().startswith("Month 0 (Jul 2020)")
            # the first session: still all four districts at month 2, and its next step is month 3
            assert a.month_text().startswith("Month 2 (Sep 2020)") and "all four districts" in a.month_text()
            expect(a.page.locator(".district-panel .v-btn")).to_have_count(4)
            a.step(1)
            assert a.month_text().startswith("Month 3 (Oct 2020)")
            assert b.month_text().startswith("Month 0 (Jul 2020)")
            assert not a.outside and not b.outside
        finally:
            b.close()
    finally:
        a.close()
