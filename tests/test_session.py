"""The one session loop (experiments.execution.session.run_session) that sweeps, rollouts and
sensitivity studies share: how a session ends is recorded the same way for each of them."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.execution.store import SweepStore, read_manifest
from experiments.population import make_rollout_plan, run_rollout
from experiments.scenario import default_scenario
from experiments.sweep import run_design


def _rollout(out):
    return run_rollout(make_rollout_plan("TX", n=4, replicates=1, chunk_size=2), out, workers=1, summarise=False)


def _sweep(out):
    design = pd.DataFrame({"parameters.uptake_rate": [0.1, 0.2]})
    return run_design(default_scenario(), design, replicates=1, seed=1, out_dir=out, chunk_size=1, workers=1, quiet=True)


@pytest.mark.parametrize("study", [_rollout, _sweep], ids=["rollout", "sweep"])
@pytest.mark.parametrize("error, status", [(RuntimeError("disk on fire"), "failed"), (KeyboardInterrupt(), "interrupted")],
                         ids=["error", "ctrl-c"])
def test_an_error_is_failed_and_ctrl_c_is_interrupted(tmp_path, monkeypatch, study, error, status):
    """A rollout used to record any exception as "interrupted"; only Ctrl-C is."""
    real = SweepStore.write_chunk
    calls = {"n": 0}

    def second_chunk_breaks(self, chunk, *args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise error
        return real(self, chunk, *args, **kw)

    monkeypatch.setattr(SweepStore, "write_chunk", second_chunk_breaks)
    with pytest.raises(type(error)):
        study(tmp_path / "out")
    manifest = read_manifest(tmp_path / "out")
    assert manifest["status"] == status
    assert manifest["sessions"][-1]["runs"] >= 1 and len(manifest["completed"]) == 1  # the first chunk is kept
    monkeypatch.setattr(SweepStore, "write_chunk", real)
    if study is _rollout:
        result = run_rollout(make_rollout_plan("TX", n=4, replicates=1, chunk_size=2), tmp_path / "out", workers=1,
                             summarise=False, resume=True)
    else:
        result = run_design(default_scenario(), pd.DataFrame({"parameters.uptake_rate": [0.1, 0.2]}), replicates=1, seed=1,
                            out_dir=tmp_path / "out", chunk_size=1, workers=1, quiet=True, resume=True)
    assert read_manifest(tmp_path / "out")["status"] == "complete" and result.runs_done == result.n_runs
