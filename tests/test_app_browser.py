"""The app in a real browser: serve `coherence-sim app`, drive it with headless Chromium.

Chromium is Debian's (`apt-get install -y chromium`; `.ci/run` installs it when missing), driven by
Playwright's Python package; Playwright's own browser download is never used. Without chromium
the test FAILS with a message saying how to install it: it is part of CI, not optional.
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
STEPS = 6


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
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}, start_new_session=True)
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


def _select(page, label: str, option: str) -> None:
    """Pick ``option`` in the Vuetify select labelled ``label`` (Mesa's Select model parameter)."""
    field = page.locator(".v-select").filter(has=page.locator("label", has_text=re.compile(f"^{re.escape(label)}$")))
    field.locator(".v-select__slot").click()
    page.locator(".menuable__content__active .v-list-item", has_text=re.compile(f"^{re.escape(option)}$")).click()
    page.wait_for_function(
        "([label, option]) => [...document.querySelectorAll('.v-select')].some(el => "
        "el.querySelector('label')?.innerText.trim() === label && el.querySelector('.v-select__selection')?.innerText.trim() === option)",
        arg=[label, option],
    )


def _month_text(page) -> str:
    return page.locator("#app-month").inner_text()


def test_app_in_browser(server, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run `apt-get install -y chromium` (as root); .ci/run does this in CI")
    from playwright.sync_api import expect, sync_playwright

    t0 = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(30_000)
            page.goto(server)
            page.wait_for_selector("#app-month")
            assert _month_text(page).startswith("Start: before month 0 (Jul 2020) of 36")
            expect(page.locator(".district")).to_have_count(4)  # all four districts

            # Diamond alone, its lead given positional authority, then Reset builds the model
            _select(page, "District", "Diamond")
            _select(page, "Lead's positional authority", "with authority")
            page.get_by_role("button", name="Reset").click()
            page.wait_for_function("document.querySelector('#app-month')?.innerText.includes('district Diamond')")
            # each component of the page re-renders on its own message: wait for each (expect retries)
            expect(page.locator(".district")).to_have_count(1)
            expect(page.get_by_text("Diamond's lead (Director of Early Childhood) with authority.")).to_be_visible()
            expect(page.locator("#elements-Diamond td.state")).to_have_text(["No change"] * 6)

            step = page.get_by_role("button", name="Step")
            for i in range(STEPS):
                step.click()
                page.wait_for_function(
                    "m => document.querySelector('#app-month')?.innerText.startsWith(m)", arg=f"Month {i} ("
                )
            month = STEPS - 1
            assert _month_text(page).startswith(f"Month {month} (Dec 2020) of 36")
            # the four dimensions over time: five lines, one point per month collected so far
            lines = page.locator("#dimensions-chart polyline.dimension")
            expect(lines).to_have_count(5)
            page.wait_for_function(
                "n => document.querySelector('#dimensions-chart polyline.dimension')?.getAttribute('points')"
                ".trim().split(/\\s+/).length === n", arg=STEPS + 1)  # the start and each month stepped
            # keep stepping until an element has changed (at most the whole run)
            def changed(states):
                return any(s.startswith(("Add on", "Transform")) for s in states)

            states = page.locator("#elements-Diamond td.state").all_inner_texts()
            while not changed(states) and month < 35:
                step.click()
                month += 1
                page.wait_for_function(
                    "m => document.querySelector('#app-month')?.innerText.startsWith(m)", arg=f"Month {month} ("
                )
                states = page.locator("#elements-Diamond td.state").all_inner_texts()
            assert changed(states), f"no element of Diamond changed by month {month}: {states}"
            # the event log tells of the change, up to the current month only (its component
            # re-renders on its own: wait for it rather than read it at once)
            page.wait_for_function(
                "() => /Month \\d+ \\([A-Z][a-z]{2} \\d{4}\\) — Diamond/.test(document.body.innerText)"
            )
            log = page.inner_text("body")
            assert "Diamond" in log and re.search(r"Month \d+ \([A-Z][a-z]{2} \d{4}\) — Diamond", log)
            told = [int(m) for m in re.findall(r"Month (\d+) \([A-Z][a-z]{2} \d{4}\) — ", log)]
            assert told and max(told) <= month

            shot = tmp_path / "app.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    assert time.monotonic() - t0 < 60, "the browser test should stay under a minute"
