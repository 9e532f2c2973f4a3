"""``coherence-sim discover`` end to end: a tiny real sweep store and a tiny real sensitivity store
through the command line (parse -> experiments.discovery.discover -> print), the default output
folder, every option reaching the library, and bad input as one line with exit status 2."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ema_workbench")

from experiments.api import pool_replicates  # noqa: E402
from experiments.cli import main  # noqa: E402
from experiments.discovery import FILES, default_out  # noqa: E402

OUTCOME = "Diamond.share_consistent"


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory) -> Path:
    """24 design points x 2 replicates over conditions of Diamond (no model parameter names)."""
    from experiments.scenario import default_scenario
    from experiments.sweep import run_design

    root = tmp_path_factory.mktemp("discover-cli")
    design = pd.DataFrame({
        "districts.Diamond.lead.buy_in": np.linspace(0.1, 1.0, 24),
        "districts.Diamond.lead.positional_authority": np.repeat([False, True], 12),
        "program.years": np.tile([1, 2, 3, 4], 6),
    })
    run_design(default_scenario(), design, 2, 5, root / "sweep", workers=1, quiet=True)
    return root / "sweep"


def _median(store: Path, outcome: str) -> float:
    from experiments.sweep import load_results

    runs, _ = load_results(store)
    return float(pool_replicates(runs, [outcome])[outcome].median())


def test_discover_command_on_a_tiny_sweep_store(sweep_store, tmp_path, capsys):
    threshold = _median(sweep_store, OUTCOME)
    out = tmp_path / "out"
    code = main(["discover", str(sweep_store), "--outcome", OUTCOME, "--above", repr(threshold), "--out", str(out),
                 "--bootstrap", "5", "--seed", "3", "--min-coverage", "0.4", "--density-tolerance", "0.05",
                 "--significance", "0.2", "--quiet"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    answer = (out / "answer.txt").read_text().strip()
    assert answer in printed.out and "Wrote: " in printed.out and printed.err == ""
    data = json.loads((out / "boxes.json").read_text())
    s = data["settings"]
    assert (s["bootstrap"], s["seed"], s["min_coverage"], s["density_tolerance"], s["significance"]) == (5, 3, 0.4, 0.05, 0.2)
    assert data["outcome"] == OUTCOME and data["direction"] == "above"


def test_discover_command_below_share_nan_default_out_and_no_figures(sweep_store, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    threshold = _median(sweep_store, OUTCOME)
    code = main(["discover", str(sweep_store), "--outcome", OUTCOME, "--below", str(threshold), "--aggregate", "share",
                 "--share-min", "0.5", "--nan", "not_of_interest", "--bootstrap", "0", "--no-figures"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    out = default_out(sweep_store, OUTCOME, "below", threshold)
    assert out.parts[:2] == ("results", "discovery") and out.is_dir()
    assert sorted(p.name for p in out.iterdir()) == sorted(f for f in FILES if not f.endswith(".png"))
    s = json.loads((out / "boxes.json").read_text())["settings"]
    assert (s["aggregate"], s["share_min"], s["nan"]) == ("share", 0.5, "not_of_interest")
    assert "discover: PRIM on" in printed.err  # progress lines on stderr unless --quiet


@pytest.mark.parametrize("argv, message", [
    (["--outcome", "Diamond.no_such_outcome", "--above", "0.3"], "Diamond.no_such_outcome"),
    (["--outcome", OUTCOME, "--above", "2"], "leaves none of the"),
    (["--outcome", OUTCOME, "--above", "0.3", "--share-min", "0"], "share_min: 0.0 is not allowed"),
    (["--outcome", OUTCOME, "--above", "nan"], "above: nan is not allowed; allowed: a finite number"),
])
def test_discover_command_bad_input_is_one_line_and_exit_2(sweep_store, tmp_path, capsys, argv, message):
    code = main(["discover", str(sweep_store), *argv, "--out", str(tmp_path / "o"), "--quiet", "--bootstrap", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("coherence-sim: error: ") and message in err and len(err.strip().splitlines()) == 1


def test_discover_command_needs_exactly_one_threshold(sweep_store, capsys):
    for argv in (["--outcome", OUTCOME], ["--outcome", OUTCOME, "--above", "0.1", "--below", "0.2"]):
        with pytest.raises(SystemExit) as exc:
            main(["discover", str(sweep_store), *argv])
        assert exc.value.code == 2
    assert "--above" in capsys.readouterr().err


def test_discover_command_on_a_store_that_is_not_one(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["discover", str(tmp_path / "empty"), "--outcome", OUTCOME, "--above", "0.3", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("coherence-sim: error: ")


def test_discover_command_on_a_tiny_sensitivity_store(tmp_path, capsys):
    import experiments.sensitivity as sens

    data = tomllib.loads(sens.DEFAULT_SPEC.read_text())
    data["study"].update(replicates=2)
    data["morris"].update(trajectories=2, num_resamples=50)
    spec = sens.validate_sensitivity_spec(data, base_dir=sens.DEFAULT_SPEC.parent)
    m = sens.run_morris(spec, tmp_path / "study", workers=1, quiet=True)
    runs = pd.concat([pd.read_parquet(p) for p in sorted((m.store / "runs").glob("*.parquet"))])
    pooled = pool_replicates(runs, ["share_consistent"])["share_consistent"]
    threshold = float(pooled.min() + pooled.max()) / 2  # inside the range, whatever the model makes of it
    out = tmp_path / "out"
    code = main(["discover", str(tmp_path / "study"), "--outcome", "share_consistent", "--above", repr(threshold),
                 "--stage", "morris", "--bootstrap", "3", "--out", str(out), "--quiet"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    data = json.loads((out / "boxes.json").read_text())
    assert list(data["stages"]) == [m.store.name]
    assert (out / "answer.txt").read_text().strip() in printed.out
