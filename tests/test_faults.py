"""Faults of the machine under a sweep: a disk that fills up, for real (a small tmpfs) and injected
(the store's low-level writes raise ENOSPC / EDQUOT / EFBIG), while writing a chunk or the manifest.

What must hold each time: the sweep stops with a clear one-paragraph error (where, how many runs are
saved, free space then --resume; no traceback); what the manifest lists is complete and loadable,
with no duplicated (design_point, replicate) and no half-written file; after --resume the runs
equal those of an uninterrupted sweep, none lost, none computed twice.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest

import experiments.execution.files as files
import experiments.execution.store as store
from experiments.execution.store import JOURNAL, DiskFullError, load_results, read_manifest
from experiments.sweep import plan_sweep, run_sweep
from sim.vocab import CASE_DISTRICTS, Element

ROOT = Path(__file__).resolve().parent.parent

GRID = """\
[sweep]
name = "t-faults"
replicates = {replicates}
seed = 17
chunk_size = {chunk_size}
set = ["horizon_months=24"]

[design]
kind = "grid"

[design.factors]
"parameters.uptake_rate" = [0.1, 0.3]
"districts.Diamond.lead.positional_authority" = [false, true]
"""

PROVENANCE = ["version", "git_commit"]  # same code here; excluded anyway: not outcomes


def spec_file(tmp_path: Path, replicates: int = 3, chunk_size: int = 2) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(GRID.format(replicates=replicates, chunk_size=chunk_size), encoding="utf-8")
    return p


def outcomes(runs: pd.DataFrame) -> pd.DataFrame:
    return runs.drop(columns=PROVENANCE).sort_values(["design_point", "replicate"]).reset_index(drop=True)


def elements_sorted(elements: pd.DataFrame) -> pd.DataFrame:
    return elements.sort_values(["design_point", "replicate", "district", "element"]).reset_index(drop=True)


def assert_store_intact(out: Path) -> int:
    """The store as left by a failure: no temporary file, every listed chunk has both files, the
    manifest is valid JSON, and the listed runs load complete and without duplicates. Returns the
    number of runs stored."""
    assert not [p for p in out.rglob("*.tmp")], "a half-written temporary file was left behind"
    json.loads((out / "manifest.json").read_text(encoding="utf-8"))  # valid JSON
    m = read_manifest(out)  # with the chunks recorded in the journal since
    listed = {store.chunk_name(int(c)) for c in m["completed"]}
    for sub in ("runs", "elements"):
        on_disk = {p.name for p in (out / sub).glob("chunk-*.parquet")}
        assert listed <= on_disk, f"{sub}: the manifest lists chunks whose files are missing"
    runs, elements = load_results(out)
    assert len(runs) == sum(v["runs"] for v in m["completed"].values())
    if not len(runs):
        return 0
    assert not runs.duplicated(["design_point", "replicate"]).any()
    assert (runs["status"] == "ok").all() and runs["share_transformed"].notna().all()
    per_run = elements.groupby(["design_point", "replicate"]).size()
    assert len(per_run) == len(runs) and (per_run == len(CASE_DISTRICTS) * len(Element)).all()
    return len(runs)


def assert_equal_to(out: Path, ref: Path) -> None:
    runs, elements = load_results(out)
    ref_runs, ref_elements = load_results(ref)
    assert len(runs) == len(ref_runs) and not runs.duplicated(["design_point", "replicate"]).any()
    pdt.assert_frame_equal(outcomes(runs), outcomes(ref_runs))
    pdt.assert_frame_equal(elements_sorted(elements), elements_sorted(ref_elements))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted sweep of the small spec (12 runs in 6 chunks)."""
    d = tmp_path_factory.mktemp("ref")
    spec = spec_file(d)
    result = run_sweep(spec, d / "out", workers=1, quiet=True)
    assert result.complete
    return spec, d / "out"


# --- injected: the chunk files ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("err", "says"),
    [(errno.ENOSPC, "the disk is full"), (errno.EDQUOT, "disk quota is exceeded"), (errno.EFBIG, "file-size limit")],
    ids=["ENOSPC", "EDQUOT", "EFBIG"],
)
def test_disk_full_while_writing_a_chunk_then_resume_equals_uninterrupted(tmp_path, monkeypatch, capsys, reference, err, says):
    from experiments.cli import main

    spec, ref = reference
    out = tmp_path / "out"
    real = files._write_fd
    calls = {"n": 0}

    def filling(fd, data, name):
        if name.startswith("chunk-"):
            calls["n"] += 1
            if calls["n"] > 5:  # chunks 0 and 1 fit (4 files), chunk 2's elements fit, its runs do not
                os.write(fd, b"PAR1" + b"\0" * 64)  # half a file, as a real full disk leaves it
                raise OSError(err, os.strerror(err))
        real(fd, data, name)

    monkeypatch.setattr(files, "_write_fd", filling)
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet"]) == 1
    msg = capsys.readouterr().err
    assert "Traceback" not in msg and msg.count("\n") == 1  # one paragraph
    assert says in msg and str(out) in msg
    assert "4 of 12 runs are saved" in msg and "--resume" in msg and "Free some space" in msg
    assert assert_store_intact(out) == 4
    # the failed chunk left nothing: not its temporary file, not its elements file already in place
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["chunk-000000.parquet", "chunk-000001.parquet"]
    assert sorted(p.name for p in (out / "elements").iterdir()) == ["chunk-000000.parquet", "chunk-000001.parquet"]
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed"

    monkeypatch.setattr(files, "_write_fd", real)  # space was freed
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet", "--resume"]) == 0
    assert "complete; 12 of 12 runs stored" in capsys.readouterr().out
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["sessions"][-1]["runs"] == 8  # nothing saved was computed again
    assert "recomputed" not in m["sessions"][-1]  # what was recorded verified
    assert_equal_to(out, ref)


def test_disk_full_through_the_api_raises_disk_full_error(tmp_path, monkeypatch, reference):
    spec, ref = reference
    out = tmp_path / "out"
    real = files._write_fd
    calls = {"n": 0}

    def filling(fd, data, name):
        if name.startswith("chunk-"):
            calls["n"] += 1
            if calls["n"] == 1:
                raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data, name)

    monkeypatch.setattr(files, "_write_fd", filling)
    with pytest.raises(DiskFullError) as info:
        run_sweep(spec, out, workers=1, quiet=True)
    assert info.value.errno == errno.ENOSPC and info.value.folder == out
    assert isinstance(info.value, OSError) and info.value.filename.endswith("chunk-000000.parquet")
    assert assert_store_intact(out) == 0
    result = run_sweep(spec, out, workers=1, quiet=True, resume=True)
    assert result.complete and result.runs_this_session == 12
    assert_equal_to(out, ref)


# --- injected: the manifest ---------------------------------------------------------------------
def test_disk_full_while_recording_chunks_then_resume_equals_uninterrupted(tmp_path, monkeypatch, capsys, reference):
    """The journal of chunk records (chunks.jsonl) and the manifest cannot be written from chunk
    2's record on: the append leaves half a line, and the final status write fails too."""
    from experiments.cli import main

    spec, ref = reference
    out = tmp_path / "out"
    real = files._write_fd
    calls = {"n": 0}

    def filling(fd, data, name):
        if name == JOURNAL:
            calls["n"] += 1
        # records of chunks 0 and 1 fit; then the disk stays full (chunk 2's record, the final status)
        if (name == JOURNAL and calls["n"] > 2) or (name == "manifest.json" and calls["n"] >= 2):
            os.write(fd, bytes(data[: len(data) // 2]))  # cut short
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data, name)

    monkeypatch.setattr(files, "_write_fd", filling)
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet"]) == 1
    msg = capsys.readouterr().err
    assert "Traceback" not in msg and "the disk is full" in msg and JOURNAL in msg
    assert "4 of 12 runs are saved" in msg and "--resume" in msg
    assert assert_store_intact(out) == 4
    m = read_manifest(out)
    assert sorted(m["completed"], key=int) == ["0", "1"] and m["status"] == "running"  # the last manifest that fitted
    assert (out / JOURNAL).read_bytes().endswith(b"\n")  # no half line left
    # chunk 2's files were complete but never recorded: not loaded now, replaced on resume
    assert (out / "runs" / "chunk-000002.parquet").is_file()

    monkeypatch.setattr(files, "_write_fd", real)
    result = run_sweep(spec, out, workers=1, quiet=True, resume=True)
    assert result.complete and result.runs_this_session == 8
    assert_equal_to(out, ref)
    assert sorted(p.name for p in (out / "runs").iterdir()) == [f"chunk-{c:06d}.parquet" for c in range(6)]


def test_a_transient_manifest_failure_keeps_the_chunk_it_could_not_record(tmp_path, monkeypatch, reference):
    """One record fails and the next manifest write succeeds: the chunk whose record failed is
    recorded by that write (its files were durable), so nothing needs computing again for it."""
    spec, ref = reference
    out = tmp_path / "out"
    real = files._write_fd
    calls = {"n": 0}

    def once(fd, data, name):
        if name == JOURNAL:
            calls["n"] += 1
            if calls["n"] == 2:  # chunk 1's record
                raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data, name)

    monkeypatch.setattr(files, "_write_fd", once)
    with pytest.raises(DiskFullError):
        run_sweep(spec, out, workers=1, quiet=True)
    m = json.loads((out / "manifest.json").read_text())
    assert sorted(m["completed"], key=int) == ["0", "1"] and m["status"] == "failed"  # the status write recorded chunk 1
    assert assert_store_intact(out) == 4
    monkeypatch.setattr(files, "_write_fd", real)
    result = run_sweep(spec, out, workers=1, quiet=True, resume=True)
    assert result.complete and result.runs_this_session == 8
    assert_equal_to(out, ref)


# --- a real full disk: a small tmpfs ------------------------------------------------------------
def _mount_tmpfs(where: Path, size_kib: int) -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("a real full disk needs root to mount a small tmpfs (not root here); "
                    "the injected ENOSPC tests in this file cover the same guarantees")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("no mount/umount command; the injected ENOSPC tests in this file cover the same guarantees")
    where.mkdir(parents=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", f"coherence-test-{uuid.uuid4().hex[:6]}", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({proc.stderr.strip() or proc.returncode}); "
                    "the injected ENOSPC tests in this file cover the same guarantees")


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COHERENCE_SIM_START_METHOD"}
    return subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_real_full_disk_then_resume_elsewhere_equals_uninterrupted(tmp_path):
    # 4 design points x 10 replicates = 40 runs in 20 chunks of about 28 KiB each on tmpfs:
    # 224 KiB hold the folder's fixed files and a handful of chunks, not all of them
    spec = spec_file(tmp_path, replicates=10, chunk_size=2)
    plan = plan_sweep(spec)
    mnt = tmp_path / "small-disk"
    _mount_tmpfs(mnt, 224)
    out, moved = mnt / "out", tmp_path / "roomy" / "out"
    try:
        full = _cli("sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet")
        assert full.returncode != 0, full.stdout + full.stderr
        msg = full.stderr
        assert "Traceback" not in msg and msg.strip().count("\n") == 0, msg  # one paragraph, no traceback
        assert "the disk is full" in msg and str(out) in msg and "--resume" in msg and "Free some space" in msg, msg
        found = re.search(r"(\d+) of (\d+) runs are saved", msg)
        assert found and int(found.group(2)) == plan.n_runs, msg
        saved = assert_store_intact(out)
        assert int(found.group(1)) == saved and 0 < saved < plan.n_runs, msg  # it ran out midway
        shutil.copytree(out, moved)  # the user moves the folder to a bigger disk
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
    assert not any(mnt.iterdir())  # unmounted

    resumed = _cli("sweep", str(spec), "--out", str(moved), "--workers", "1", "--quiet", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"complete; {plan.n_runs} of {plan.n_runs} runs stored" in resumed.stdout
    m = json.loads((moved / "manifest.json").read_text())
    assert m["status"] == "complete" and m["sessions"][-1]["runs"] == plan.n_runs - saved  # no run twice
    ref = run_sweep(plan, tmp_path / "ref", workers=1, quiet=True)
    assert ref.complete
    assert_equal_to(moved, tmp_path / "ref")


# --- Ctrl-C -------------------------------------------------------------------------------------
def test_ctrl_c_stops_cleanly_and_resume_equals_uninterrupted(tmp_path):
    """SIGINT to the sweep's process group (what Ctrl-C in a terminal sends) once a chunk is stored:
    exit 130 with a one-line message, finished chunks kept, --resume finishes the rest."""
    import signal
    import time

    # 400 runs in 100 chunks: long enough (seconds) that the interrupt, sent as soon as the first chunk
    # is stored, always lands mid-sweep, even on a loaded machine (80 runs once finished first in CI)
    spec = spec_file(tmp_path, replicates=100, chunk_size=4)
    plan = plan_sweep(spec)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "COHERENCE_SIM_START_METHOD"}
    # SIGINT back to its default in the child: a test run started in the background by a
    # non-interactive shell (`cmd &`, as CI may be) inherits SIGINT ignored, and Python keeps an
    # inherited "ignore" -- the sweep would then rightly carry on through the interrupt
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "sweep", str(spec), "--out", str(out), "--workers", "2", "--quiet"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if read_manifest(out)["completed"]:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.005)
        assert proc.poll() is None, "the sweep finished before the interrupt: nothing would be tested"
        os.killpg(proc.pid, signal.SIGINT)  # parent and workers, as a terminal does
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted; finished chunks are kept" in err and "--resume" in err, err
    saved = assert_store_intact(out)
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "interrupted" and 0 < saved < plan.n_runs
    result = run_sweep(plan, out, workers=1, quiet=True, resume=True)
    assert result.complete and result.runs_this_session == plan.n_runs - saved
    assert run_sweep(plan, tmp_path / "ref", workers=1, quiet=True).complete
    assert_equal_to(out, tmp_path / "ref")


@pytest.mark.parametrize("when", ["just after the temporary file is created", "while writing", "while renaming"])
def test_an_interrupt_at_any_point_of_a_write_leaves_no_temporary_file(tmp_path, monkeypatch, when):
    """Ctrl-C can arrive between any two bytecodes, including right after ``os.open`` returns and
    before its descriptor is stored: the temporary file is removed whichever, and the target keeps
    its old content."""
    target = tmp_path / "chunk.parquet"
    target.write_bytes(b"old")
    real_open = os.open

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if when.startswith("just after"):
        def open_then_interrupt(*args, **kwargs):
            real_open(*args, **kwargs)  # created, descriptor dropped: the worst moment
            raise KeyboardInterrupt
        monkeypatch.setattr(files.os, "open", open_then_interrupt)
    elif when == "while writing":
        monkeypatch.setattr(files, "_write_fd", interrupted)
    else:
        monkeypatch.setattr(files.os, "replace", interrupted)
    fd = real_open(tmp_path, os.O_RDONLY)
    try:
        with pytest.raises(KeyboardInterrupt):
            files.write_at(fd, "chunk.parquet", b"new content")
    finally:
        os.close(fd)
        monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk.parquet"]
    assert target.read_bytes() == b"old"
