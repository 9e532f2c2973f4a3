"""Writes cannot escape ``--out`` (issue 15, class 1).

A symbolic link planted inside an output folder -- at every fixed name a command writes, at the
temporary names older versions used (``NAME.tmp``), at a store's lock, manifest, journal and
sub-folders -- must never make a command write, create or delete a file outside ``--out``. Each
case plants the link, runs the command through the CLI (in this process) and compares a hash of
every file outside ``--out`` before and after; the command either refuses the folder with a clear
error naming the link, or replaces the link with its own file (never writing through it).

Also: the one writer (:func:`experiments.execution.files.write_file`) itself, at the level of the
system calls: a link at the final name is replaced, never followed; a link between the output
folder and the file is refused; no temporary file is left after a failure.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

import pytest

import experiments.execution.files as files
from experiments.cli import main
from experiments.figures import FILENAMES as CASE_FIGURES

SPEC = """\
[sweep]
name = "escape"
replicates = 2
seed = 3
chunk_size = 1
set = ["horizon_months=6"]

[design]
kind = "grid"

[design.factors]
"parameters.uptake_rate" = [0.1, 0.2, 0.3]
"""


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links not followed): path -> hash of a file's bytes, or the
    link's target, or "dir"."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                out[rel] = "link -> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def outside(tmp_path):
    """A folder outside --out: a sentinel file and another store's runs (what a planted link
    would make a command overwrite or delete)."""
    d = tmp_path / "outside"
    (d / "other_runs").mkdir(parents=True)
    (d / "sentinel.txt").write_text("precious: must not change\n")
    (d / "other_runs" / "chunk-000000.parquet").write_bytes(b"another store's chunk")
    (d / "other_runs" / "chunk-000099.parquet").write_bytes(b"another store's chunk")
    return d


def plant(out: Path, name: str, target: Path) -> Path:
    link = out / name
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    elif link.exists() or link.is_symlink():
        link.unlink()
    os.symlink(target, link)
    return link


def check(code: int, err: str, out: Path, name: str, before: dict, outside: Path) -> None:
    assert snapshot(outside) == before, f"a file outside --out changed through a link at {name}"
    assert "Traceback" not in err
    if code != 0:  # refused (otherwise the link was replaced or left unused: never written through)
        assert code == 2 and "symbolic link" in err and name.split("/")[0] in err, err


# --- case and whatif ------------------------------------------------------------------------------
CASE_NAMES = ["summary.json", "scenario.toml", *CASE_FIGURES, "summary.json.tmp", "scenario.toml.tmp", "manifest.json"]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_never_writes_through_a_planted_link(tmp_path, outside, capsys, name):
    out = tmp_path / "case"
    out.mkdir()
    plant(out, name, outside / "sentinel.txt")
    before = snapshot(outside)
    code = main(["case", "--replicates", "2", "--out", str(out), "--quiet"])
    check(code, capsys.readouterr().err, out, name, before, outside)


WHATIF_NAMES = ["whatif.json", "whatif.png", "baseline_scenario.toml", "counterfactual_scenario.toml",
                "whatif.json.tmp", "whatif.png.tmp", "baseline_scenario.toml.tmp", "counterfactual_scenario.toml.tmp"]


@pytest.mark.parametrize("name", WHATIF_NAMES)
def test_whatif_never_writes_through_a_planted_link(tmp_path, outside, capsys, name):
    out = tmp_path / "whatif"
    out.mkdir()
    plant(out, name, outside / "sentinel.txt")
    before = snapshot(outside)
    code = main(["whatif", "--set", "horizon_months=12", "--replicates", "2", "--out", str(out), "--quiet"])
    check(code, capsys.readouterr().err, out, name, before, outside)


# --- stores: sweep and rollout --resume --------------------------------------------------------------
def _interrupted(run, monkeypatch) -> None:
    """Run ``run()`` until its second chunk is stored, then interrupt it (Ctrl-C)."""
    from experiments.execution.store import SweepStore

    real, calls = SweepStore.write_chunk, {"n": 0}

    def second_chunk_then_ctrl_c(self, *a, **kw):
        real(self, *a, **kw)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(SweepStore, "write_chunk", second_chunk_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(SweepStore, "write_chunk", real)


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory):
    from experiments.sweep import run_sweep

    d = tmp_path_factory.mktemp("sweep-template")
    spec = d / "spec.toml"
    spec.write_text(SPEC, encoding="utf-8")
    mp = pytest.MonkeyPatch()
    try:
        _interrupted(lambda: run_sweep(spec, d / "store", workers=1, quiet=True), mp)
    finally:
        mp.undo()
    return spec, d / "store"


STORE_NAMES = [".lock", "manifest.json", "chunks.jsonl", "scenario.toml", "design.parquet", "runs", "elements",
               "runs/chunk-000000.parquet", "runs/chunk-000004.parquet", "elements/chunk-000005.parquet",
               ".manifest.json.tmp", "runs/.chunk-000003.parquet.tmp"]


@pytest.mark.parametrize("name", STORE_NAMES)
def test_sweep_resume_never_follows_a_planted_link(tmp_path, outside, capsys, sweep_store, name):
    spec, template = sweep_store
    out = tmp_path / "store"
    shutil.copytree(template, out)
    target = outside / ("other_runs" if name in ("runs", "elements") else "sentinel.txt")
    plant(out, name, target)
    before = snapshot(outside)
    code = main(["sweep", str(spec), "--out", str(out), "--resume", "--workers", "1", "--quiet"])
    check(code, capsys.readouterr().err, out, name, before, outside)
    assert code == 2  # a store with a link inside is refused


@pytest.fixture(scope="module")
def rollout_store(tmp_path_factory):
    from experiments.population import run_rollout

    d = tmp_path_factory.mktemp("rollout-template")
    run_rollout("FL", d / "store", n=3, replicates=2, chunk_size=2, workers=1)  # complete, with its summary
    return d / "store"


ROLLOUT_NAMES = [".lock", "manifest.json", "population.json", "summary.csv", "summary.json", "runs", "elements",
                 "summary.csv.tmp"]


@pytest.mark.parametrize("name", ROLLOUT_NAMES)
def test_rollout_resume_never_follows_a_planted_link(tmp_path, outside, capsys, rollout_store, name):
    out = tmp_path / "store"
    shutil.copytree(rollout_store, out)
    target = outside / ("other_runs" if name in ("runs", "elements") else "sentinel.txt")
    plant(out, name, target)
    before = snapshot(outside)
    code = main(["rollout", "FL", "--districts", "3", "--replicates", "2", "--out", str(out), "--resume",
                 "--workers", "1", "--quiet"])
    check(code, capsys.readouterr().err, out, name, before, outside)


# --- sensitivity and calibration: refused before any work ------------------------------------------
@pytest.mark.parametrize("name", ["report.md", "runs", "study.json"])
def test_sensitivity_refuses_a_folder_with_a_link(tmp_path, outside, capsys, name):
    out = tmp_path / "sens"
    out.mkdir()
    plant(out, name, outside / ("other_runs" if name == "runs" else "sentinel.txt"))
    before = snapshot(outside)
    code = main(["sensitivity", "experiments/data/sensitivity/default.toml", "--out", str(out), "--workers", "1", "--quiet"])
    check(code, capsys.readouterr().err, out, name, before, outside)
    assert code == 2


@pytest.mark.parametrize("name", ["calibration.json", "report.md", "history_fit.db", "posterior_samples.csv"])
def test_calibrate_refuses_a_folder_with_a_link(tmp_path, outside, capsys, name):
    out = tmp_path / "cal"
    out.mkdir()
    plant(out, name, outside / "sentinel.txt")
    before = snapshot(outside)
    code = main(["calibrate", "--budget", "quick", "--out", str(out), "--quiet", "--no-figures"])
    check(code, capsys.readouterr().err, out, name, before, outside)
    assert code == 2


# --- discover: refused by the command; the library call replaces a link, never writes through it ----
DISCOVERY_NAMES = ["answer.txt", "boxes.json", "trajectory.csv", "points.csv", "feature_scores.csv",
                   "peeling_trajectory.png", "box.png"]


@pytest.fixture(scope="module")
def discovery_store(tmp_path_factory):
    from experiments.sweep import run_sweep

    d = tmp_path_factory.mktemp("discover-store")
    spec = d / "spec.toml"
    spec.write_text(SPEC.replace("horizon_months=6", "horizon_months=18").replace("[0.1, 0.2, 0.3]", "[0.01, 0.1, 0.5]"),
                    encoding="utf-8")
    run_sweep(spec, d / "store", workers=1, quiet=True)
    return d / "store"


@pytest.mark.parametrize("name", DISCOVERY_NAMES)
def test_discover_refuses_a_folder_with_a_link(tmp_path, outside, capsys, discovery_store, name):
    out = tmp_path / "disc"
    out.mkdir()
    plant(out, name, outside / "sentinel.txt")
    before = snapshot(outside)
    code = main(["discover", str(discovery_store), "--outcome", "elements_changed", "--above", "0",
                 "--bootstrap", "2", "--out", str(out), "--quiet"])
    check(code, capsys.readouterr().err, out, name, before, outside)
    assert code == 2


@pytest.mark.parametrize("name", DISCOVERY_NAMES)
def test_discovery_files_replace_a_planted_link(tmp_path, outside, discovery_store, name):
    from experiments.api import pool_replicates
    from experiments.discovery import discover
    from experiments.sweep import load_results

    runs, _ = load_results(discovery_store)
    v = pool_replicates(runs, ["elements_changed"])["elements_changed"]
    out = tmp_path / "disc"
    out.mkdir()
    plant(out, name, outside / "sentinel.txt")
    before = snapshot(outside)
    discover(discovery_store, "elements_changed", above=float(v.min() + v.max()) / 2, out=out, bootstrap=2)
    assert snapshot(outside) == before
    assert not (out / name).is_symlink() and (out / name).stat().st_size > 0


# --- the one writer ---------------------------------------------------------------------------------
def test_write_file_replaces_a_link_at_its_name_and_never_follows_it(tmp_path, outside):
    out = tmp_path / "out"
    out.mkdir()
    plant(out, "a.json", outside / "sentinel.txt")
    before = snapshot(outside)
    w = files.write_file(out / "a.json", b"{}")
    assert snapshot(outside) == before
    assert not (out / "a.json").is_symlink() and (out / "a.json").read_bytes() == b"{}"
    assert w.sha256 == hashlib.sha256(b"{}").hexdigest() and w.size == 2
    assert sorted(p.name for p in out.iterdir()) == ["a.json"]  # no temporary file left


def test_write_file_refuses_a_link_between_root_and_the_file(tmp_path, outside):
    out = tmp_path / "out"
    out.mkdir()
    plant(out, "runs", outside / "other_runs")
    before = snapshot(outside)
    with pytest.raises(files.LinkRefused, match="symbolic link"):
        files.write_file(out / "runs" / "chunk-000000.parquet", b"x", root=out)
    assert snapshot(outside) == before


def test_write_file_leaves_nothing_on_failure_and_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "summary.json"
    p.write_text("old")

    def full(fd, data, name):
        os.write(fd, b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "_write_fd", full)
    with pytest.raises(OSError) as info:
        files.write_file(p, b"new content")
    assert info.value.errno == errno.ENOSPC and str(p) in str(info.value.filename)
    assert p.read_text() == "old" and sorted(x.name for x in tmp_path.iterdir()) == ["summary.json"]


def test_the_temporary_name_is_new_each_time_and_made_exclusively(tmp_path, monkeypatch):
    """Temporary files are created with O_EXCL | O_NOFOLLOW under a random name: a link planted at
    any name a writer used before is never opened."""
    seen = []
    real_open = os.open

    def spy(path, flags, *a, **kw):
        if str(path).endswith(".tmp"):
            seen.append((str(path), flags))
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", spy)
    files.write_file(tmp_path / "x.json", b"1")
    files.write_file(tmp_path / "x.json", b"2")
    assert len(seen) == 2 and seen[0][0] != seen[1][0]
    for _, flags in seen:
        assert flags & os.O_EXCL and flags & os.O_CREAT and flags & os.O_NOFOLLOW
