"""The app's server side (issue 15, class 7): it stays offline (no Solara version check, no
telemetry), warns when it listens beyond this machine, prints the port it really uses for
``--port 0``, and its Solara server stops with it (kill -TERM, and kill -9 on Linux).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def _app_command():
    from experiments.cli import commands

    return commands.app_command, commands.host_warning


def test_the_server_is_started_offline_by_default():
    app_command, _ = _app_command()
    cmd, env = app_command("127.0.0.1", 8765)
    assert "--no-check-version" in cmd  # Solara's start-up request to the package index
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False" and env["SOLARA_ASSETS_PROXY"] == "true"
    assert "--no-check-version" not in app_command("127.0.0.1", 8765, check_version=True)[0]
    assert build_parser().parse_args(["app"]).check_version is False


@pytest.mark.parametrize(("host", "warns"), [("127.0.0.1", False), ("localhost", False), ("::1", False), ("127.0.0.2", False),
                                             ("0.0.0.0", True), ("::", True), ("192.168.1.20", True), ("10.0.0.1", True)])
def test_a_host_beyond_this_machine_is_warned_about(host, warns):
    _, host_warning = _app_command()
    w = host_warning(host)
    assert (w is not None) == warns
    if warns:
        assert "reachable from the network" in w and host in w


def test_the_warning_is_printed_and_port_0_prints_the_real_port(monkeypatch, capsys):
    import subprocess as sp

    started = {}

    class FakeServer:
        def __init__(self, cmd, **kw):
            started["cmd"] = cmd

        def wait(self, timeout=None):
            return 0

        def poll(self):
            return 0

    monkeypatch.setattr(sp, "Popen", FakeServer)
    assert main(["app", "--host", "0.0.0.0", "--port", "0"]) == 0
    out, err = capsys.readouterr()
    assert "warning: --host 0.0.0.0 makes the app reachable from the network" in err
    port = int(re.search(r"serving on http://0\.0\.0\.0:(\d+)", out).group(1))
    assert port > 0 and started["cmd"][started["cmd"].index("--port") + 1] == str(port)


# --- a real server ----------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _kill_all(proc: subprocess.Popen, kids: list[int]) -> None:
    """SIGKILL to the test's server session (the parent's process group) and to each server process."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for k in kids:
        try:
            os.kill(k, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


def _start() -> tuple[subprocess.Popen, int, list[int]]:
    env = {**os.environ}
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "app", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
        assert m, line
        port = int(m.group(1))
        assert port != 0
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not _listening(port):
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        assert _listening(port), "the app did not listen on the port it printed"
        return proc, port, _children(proc.pid)
    except BaseException:  # leave nothing running (the server and its parent are this test's own session)
        _kill_all(proc, _children(proc.pid))
        raise


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the server's processes")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_the_server_stops_with_its_parent(sig):
    proc, port, kids = _start()
    try:
        assert kids, "no server process found"
        os.kill(proc.pid, sig)  # the parent only, not its process group
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (_listening(port) or any(_alive(k) for k in kids)):
            time.sleep(0.2)
        assert not _listening(port), "the Solara server is still listening after its parent stopped"
        assert not any(_alive(k) for k in kids), "a server process survived its parent"
        if sig == signal.SIGTERM:
            assert proc.returncode == 128 + signal.SIGTERM
    finally:
        _kill_all(proc, kids)
