"""The EMA Workbench and SALib adapters, end to end on small designs, exactly as docs/api.md shows them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from api_snippets import code_lines, run_snippet, snippet
from experiments import api
from experiments.api import FactorError

pytest.importorskip("ema_workbench")


def test_ema_workbench_model_runs_perform_experiments_in_at_most_five_lines():
    assert len(code_lines(snippet("ema"))) <= 5
    ns = run_snippet("ema")
    experiments, outcomes = ns["experiments"], ns["outcomes"]
    assert len(experiments) == 6 and set(outcomes) == {"Diamond__share_consistent"}
    y = outcomes["Diamond__share_consistent"]
    assert y.shape == (6,)
    # each experiment is evaluate() of its setting (two replicates, seed 1, common random numbers)
    for i in (0, 5):
        row = experiments.iloc[i]
        settings = {"parameters.change_rate": row["parameters__change_rate"], "districts.Diamond.lead.buy_in": row["districts__Diamond__lead__buy_in"]}
        assert 0.05 <= settings["parameters.change_rate"] <= 0.4 and 0.3 <= settings["districts.Diamond.lead.buy_in"] <= 1.0
        assert y[i] == pytest.approx(api.evaluate(settings, 2, 1)["Diamond.share_consistent"], nan_ok=True)
    model = ns["model"]
    assert [u.variable_name for u in model.uncertainties] == [["parameters.change_rate"], ["districts.Diamond.lead.buy_in"]]


def test_ema_model_takes_booleans_choices_and_derived_factors_and_refuses_unknown_keys():
    from ema_workbench import SequentialEvaluator, perform_experiments

    from experiments.adapters import ema_model

    model = ema_model({"districts.Diamond.prek_eliminated": None, "districts.Diamond.lead.positional_authority": None,
                       "parameters.change_rate": [0.1, 0.3]}, ["Diamond.share_continuity_end", "elements_changed"], replicates=1, seed=2)
    kinds = {u.name: type(u).__name__ for u in model.uncertainties}
    assert kinds == {"districts__Diamond__prek_eliminated": "BooleanParameter",
                     "districts__Diamond__lead__positional_authority": "BooleanParameter",
                     "parameters__change_rate": "CategoricalParameter"}
    with SequentialEvaluator(model) as ev:
        experiments, outcomes = perform_experiments(model, scenarios=3, evaluator=ev)
    assert set(experiments["parameters__change_rate"]) <= {0.1, 0.3}
    assert np.isfinite(outcomes["elements_changed"]).all()
    with pytest.raises(FactorError, match="uncertainties: 'parameters.nope' is not a factor"):
        ema_model(["parameters.nope"], ["share_consistent"])
    with pytest.raises(FactorError, match="outcomes: 'Nowhere.share_consistent' is not an outcome; allowed: elements_changed"):
        ema_model(["parameters.change_rate"], ["Nowhere.share_consistent"])


def test_salib_problem_spec_samples_evaluates_and_analyzes_in_at_most_five_lines():
    assert len(code_lines(snippet("salib"))) <= 5
    ns = run_snippet("salib")
    sp = ns["sp"]
    assert sp["names"] == ["parameters.change_rate", "districts.Diamond.lead.buy_in"]
    assert sp["bounds"] == [[0.005, 0.5], [0.0, 1.0]]
    X, Y = sp.samples, sp.results
    assert X.shape == (8 * 4, 2) and Y.shape == (8 * 4,)
    # the model function runs each row through the project's runner: row i is evaluate_design's row i
    design = pd.DataFrame(X[:5], columns=sp["names"])
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
        problem_spec(["parameters.change_rate"], outputs=["share_nothing"])
