"""experiments.api: factors and outcomes read off the model, evaluate, pooling, seeds (issue 16)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from api_snippets import code_lines, run_snippet, snippet
from experiments import api
from experiments.api import FactorError
from experiments.scenario import default_scenario
from sim.parameters import PARAMETER_SPECS
from sim.results import OUTCOME_NAMES

#: a model parameter, whichever the model has (no names hard-coded: the model is being rebuilt)
NAME = next(iter(PARAMETER_SPECS))
PARAM = f"parameters.{NAME}"
LOW, HIGH = PARAMETER_SPECS[NAME].low, PARAMETER_SPECS[NAME].high


def _at(u: float) -> float:
    return LOW + u * (HIGH - LOW)


@pytest.fixture(scope="module")
def base():
    return default_scenario()


def test_factors_follow_parameter_specs_and_the_scenario_schema(base):
    F = api.FACTORS
    for name, spec in PARAMETER_SPECS.items():  # every model parameter, with its spec's range and unit
        f = F[f"parameters.{name}"]
        assert (f.type, f.low, f.high, f.unit, f.kind) == ("float", spec.low, spec.high, spec.unit, "parameter")
        assert f.default == getattr(base.parameters, name)
    # schema scalars, with the schema's bounds
    assert (F["horizon_months"].type, F["horizon_months"].low, F["horizon_months"].high) == ("int", 1.0, 240.0)
    for d in base.districts:
        assert (F[f"districts.{d}.lead.buy_in"].low, F[f"districts.{d}.lead.buy_in"].high) == (0.0, 1.0)
        assert F[f"districts.{d}.lead.positional_authority"].type == "bool"
        for kind in ("prek_eliminated", "curriculum_adoption"):
            assert F[f"districts.{d}.{kind}"].kind == "derived"
    assert F["provider.kind"].type == "choice" and "pl_provider" in F["provider.kind"].choices
    assert not any(k.endswith((".role", ".name", ".agenda")) or k in ("name", "description") for k in F)  # free text is no factor
    # every factor is a key the scenario accepts: at its default, and at both ends of a number's range
    # (only keys that constrain each other -- team_teachers <= teachers, has_prek vs pre-K teachers -- may refuse)
    refused = []
    for k, f in F.items():
        values = [] if f.default is None else [f.default]
        if f.type == "float":
            values += [f.low, f.high]
        elif f.type == "choice":
            values += list(f.choices)
        for v in values:
            try:
                api.scenario_for({k: v}, base)
            except FactorError as exc:
                refused.append((k, v, str(exc)))
    assert not refused, refused[:3]
    with pytest.raises(FactorError, match=r"districts\.Diamond.*team_teachers \(10000\) exceeds"):
        api.scenario_for({"districts.Diamond.team_teachers": 10000}, base)
    ns = run_snippet("factors")
    assert ns["f"].key == "districts.Diamond.lead.buy_in"


def test_derived_factors_become_scenario_keys(base):
    enum = [d for d, m in base.districts.items() if m.capacity is None]
    assert enum, "the default scenario enumerates the case districts' capacities"
    d = enum[-1]
    profiles = api.capacity_profiles(d, base)
    assert len(profiles) == api.FACTORS[f"districts.{d}.capacity_profile"].high + 1 > 1
    s = api.scenario_for({f"districts.{d}.capacity_profile": 2}, base)
    assert s.districts[d].capacity == profiles[2]
    K = int(api.FACTORS["capacity_assignment"].high) + 1
    assert K == len(base.conditions())
    s = api.scenario_for({"capacity_assignment": 7}, base)
    assert len(s.conditions()) == 1
    (cond,) = s.conditions()
    assert cond == base.conditions()[7]  # assignment k of the enumeration, fixed
    # shocks: off, on at the base scenario's month, at a given month
    kind = "prek_eliminated"
    with_shock = [n for n, m in base.districts.items() if any(x.kind == kind for x in m.shocks)]
    assert with_shock
    w = with_shock[0]
    month = next(x.month for x in base.districts[w].shocks if x.kind == kind)
    assert not any(x.kind == kind for x in api.scenario_for({f"districts.{w}.{kind}": False}, base).districts[w].shocks)
    other = next(n for n in base.districts if n != w)
    on = api.scenario_for({f"districts.{other}.{kind}": True}, base).districts[other].shocks
    assert [(x.kind, x.month) for x in on if x.kind == kind] == [(kind, month)]
    at = api.scenario_for({f"districts.{other}.{kind}": 5}, base).districts[other].shocks
    assert [(x.kind, x.month) for x in at if x.kind == kind] == [(kind, 5)]
    # errors name the key
    with pytest.raises(FactorError, match=rf"districts\.{d}\.capacity_profile: 999 is not allowed; allowed: a whole number in \[0, "):
        api.scenario_for({f"districts.{d}.capacity_profile": 999}, base)
    with pytest.raises(FactorError, match=r"districts\.Nowhere\.prek_eliminated: 'Nowhere' is not a district"):
        api.scenario_for({"districts.Nowhere.prek_eliminated": True}, base)
    with pytest.raises(FactorError, match=rf"districts\.{d}\.capacity: set together with a derived capacity factor"):
        api.scenario_for({f"districts.{d}.capacity_profile": 0, f"districts.{d}.capacity": profiles[1]}, base)
    with pytest.raises(FactorError, match=r"parameters\.no_such_thing: unknown key"):
        api.scenario_for({"parameters.no_such_thing": 1.0}, base)
    with pytest.raises(FactorError, match=r"districts\.Diamond\.lead\.buy_in: 2\.0 is not allowed"):
        api.evaluate({"districts.Diamond.lead.buy_in": 2.0}, 1, 1)
    with pytest.raises(FactorError, match="replicates: 0 is not allowed"):
        api.evaluate({}, 0, 1)


def test_outcomes_name_every_column_and_say_how_they_are_pooled(base):
    O = api.OUTCOMES
    assert list(O) == list(OUTCOME_NAMES) + [f"{d}.{o}" for d in base.districts for o in OUTCOME_NAMES]
    o = O["Diamond.share_consistent"]
    assert (o.district, o.outcome, o.kind, o.weight) == ("Diamond", "share_consistent", "per changed element", "Diamond.elements_changed")
    assert "ratio of sums" in o.pooling and "NaN" in o.per_run
    assert O["elements_changed"].pooling == "mean over replicates"
    # pool_replicates: shares as ratios of sums; a replicate that changed nothing has no weight
    runs = pd.DataFrame({
        "design_point": [0, 0, 0, 1, 1, 2, 2],
        "D.share_consistent": [0.5, np.nan, 1.0, np.nan, np.nan, 0.25, 0.75],
        "D.elements_changed": [2.0, 0.0, 6.0, 0.0, 0.0, 4.0, 4.0],
    })
    p = api.pool_replicates(runs)
    assert p["D.share_consistent"].iat[0] == pytest.approx((0.5 * 2 + 1.0 * 6) / 8)
    assert math.isnan(p["D.share_consistent"].iat[1])  # no replicate changed anything
    assert p["D.share_consistent"].iat[2] == pytest.approx(0.5)
    assert p["D.elements_changed"].tolist() == pytest.approx([8 / 3, 0.0, 4.0])
    assert p["replicates"].tolist() == [3, 2, 2]
    imputed = api.pool_replicates(runs, impute=True)  # the sensitivity study's imputation (for Sobol')
    assert imputed["D.share_consistent"].iat[1] == pytest.approx((0.875 + 0.5) / 2)


def test_evaluate_is_reproducible_and_pools_its_replicates():
    settings = {"districts.Diamond.lead.buy_in": 0.6, PARAM: _at(0.4)}
    a = api.evaluate(settings, 5, 11)
    b = api.evaluate(settings, 5, 11)
    assert a.keys() == b.keys() == api.OUTCOMES.keys()
    assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)
    runs = api.evaluate_replicates(settings, 5, 11)
    assert len(runs) == 5 and runs["replicate"].tolist() == list(range(5))
    assert (runs["districts.Diamond.lead.buy_in"] == 0.6).all()
    w = runs["Diamond.elements_changed"].to_numpy()
    v = runs["Diamond.share_consistent"].to_numpy()
    ok = w > 0
    assert a["Diamond.share_consistent"] == pytest.approx((v[ok] * w[ok]).sum() / w[ok].sum())
    assert a["elements_changed"] == pytest.approx(runs["elements_changed"].mean())
    # nothing changes in a one-month horizon: counts 0, shares undefined
    none = api.evaluate({"horizon_months": 1}, 2, 1)
    assert none["elements_changed"] == 0.0 and math.isnan(none["share_consistent"]) and math.isnan(none["Diamond.share_consistent"])
    ns = run_snippet("evaluate")
    assert set(ns["res"]) == set(api.OUTCOMES)
    assert len(code_lines(snippet("evaluate"))) <= 5


def test_common_random_numbers_share_replicate_seeds():
    default_buy_in = api.FACTORS["districts.Diamond.lead.buy_in"].default
    same = {"districts.Diamond.lead.buy_in": default_buy_in}  # the base scenario, said differently
    other = {"districts.Diamond.lead.buy_in": 0.3}
    r0 = api.evaluate_replicates({}, 4, 3)
    r1 = api.evaluate_replicates(same, 4, 3)
    r2 = api.evaluate_replicates(other, 4, 3)
    outs = api.outcome_columns(r0.columns)
    # with common random numbers: one design point, the same seeds and capacity assignments
    for r in (r1, r2):
        assert r["design_point"].tolist() == [0] * 4
        assert r["assignment"].tolist() == r0["assignment"].tolist()
    pd.testing.assert_frame_equal(r0[outs], r1[outs])  # same setting, same draws: identical
    assert not r0[outs].equals(r2[outs])
    # without: each setting its own design point (a hash of the setting), reproducible
    n1 = api.evaluate_replicates(same, 4, 3, common_random_numbers=False)
    n2 = api.evaluate_replicates(other, 4, 3, common_random_numbers=False)
    assert n1["design_point"].iat[0] != n2["design_point"].iat[0] and n1["design_point"].iat[0] != 0
    assert not n1[outs].equals(r1[outs])
    pd.testing.assert_frame_equal(n1, api.evaluate_replicates(same, 4, 3, common_random_numbers=False))


def test_evaluate_design_gives_the_numbers_a_sweep_of_the_design_stores(tmp_path, base):
    from experiments.sweep import load_results, run_design

    design = pd.DataFrame({PARAM: [_at(0.1), _at(0.4), _at(0.8)], "districts.Diamond.lead.positional_authority": [False, True, True]})
    run_design(base, design, 2, 9, tmp_path / "sweep", workers=1, quiet=True)
    runs, _ = load_results(tmp_path / "sweep")
    outs = ["share_consistent", "Diamond.share_consistent", "Diamond.elements_changed", "Avalon.share_transformed"]
    swept = api.pool_replicates(runs, outs)[outs].reset_index(drop=True)
    ours = api.evaluate_design(design, 2, 9, common_random_numbers=False, outputs=outs)
    pd.testing.assert_frame_equal(ours, swept, check_names=False)
    # with common random numbers, row i equals evaluate() of that row
    crn = api.evaluate_design(design, 2, 9, outputs=outs)
    row = api.evaluate(design.iloc[1].to_dict(), 2, 9)
    assert crn.iloc[1].to_dict() == pytest.approx({k: row[k] for k in outs}, nan_ok=True)
    bad = HIGH + 1.0
    with pytest.raises(FactorError, match=rf"design row 0: parameters\.{NAME}: {bad!r} is"):
        api.evaluate_design(pd.DataFrame({PARAM: [bad]}), 1, 1)
