"""One source of defaults (issue 16): the README's Python example, notebook 01's code path and
``coherence-sim case`` give the same numbers for the same seed and replicates; every entry point
starts from ``default_scenario()``; the calibrated file is used only when it fits the model's
parameter set (absent: the prior centre; for another parameter set: the prior centre and a warning
naming the mismatch), and provenance says which."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from api_snippets import README, run_snippet, snippet
from experiments.cli import main
from experiments.evidence import DefaultsWarning, default_parameters, model_defaults
from experiments.evidence import calibrated as calibrated_mod
from sim import Parameters
from sim.parameters import PARAMETER_SPECS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_01 = ROOT / "notebooks" / "01_four_districts.ipynb"
COMPARED = ("simulated", "simulated_p05", "simulated_p95", "simulated_end_of_run", "outcomes")


def _readme_case_call() -> tuple[int, int]:
    code = snippet("case", README)
    m = re.search(r"run_case\(replicates=(\d+), seed=(\d+)\)", code)
    assert m, "README's case snippet calls run_case(replicates=R, seed=S)"
    return int(m.group(1)), int(m.group(2))


def _notebook_01_summary(replicates: int, seed: int) -> dict:
    """Notebook 01's own cells, up to the one that summarises the run, with its parameters injected
    after the cell tagged 'parameters' (as the notebook tests and papermill do)."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("IPython")
    nb = nbformat.read(NOTEBOOK_01, as_version=4)
    ns: dict = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        exec(compile(cell.source, str(NOTEBOOK_01), "exec"), ns)  # noqa: S102 - the project's notebook
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            ns.update(REPLICATES=replicates, SEED=seed)
        if "summary" in ns and "run" in ns:
            return ns["summary"]
    raise AssertionError("notebook 01 never defines run and summary")


def _same(a: dict, b: dict) -> None:
    for key in COMPARED:
        assert json.loads(json.dumps(a[key])) == json.loads(json.dumps(b[key])), key


def test_readme_example_notebook_01_and_the_case_command_give_the_same_numbers(tmp_path, capsys):
    replicates, seed = _readme_case_call()
    ns = run_snippet("case", README)
    readme = ns["summary"]
    assert readme["provenance"]["defaults"] == model_defaults().label
    notebook = _notebook_01_summary(replicates, seed)
    assert main(["case", "--replicates", str(replicates), "--seed", str(seed), "--out", str(tmp_path / "case"),
                 "--no-figures", "--quiet"]) == 0
    capsys.readouterr()
    cli = json.loads((tmp_path / "case" / "summary.json").read_text())
    _same(readme, cli)
    _same(notebook, cli)
    assert readme["provenance"]["parameters"] == notebook["provenance"]["parameters"] == cli["provenance"]["parameters"]
    assert readme["provenance"]["parameters"] == default_parameters().to_dict()
    assert cli["provenance"]["defaults"] == readme["provenance"]["defaults"]
    assert cli["provenance"]["parameter_defaults"] == f"the defaults: {model_defaults().label}"


def test_readme_one_run_snippet_runs():
    ns = run_snippet("one-run", README)
    assert ns["scenario"].parameters_() == default_parameters()
    assert ns["result"].horizon_months == ns["scenario"].horizon_months


def test_every_entry_point_starts_from_the_default_scenario():
    from experiments import api
    from experiments.scenario import default_scenario, validate_scenario
    from experiments.sweep import load_sweep_spec, plan_sweep
    from experiments.whatif.compare import _base_scenario

    base = default_scenario()
    assert base.parameters_() == default_parameters()
    assert api.scenario_for({}) == base
    assert _base_scenario(None) == base
    spec = load_sweep_spec(ROOT / "experiments" / "data" / "sweeps" / "example_grid.toml")
    assert plan_sweep(spec).base == base
    # a scenario file that sets one parameter differs from the defaults in that one only
    name = next(iter(PARAMETER_SPECS))
    spec_ = PARAMETER_SPECS[name]
    value = (spec_.low + spec_.high) / 2
    data = {"name": "x", "districts": {"Solo": {**_solo()}}, "parameters": {name: value}}
    got = validate_scenario(data).parameters_()
    assert got == default_parameters().replace(**{name: value})


def _solo() -> dict:
    """Avalon of the default scenario with every starting capacity given (any district name then works)."""
    from experiments.scenario import default_scenario, scenario_dict
    from sim.vocab import Element

    d = scenario_dict(default_scenario())["districts"]["Avalon"]
    d["capacity"] = {e.key: "emergent" for e in Element}
    return d


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """Point the calibrated-defaults reader at an empty folder (and forget what it read)."""
    monkeypatch.setattr(calibrated_mod, "data_dir", lambda: tmp_path)
    calibrated_mod.forget_cached()
    yield tmp_path
    calibrated_mod.forget_cached()


def _write(folder: Path, parameters: dict, version: int = calibrated_mod.FORMAT_VERSION) -> Path:
    import tomli_w

    p = folder / calibrated_mod.CALIBRATED_FILE
    p.write_text(tomli_w.dumps({"meta": {"format_version": version, "created": "now", "budget": "full"},
                                "parameters": parameters}), encoding="utf-8")
    return p


def test_no_calibrated_file_means_the_prior_centre_and_says_so(data_dir, tmp_path, capsys):
    from experiments.scenario import default_scenario

    d = model_defaults()
    assert d.parameters == Parameters() and d.source == "prior centre" and d.label == "prior centre (no calibrated file)"
    assert default_scenario().parameters_() == Parameters()
    assert main(["case", "--replicates", "2", "--seed", "1", "--out", str(tmp_path / "c"), "--no-figures", "--quiet"]) == 0
    capsys.readouterr()
    prov = json.loads((tmp_path / "c" / "summary.json").read_text())["provenance"]
    assert prov["defaults"] == "prior centre (no calibrated file)" and prov["calibration"] is None


def test_a_file_for_this_parameter_set_is_used_and_what_it_leaves_out_is_named(data_dir):
    names = list(PARAMETER_SPECS)
    first, rest = names[0], names[1:]
    spec = PARAMETER_SPECS[first]
    value = spec.low + 0.25 * (spec.high - spec.low)
    p = _write(data_dir, {first: value})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = model_defaults()
    assert d.calibrated and d.parameters == Parameters().replace(**{first: value})
    assert d.label.startswith("calibrated (sha256 ") and d.sha256[:12] in d.label
    assert list(d.at_prior_centre) == rest and d.provenance()["defaults_detail"]["at_prior_centre"] == rest
    import hashlib

    assert d.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["unknown name", "out of range", "format"])
def test_a_file_for_another_parameter_set_gives_the_prior_centre_and_a_warning_naming_it(data_dir, kind):
    from experiments.scenario import default_scenario

    name = next(iter(PARAMETER_SPECS))
    spec = PARAMETER_SPECS[name]
    if kind == "unknown name":
        _write(data_dir, {name: spec.default, "a_parameter_of_another_model": 0.5})
        named = "a_parameter_of_another_model"
    elif kind == "out of range":
        _write(data_dir, {name: spec.high + 1.0})
        named = f"parameters.{name}"
    else:
        _write(data_dir, {name: spec.default}, version=calibrated_mod.FORMAT_VERSION + 1)
        named = "format_version"
    with pytest.warns(DefaultsWarning, match=re.escape(named)):
        d = model_defaults()
    assert d.parameters == Parameters() and d.source == "prior centre" and not d.calibrated
    assert d.label.startswith("prior centre (") and "another parameter set" in d.label and named in d.label
    assert default_scenario().parameters_() == Parameters()
    assert calibrated_mod.calibrated_parameters() is None


def test_rollouts_start_from_the_same_defaults():
    from experiments.population.rollout import _run_params

    assert _run_params(None) == default_parameters()
