"""``--resume`` refuses mixed code (issue 15, class 2).

A store records the identity of the code that computed it (package version and a hash of the
installed ``sim/`` sources, plus the git commit when known). Resuming under other code -- another
version, or the same commit with an edited ``sim/`` -- is refused with a message naming both;
``--allow-mixed-code`` resumes anyway and records the mix. A worker (e.g. on a Dask cluster)
running other code than the session is refused too.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.execution.store import SweepStore, load_results, read_manifest
from experiments.sweep import run_sweep

provenance = importlib.import_module("experiments.execution.provenance")  # (the package exports a function of that name)
ROOT = Path(__file__).resolve().parent.parent

SPEC = """\
[sweep]
name = "identity"
replicates = 2
seed = 9
chunk_size = 1
set = ["horizon_months=6"]

[design]
kind = "grid"

[design.factors]
"parameters.uptake_rate" = [0.1, 0.2]
"""


def interrupted_store(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A sweep stopped (Ctrl-C) after 2 of its 4 chunks."""
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC, encoding="utf-8")
    out = tmp_path / "out"
    real, calls = SweepStore.write_chunk, {"n": 0}

    def stop(self, *a, **kw):
        real(self, *a, **kw)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(SweepStore, "write_chunk", stop)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, workers=1, quiet=True)
    monkeypatch.setattr(SweepStore, "write_chunk", real)
    return spec, out


def other_code(monkeypatch, sha: str = "0123456789abcdef") -> dict:
    ident = dict(provenance.model_identity(), sim_sha256=sha)
    monkeypatch.setattr(provenance, "_model_identity", lambda: ident)
    return ident


def test_resume_under_other_code_is_refused_naming_both(tmp_path, monkeypatch, capsys):
    from experiments.cli import main

    spec, out = interrupted_store(tmp_path, monkeypatch)
    mine = provenance.model_identity()["sim_sha256"]
    other_code(monkeypatch)
    with pytest.raises(ValueError) as info:
        run_sweep(spec, out, workers=1, quiet=True, resume=True)
    msg = str(info.value)
    assert mine in msg and "0123456789abcdef" in msg and "--allow-mixed-code" in msg
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "different code" in err and mine in err and "0123456789abcdef" in err and "Traceback" not in err
    assert len(read_manifest(out)["completed"]) == 2  # nothing was computed


def test_allow_mixed_code_resumes_and_records_the_mix(tmp_path, monkeypatch, capsys):
    from experiments.cli import main

    spec, out = interrupted_store(tmp_path, monkeypatch)
    mine = provenance.model_identity()
    other = other_code(monkeypatch)
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--allow-mixed-code", "--workers", "1", "--quiet"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete"
    assert m["mixed_code"] == [{"session": 1, "model": other, "stored_model": mine}]
    assert [s["model"]["sim_sha256"] for s in m["sessions"]] == [mine["sim_sha256"], "0123456789abcdef"]
    assert sorted(r["session"] for r in m["completed"].values()) == [0, 0, 1, 1]  # which code computed each chunk
    assert len(load_results(out)[0]) == 4


def test_an_edited_sim_source_in_a_copy_of_the_tree_is_refused(tmp_path, monkeypatch):
    """The real thing: the same commit, one edited line in sim/ (an uncommitted edit), run as a
    separate process from a copy of the source tree."""
    spec, out = interrupted_store(tmp_path, monkeypatch)
    tree = tmp_path / "tree"
    for pkg in ("sim", "experiments", "calibration"):
        shutil.copytree(ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "COHERENCE_SIM_START_METHOD"}
    env["PYTHONPATH"] = str(tree)
    cmd = [sys.executable, "-m", "experiments.cli", "sweep", str(spec), "--out", str(out), "--resume", "--workers", "1", "--quiet"]

    model = tree / "sim" / "model.py"
    model.write_text(model.read_text() + "\n# an uncommitted edit\n")
    edited = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    assert edited.returncode == 2, edited.stderr
    assert "different code" in edited.stderr and "sim/ sources" in edited.stderr and "Traceback" not in edited.stderr
    assert len(read_manifest(out)["completed"]) == 2

    model.write_text(model.read_text().replace("\n# an uncommitted edit\n", ""))  # the same code again
    same = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    assert same.returncode == 0, same.stderr
    assert "complete; 4 of 4 runs stored" in same.stdout


def test_a_worker_running_other_code_is_refused(tmp_path, monkeypatch):
    import experiments.sweep.worker as worker

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC, encoding="utf-8")
    ident = dict(provenance.model_identity(), version="9.9.9")
    monkeypatch.setattr(worker, "model_identity", lambda: ident)
    with pytest.raises(ValueError, match="every worker must run the same code"):
        run_sweep(spec, tmp_path / "out", workers=1, quiet=True)
    assert read_manifest(tmp_path / "out")["completed"] == {}


def test_a_store_written_before_identities_were_recorded_is_not_resumed(tmp_path, monkeypatch):
    spec, out = interrupted_store(tmp_path, monkeypatch)
    m = json.loads((out / "manifest.json").read_text())
    m["format_version"] = 1
    m.pop("model")
    for s in m["sessions"]:
        s.pop("model", None)
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="older coherence-sim"):
        run_sweep(spec, out, workers=1, quiet=True, resume=True)
    with pytest.warns(UserWarning, match="unverified"):
        runs, _ = load_results(out)
    assert len(runs) == 2


def test_the_model_identity_is_the_sim_sources():
    ident = provenance.model_identity()
    assert ident["version"] and len(ident["sim_sha256"]) == 16
    assert provenance.same_model(ident, dict(ident, git_commit="other"))  # the commit alone decides nothing
    assert not provenance.same_model(ident, dict(ident, sim_sha256="0" * 16))
    assert not provenance.same_model(ident, dict(ident, version="0.0.1"))
    assert not provenance.same_model(ident, None)


@pytest.mark.parametrize("command", [["sweep", "spec.toml"], ["rollout", "TX"], ["sensitivity", "spec.toml"]])
def test_the_flag_exists_where_a_store_is_resumed(command):
    from experiments.cli import build_parser

    assert build_parser().parse_args([*command, "--allow-mixed-code"]).allow_mixed_code is True
