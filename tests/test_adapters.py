"""The EMA Workbench and SALib adapters, end to end on small designs, exactly as docs/api.md shows them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from api_snippets import DOC, README, code_lines, run_snippet, snippet
from experiments import api
from experiments.api import FactorError
from sim.parameters import PARAMETER_SPECS

#: a model parameter, whichever the model has (no names hard-coded: the model is being rebuilt)
NAME = next(iter(PARAMETER_SPECS))
PARAM = f"parameters.{NAME}"

pytest.importorskip("ema_workbench")


@pytest.mark.parametrize("doc, name", [(DOC, "ema"), (README, "readme-ema")])
def test_ema_workbench_model_runs_perform_experiments_in_at_most_five_lines(doc, name):
    assert len(code_lines(snippet(name, doc))) <= 5
    ns = run_snippet(name, doc)
    experiments, outcomes = ns["experiments"], ns["outcomes"]
    assert len(experiments) == 6 and set(outcomes) == {"Diamond__share_consistent"}
    y = outcomes["Diamond__share_consistent"]
    assert y.shape == (6,)
    # each experiment is evaluate() of its setting (two replicates, seed 1, common random numbers)
    for i in (0, 5):
        row = experiments.iloc[i]
        settings = {"districts.Diamond.lead.buy_in": row["districts__Diamond__lead__buy_in"], "program.years": int(row["program__years"])}
        assert 0.3 <= settings["districts.Diamond.lead.buy_in"] <= 1.0 and 1 <= settings["program.years"] <= 5
        assert y[i] == pytest.approx(api.evaluate(settings, 2, 1)["Diamond.share_consistent"], nan_ok=True)
    model = ns["model"]
    assert [u.variable_name for u in model.uncertainties] == [["districts.Diamond.lead.buy_in"], ["program.years"]]


def test_ema_model_takes_booleans_choices_and_derived_factors_and_refuses_unknown_keys():
    from ema_workbench import SequentialEvaluator, perform_experiments

    from experiments.adapters import ema_model

    spec = PARAMETER_SPECS[NAME]
    VALUES = [spec.low + 0.25 * (spec.high - spec.low), spec.low + 0.75 * (spec.high - spec.low)]
    model = ema_model({"districts.Diamond.prek_eliminated": None, "districts.Diamond.lead.positional_authority": None,
                       PARAM: VALUES}, ["Diamond.share_continuity_end", "elements_changed"], replicates=1, seed=2)
    kinds = {u.name: type(u).__name__ for u in model.uncertainties}
    assert kinds == {"districts__Diamond__prek_eliminated": "BooleanParameter",
                     "districts__Diamond__lead__positional_authority": "BooleanParameter",
                     f"parameters__{NAME}": "CategoricalParameter"}
    with SequentialEvaluator(model) as ev:
        experiments, outcomes = perform_experiments(model, scenarios=3, evaluator=ev)
    assert set(experiments[f"parameters__{NAME}"]) <= set(VALUES)
    assert np.isfinite(outcomes["elements_changed"]).all()
    with pytest.raises(FactorError, match="uncertainties: 'parameters.nope' is not a factor"):
        ema_model(["parameters.nope"], ["share_consistent"])
    with pytest.raises(FactorError, match="outcomes: 'Nowhere.share_consistent' is not an outcome; allowed: elements_changed"):
        ema_model([PARAM], ["Nowhere.share_consistent"])


@pytest.mark.parametrize("doc, name", [(DOC, "salib"), (README, "readme-salib")])
def test_salib_problem_spec_samples_evaluates_and_analyzes_in_at_most_five_lines(doc, name):
    assert len(code_lines(snippet(name, doc))) <= 5
    ns = run_snippet(name, doc)
    sp = ns["sp"]
    assert sp["names"] == ["districts.Diamond.lead.buy_in", "districts.Diamond.lead.positional_authority"]
    assert sp["bounds"] == [[0.0, 1.0], [0.0, 1.0]]
    X, Y = sp.samples, sp.results
    assert X.shape == (8 * 4, 2) and Y.shape == (8 * 4,)
    # the model function runs each row through the project's runner: row i is evaluate_design's row i
    design = pd.DataFrame({k: [api.FACTORS[k].coerce(v) for v in X[:5, j]] for j, k in enumerate(sp["names"])})
    assert design["districts.Diamond.lead.positional_authority"].map(type).eq(bool).all()
    expected = api.evaluate_design(design, 2, 1, outputs=["Diamond.share_consistent"])
    assert Y[:5] == pytest.approx(expected["Diamond.share_consistent"].to_numpy(), nan_ok=True)
    Si = sp.analysis
    assert set(Si) >= {"S1", "ST"} and np.shape(Si["ST"]) == (2,)


def test_salib_model_maps_unit_samples_of_integers_booleans_and_choices():
    from experiments.adapters import problem_spec, salib_model

    sp = problem_spec(["districts.Diamond.lead.positional_authority", "districts.Diamond.capacity_profile", "program.slo_audience.2"],
                      outputs=["Diamond.elements_changed", "share_transformed"])
    n_prof = int(api.FACTORS["districts.Diamond.capacity_profile"].high) + 1
    assert sp["bounds"] == [[0.0, 1.0], [0.0, float(n_prof)], [0.0, 2.0]]
    X = np.array([[0.2, 0.0, 0.4], [0.7, n_prof - 0.01, 1.9]])
    Y = salib_model(sp, replicates=1, seed=4)(X)
    assert Y.shape == (2, 2)
    settings = {"districts.Diamond.lead.positional_authority": True, "districts.Diamond.capacity_profile": n_prof - 1,
                "program.slo_audience.2": api.FACTORS["program.slo_audience.2"].choices[1]}
    assert Y[1] == pytest.approx([api.evaluate(settings, 1, 4)[o] for o in ("Diamond.elements_changed", "share_transformed")])
    with pytest.raises(FactorError, match="outputs: 'share_nothing' is not an outcome"):
        problem_spec([PARAM], outputs=["share_nothing"])


# --- mesa.batch_run ---------------------------------------------------------------------------------
def test_case_model_inputs_are_the_default_scenario_with_the_factors():
    from experiments.api import CaseModel, case_model
    from experiments.evidence import default_parameters
    from experiments.scenario import default_scenario

    assert case_model is CaseModel
    base = default_scenario()
    conds, params = CaseModel.inputs()
    assert conds == base.conditions()[0] and params == default_parameters()
    K = int(api.FACTORS["capacity_assignment"].high) + 1
    assert CaseModel.inputs(assignment=K - 1)[0] == base.conditions()[K - 1]
    spec = PARAMETER_SPECS[NAME]
    v = spec.low + 0.5 * (spec.high - spec.low)
    # a parameter by its bare name (as CoherenceModel takes them) or as a dotted key; conditions by dotted key
    _, p1 = CaseModel.inputs(**{NAME: v})
    _, p2 = CaseModel.inputs(**{PARAM: v})
    assert p1 == p2 == default_parameters().replace(**{NAME: v})
    c, _ = CaseModel.inputs(**{"districts.Diamond.lead.positional_authority": True})
    assert next(d for d in c.districts if d.name == "Diamond").lead.positional_authority is True
    with pytest.raises(FactorError, match=rf"assignment: {K} is not allowed"):
        CaseModel.inputs(assignment=K)
    with pytest.raises(FactorError, match=NAME):
        CaseModel.inputs(**{NAME: spec.high + 1.0})
    with pytest.raises(FactorError, match="districts.Nowhere"):
        CaseModel.inputs(**{"districts.Nowhere.lead.buy_in": 0.5})


@pytest.mark.parametrize("doc, name", [(DOC, "batch-run"), (README, "readme-batch-run")])
def test_mesa_batch_run_runs_the_case_model_with_named_parameters(doc, name):
    import multiprocessing

    from experiments.api import CaseModel

    start = multiprocessing.get_start_method(allow_none=True)
    try:  # batch_run switches the start method to "spawn" for the whole process (docs: pitfalls)
        assert len(code_lines(snippet(name, doc))) <= 5
        rows = run_snippet(name, doc)["rows"]
        from mesa import batch_run

        spec = PARAMETER_SPECS[NAME]
        v = spec.low + 0.5 * (spec.high - spec.low)
        by_name = batch_run(CaseModel, parameters={NAME: [v], "assignment": [0, 1]}, rng=[3], max_steps=100,
                            display_progress=False)
        again = batch_run(CaseModel, parameters={NAME: [v], "assignment": [0, 1]}, rng=[3], max_steps=100,
                          display_progress=False)
    finally:
        multiprocessing.set_start_method(start, force=True)
    horizon = CaseModel.inputs()[0].horizon_months
    assert {r["districts.Diamond.lead.positional_authority"] for r in rows} == {False, True}
    assert {r["rng"] for r in rows} == {1, 2}
    assert max(r["Step"] for r in rows) == horizon  # stopped at the horizon, not at max_steps
    reporters = set(rows[0]) - {"RunId", "iteration", "Step", "rng", "districts.Diamond.lead.positional_authority"}
    assert reporters, "the DataCollector reports something"
    assert any("AgentID" in r for r in rows), "agent reporters too"
    assert {r[NAME] for r in by_name} == {v} and by_name == again  # same seeds, same numbers
    model = CaseModel(rng=5)
    while model.running:
        model.step()
    assert model.steps == horizon
    with pytest.raises(Exception, match="horizon"):
        model.step()  # stepping past the horizon is a clear error
