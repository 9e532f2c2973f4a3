"""All-or-nothing outputs (issue 15, class 4).

Each command's output folder is complete and consistent, or marked incomplete:

* ``case`` and ``whatif`` build their folder beside ``--out`` and swap it into place: after kill -9
  at any moment ``--out`` is the old complete folder or the new one (every file listed in its
  ``manifest.json`` with the right SHA-256), never a mixture, never a 0-byte PNG; nothing is left
  in the system temp folder; the next run removes the hidden staging folder a kill left beside.
* a rollout's manifest says ``complete`` only once its summary is written;
* a sensitivity study's ``study.json`` is written last and ``load_study`` refuses a folder without it;
* a folder of another kind (a sweep store given to ``case`` or ``calibrate``, a case folder given
  to ``whatif`` or ``sensitivity``, a folder of someone's files) is refused before any work.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.cli import main

ROOT = Path(__file__).resolve().parent.parent

SPEC = """\
[sweep]
name = "kinds"
replicates = 1
seed = 3
set = ["horizon_months=6"]

[design]
kind = "grid"

[design.factors]
"parameters.uptake_rate" = [0.1, 0.2]
"""

# a CLI whose file writes are slowed down (SLOW seconds each), so that a kill lands while it writes
SLOW_CLI = """
import os, sys, time
import experiments.execution.files as f
real = getattr(f, "_write_fd", None)
if real is not None:
    def slow(fd, data, name):
        time.sleep(float(os.environ["SLOW"]))
        real(fd, data, name)
    f._write_fd = slow
from experiments.cli import main
sys.exit(main(sys.argv[1:]))
"""


def snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(folder))] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def verified(out: Path) -> dict:
    """The folder's manifest after checking every file it lists (and that nothing else is there)."""
    m = json.loads((out / "manifest.json").read_text())
    for name, info in m["files"].items():
        data = (out / name).read_bytes()
        assert len(data) == info["bytes"] > 0 and hashlib.sha256(data).hexdigest() == info["sha256"], name
    assert sorted(p.name for p in out.iterdir()) == sorted([*m["files"], "manifest.json"])
    return m


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One folder of each kind: a sweep store, a rollout store, a case, a what-if, someone's files."""
    d = tmp_path_factory.mktemp("kinds")
    spec = d / "spec.toml"
    spec.write_text(SPEC, encoding="utf-8")
    assert main(["sweep", str(spec), "--out", str(d / "sweep"), "--workers", "1", "--quiet"]) == 0
    assert main(["rollout", "FL", "--districts", "2", "--replicates", "1", "--out", str(d / "rollout"), "--workers", "1", "--quiet"]) == 0
    assert main(["case", "--replicates", "2", "--out", str(d / "case"), "--quiet", "--no-figures"]) == 0
    assert main(["whatif", "--set", "horizon_months=6", "--replicates", "2", "--out", str(d / "whatif"), "--quiet", "--no-figure"]) == 0
    (d / "files").mkdir()
    (d / "files" / "thesis.docx").write_bytes(b"years of work")
    return d


REFUSED = [
    (["case", "--replicates", "2", "--quiet"], "sweep"),
    (["case", "--replicates", "2", "--quiet"], "rollout"),
    (["case", "--replicates", "2", "--quiet"], "whatif"),
    (["case", "--replicates", "2", "--quiet"], "files"),
    (["whatif", "--set", "horizon_months=6", "--replicates", "2", "--quiet"], "case"),
    (["whatif", "--set", "horizon_months=6", "--replicates", "2", "--quiet"], "sweep"),
    (["calibrate", "--budget", "quick", "--quiet", "--no-figures"], "sweep"),
    (["calibrate", "--budget", "quick", "--quiet", "--no-figures"], "case"),
    (["calibrate", "--budget", "quick", "--quiet", "--no-figures"], "files"),
    (["sensitivity", "experiments/data/sensitivity/default.toml", "--workers", "1", "--quiet"], "case"),
    (["sensitivity", "experiments/data/sensitivity/default.toml", "--workers", "1", "--quiet"], "sweep"),
    (["sweep", "SPEC", "--resume", "--workers", "1", "--quiet"], "case"),
    (["rollout", "FL", "--districts", "2", "--replicates", "1", "--resume", "--workers", "1", "--quiet"], "sweep"),
]


@pytest.mark.parametrize(("args", "kind"), REFUSED, ids=[f"{a[0]}-into-{k}" for a, k in REFUSED])
def test_a_folder_of_another_kind_is_refused_before_any_work(tmp_path, folders, capsys, args, kind):
    out = tmp_path / kind
    shutil.copytree(folders / kind, out)
    before = snapshot(out)
    args = [str(folders / "spec.toml") if a == "SPEC" else a for a in args]
    t0 = time.perf_counter()
    code = main([*args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("coherence-sim: error:") and "Traceback" not in err, err
    assert snapshot(out) == before  # nothing changed
    assert time.perf_counter() - t0 < 20  # refused before the work, not after


def test_a_case_folder_is_replaced_as_a_whole(tmp_path, capsys):
    out = tmp_path / "case"
    assert main(["case", "--replicates", "2", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    first = verified(out)
    assert any(n.endswith(".png") for n in first["files"])
    assert main(["case", "--replicates", "3", "--seed", "2", "--out", str(out), "--quiet", "--no-figures"]) == 0
    second = verified(out)  # no old figure beside the new summary
    assert sorted(second["files"]) == ["scenario.toml", "summary.json"]
    assert json.loads((out / "summary.json").read_text())["provenance"]["replicates"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case"]  # no staging folder left beside


def test_a_case_folder_holding_someone_elses_file_is_refused(tmp_path, capsys):
    out = tmp_path / "case"
    assert main(["case", "--replicates", "2", "--out", str(out), "--quiet", "--no-figures"]) == 0
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    assert main(["case", "--replicates", "2", "--out", str(out), "--quiet", "--no-figures"]) == 2
    assert "notes.txt" in capsys.readouterr().err and snapshot(out) == before


def _run_and_kill(tmp_path: Path, args: list[str], out: Path, when: str, delay: float, slow: float = 0.3) -> int | None:
    """Run the CLI (slowed writes) in a fresh process with a private temp folder; kill -9 it
    ``delay`` s after ``when`` ("start", or "staging": a staging folder appears beside ``out``)."""
    tmp = tmp_path / "systemtmp"
    tmp.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "COHERENCE_SIM_START_METHOD"}
    env.update(TMPDIR=str(tmp), SLOW=str(slow), MPLCONFIGDIR=str(tmp_path / "mpl"))
    proc = subprocess.Popen([sys.executable, "-c", SLOW_CLI, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        if when == "staging":
            while time.monotonic() < deadline and proc.poll() is None:
                if any(p.name.startswith(f".{out.name}.staging-") for p in out.parent.iterdir()):
                    break
                time.sleep(0.01)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert list(tmp.iterdir()) == [], "a staging folder was left in the system temp folder"
    return proc.returncode


@pytest.mark.parametrize("cmd", ["case", "whatif"])
def test_kill_9_while_writing_leaves_the_old_folder_or_the_new_one(tmp_path, cmd):
    out = tmp_path / cmd
    base = (["case", "--replicates", "2"] if cmd == "case" else ["whatif", "--set", "horizon_months=6", "--replicates", "2"])
    assert main([*base, "--seed", "1", "--out", str(out), "--quiet"]) == 0
    old = verified(out)
    rng = random.Random(15)
    for when, delay in [("start", 0.5), ("staging", 0.0), ("staging", rng.uniform(0.2, 1.5)), ("staging", rng.uniform(0.5, 3.0))]:
        code = _run_and_kill(tmp_path, [*base, "--seed", "2", "--out", str(out), "--quiet"], out, when, delay)
        assert code == -signal.SIGKILL, f"the run ended (exit {code}) before the kill at {when}+{delay:.2f}s"
        verified(out)  # complete: every listed file there with its checksum, nothing else (old or new, never a mix)
    assert any(p.name.startswith(f".{cmd}.staging-") for p in tmp_path.iterdir())  # what the kills left beside
    assert main([*base, "--seed", "2", "--out", str(out), "--quiet"]) == 0
    assert verified(out) != old
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # the next run cleaned up


def test_a_rollout_is_complete_only_with_its_summary(tmp_path):
    """kill -9 between the last chunk and the summary's end: the manifest does not say complete, and
    --resume writes the summary."""
    out = tmp_path / "rollout"
    args = ["rollout", "FL", "--districts", "3", "--replicates", "2", "--workers", "1", "--out", str(out), "--quiet"]
    tmp = tmp_path / "systemtmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "COHERENCE_SIM_START_METHOD"}
    env.update(TMPDIR=str(tmp), SLOW="0.0")
    slow_summary = SLOW_CLI.replace("time.sleep(float(os.environ[\"SLOW\"]))",
                                    "time.sleep(2.0 if name.startswith('summary') else 0.0)")
    proc = subprocess.Popen([sys.executable, "-c", slow_summary, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not (out / "summary.csv").exists():
            time.sleep(0.01)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    from experiments.execution.store import read_manifest

    m = read_manifest(out)
    assert m["status"] != "complete" or ((out / "summary.json").is_file() and json.loads((out / "summary.json").read_text()))
    assert m["status"] != "complete"
    assert main([*args, "--resume"]) == 0
    assert read_manifest(out)["status"] == "complete"
    assert json.loads((out / "summary.json").read_text())["summary"] and (out / "summary.csv").read_text().startswith("grouping")


def test_a_sensitivity_folder_without_its_completion_marker_reads_as_incomplete(tmp_path):
    import pandas as pd

    import experiments.sensitivity as sens

    out = tmp_path / "sens"
    out.mkdir()
    pd.DataFrame({"a": [1]}).to_parquet(out / "sobol.parquet")  # a table, but no study.json: killed mid-report
    with pytest.raises(sens.SensitivityError, match="incomplete"):
        sens.load_study(out)
