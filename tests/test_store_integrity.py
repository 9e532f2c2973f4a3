"""Damaged chunks are detected (issue 15, class 3).

A chunk file that is truncated, empty, has a flipped bit, is a copy of another chunk of the same
store, or comes from another store is (a) refused by ``load_results`` with an error naming the
chunk, and (b) recomputed by ``--resume`` -- exactly that chunk, after which the store equals an
uninterrupted one. Hand-edited manifests give a one-paragraph error, never a traceback. Recording
a chunk costs the same whatever the number of chunks already recorded (the manifest is not
rewritten per chunk).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas.testing as pdt
import pytest

import experiments.execution.files as files
import experiments.execution.store as _store
from experiments.execution.store import load_results, read_manifest

# (getattr: so that these tests run, and fail on behaviour, against the code before issue 15)
StoreError = getattr(_store, "StoreError", ValueError)
JOURNAL = getattr(_store, "JOURNAL", "chunks.jsonl")
from experiments.sweep import run_sweep

SPEC = """\
[sweep]
name = "integrity"
replicates = 2
seed = {seed}
chunk_size = 2
set = ["horizon_months=6"]

[design]
kind = "grid"

[design.factors]
"parameters.uptake_rate" = [0.1, 0.2, 0.3]
"""


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A complete store (3 chunks of 2 runs), and a complete store of another plan (another seed)."""
    d = tmp_path_factory.mktemp("integrity")
    spec = d / "spec.toml"
    spec.write_text(SPEC.format(seed=5), encoding="utf-8")
    other = d / "other.toml"
    other.write_text(SPEC.format(seed=6), encoding="utf-8")
    assert run_sweep(spec, d / "ref", workers=1, quiet=True).complete
    assert run_sweep(other, d / "foreign", workers=1, quiet=True).complete
    return spec, d / "ref", d / "foreign"


def flip_bit(p: Path) -> None:
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x10
    p.write_bytes(bytes(b))


DAMAGE = {
    "truncated": lambda out, foreign, sub: (out / sub / "chunk-000001.parquet").write_bytes(
        (out / sub / "chunk-000001.parquet").read_bytes()[:200]),
    "zero-length": lambda out, foreign, sub: (out / sub / "chunk-000001.parquet").write_bytes(b""),
    "bit-flip": lambda out, foreign, sub: flip_bit(out / sub / "chunk-000001.parquet"),
    "duplicated": lambda out, foreign, sub: shutil.copyfile(out / sub / "chunk-000000.parquet", out / sub / "chunk-000001.parquet"),
    "foreign": lambda out, foreign, sub: shutil.copyfile(foreign / sub / "chunk-000001.parquet", out / sub / "chunk-000001.parquet"),
    "missing": lambda out, foreign, sub: (out / sub / "chunk-000001.parquet").unlink(),
}


@pytest.mark.parametrize("sub", ["runs", "elements"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_chunk_is_refused_on_load_and_recomputed_on_resume(tmp_path, stores, damage, sub):
    spec, ref, foreign = stores
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    DAMAGE[damage](out, foreign, sub)
    with pytest.raises(StoreError, match=r"chunk 1 \(") as info:
        load_results(out)
    assert "--resume" in str(info.value)
    result = run_sweep(spec, out, workers=1, quiet=True, resume=True)
    assert result.complete and result.runs_this_session == 2  # exactly the damaged chunk, nothing else
    m = json.loads((out / "manifest.json").read_text())
    assert list(m["sessions"][-1]["recomputed"]) == ["1"]
    for got, want in zip(load_results(out), load_results(ref)):
        pdt.assert_frame_equal(got, want)


def test_a_chunk_copied_with_its_record_is_refused_as_runs_stored_twice(tmp_path, stores):
    """A hand-made duplicate that carries a valid record (both files and the record copied under
    another chunk number) is still caught: the chunk number written in the file, and runs twice."""
    spec, ref, _ = stores
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    m = json.loads((out / "manifest.json").read_text())
    for sub in ("runs", "elements"):
        shutil.copyfile(out / sub / "chunk-000000.parquet", out / sub / "chunk-000003.parquet")
    m["completed"]["3"] = dict(m["completed"]["0"], chunk=3)
    if hasattr(_store, "record_check"):
        m["completed"]["3"]["check"] = _store.record_check(m["completed"]["3"])
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreError, match="chunk 3"):
        load_results(out)
    result = run_sweep(spec, out, workers=1, quiet=True, resume=True)  # not a chunk of this plan: dropped
    assert result.complete and result.runs_this_session == 0
    assert "3" in json.loads((out / "manifest.json").read_text())["sessions"][-1]["recomputed"]
    assert not (out / "runs" / "chunk-000003.parquet").exists()
    pdt.assert_frame_equal(load_results(out)[0], load_results(ref)[0])


def test_an_edited_record_is_caught(tmp_path, stores):
    spec, ref, _ = stores
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    m = json.loads((out / "manifest.json").read_text())
    m["completed"]["2"]["runs"] = 7  # a record edited by hand
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreError, match="chunk 2"):
        load_results(out)
    result = run_sweep(spec, out, workers=1, quiet=True, resume=True)
    assert result.complete and result.runs_this_session == 2


BAD_MANIFESTS = {
    "not JSON": "{\"format\": \"coherence-sim sweep\", ",
    "empty": "",
    "a list": "[1, 2]",
    "completed is a list": None,
    "sessions is text": None,
    "plan_hash is a number": None,
    "format_version is text": None,
    "a chunk named abc": None,
    "not UTF-8": b"\xff\xfe{}",
}


def _edit(m: dict, what: str) -> dict:
    if what == "completed is a list":
        m["completed"] = [1, 2]
    elif what == "sessions is text":
        m["sessions"] = "yesterday"
    elif what == "plan_hash is a number":
        m["plan_hash"] = 12
    elif what == "format_version is text":
        m["format_version"] = "two"
    elif what == "a chunk named abc":
        m["completed"]["abc"] = m["completed"].pop("0")
    return m


@pytest.mark.parametrize("what", list(BAD_MANIFESTS))
def test_a_hand_edited_manifest_gives_one_paragraph_not_a_traceback(tmp_path, stores, capsys, what):
    from experiments.cli import main

    spec, ref, _ = stores
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    text = BAD_MANIFESTS[what]
    if text is None:
        text = json.dumps(_edit(json.loads((out / "manifest.json").read_text()), what))
    (out / "manifest.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(StoreError) as info:
        load_results(out)
    assert "manifest.json" in str(info.value) and "\n" not in str(info.value)
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coherence-sim: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert "manifest.json" in err


def test_a_damaged_journal_line_is_recomputed_on_resume_and_refused_on_load(tmp_path, stores, monkeypatch):
    spec, ref, _ = stores
    out = tmp_path / "out"
    from experiments.execution.store import SweepStore

    real, calls = SweepStore.write_chunk, {"n": 0}

    def stop_after_two(self, *a, **kw):
        real(self, *a, **kw)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(SweepStore, "write_chunk", stop_after_two)
    monkeypatch.setattr(SweepStore, "set_status", lambda self, *a, **kw: None)  # as killed: records only in the journal
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, workers=1, quiet=True)
    monkeypatch.undo()
    lines = (out / JOURNAL).read_text().splitlines()
    assert len(lines) == 2 and json.loads((out / "manifest.json").read_text())["completed"] == {}
    assert sorted(read_manifest(out)["completed"]) == ["0", "1"]
    (out / JOURNAL).write_text(lines[0].replace('"errors":0', '"errors":1') + "\n" + lines[1] + "\n")
    with pytest.raises(StoreError, match="chunks.jsonl line 1"):
        load_results(out)
    result = run_sweep(spec, out, workers=1, quiet=True, resume=True)
    assert result.complete and result.runs_this_session == 4  # chunk 0 (its record damaged) and chunk 2
    pdt.assert_frame_equal(load_results(out)[0], load_results(ref)[0])


def test_a_torn_last_journal_line_is_ignored(tmp_path, stores, monkeypatch):
    """kill -9 while appending a record leaves half a line: not a record, not an error."""
    spec, ref, _ = stores
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    m = json.loads((out / "manifest.json").read_text())
    rec = m["completed"].pop("2")
    (out / "manifest.json").write_text(json.dumps(m))
    (out / JOURNAL).write_text(json.dumps(rec)[:40])
    runs, _ = load_results(out)
    assert len(runs) == 4
    result = run_sweep(spec, out, workers=1, quiet=True, resume=True)
    assert result.complete and result.runs_this_session == 2
    pdt.assert_frame_equal(load_results(out)[0], load_results(ref)[0])


def test_recording_a_chunk_does_not_rewrite_the_manifest(tmp_path, monkeypatch):
    """Bytes written to record each chunk stay the same from the first chunk to the 600th (the
    old store rewrote the whole manifest after every chunk: quadratic in the number of chunks)."""
    import numpy as np
    import pyarrow as pa

    from experiments.execution.store import SweepStore, elements_schema

    written: dict[str, int] = {}
    real = files._write_fd

    def count(fd, data, name):
        written[name] = written.get(name, 0) + len(memoryview(data).cast("B"))
        real(fd, data, name)

    monkeypatch.setattr(files, "_write_fd", count)
    store = SweepStore.open(tmp_path / "s", {"format": "coherence-sim sweep", "plan_hash": "x", "plan": {}, "sessions": [{}]}, resume=False)
    per_chunk = []
    empty = elements_schema().empty_table()
    for c in range(600):
        before = written.get("manifest.json", 0) + written.get(JOURNAL, 0)
        runs = pa.table({"design_point": np.array([c], np.int64), "replicate": np.array([0], np.int64)})
        store.write_chunk(c, runs, empty, {"runs": 1, "errors": 0})
        per_chunk.append(written.get("manifest.json", 0) + written.get(JOURNAL, 0) - before)
    store.set_status("complete")
    store.close()
    assert max(per_chunk[-100:]) <= 1.1 * max(per_chunk[:100])  # flat, not growing with the chunks recorded
    assert len(read_manifest(tmp_path / "s")["completed"]) == 600
    assert (tmp_path / "s" / JOURNAL).stat().st_size == 0  # the session's end folded the journal into the manifest
    assert os.path.getsize(tmp_path / "s" / "manifest.json") > 600 * 100
