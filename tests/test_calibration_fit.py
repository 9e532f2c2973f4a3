"""The ABC calibration (calibration/fit.py and friends): priors, split and targets round-trip, the
distance, the simulator's seeding, pyabc's pieces, a deterministic quick calibration end to end,
the calibrated defaults and ``case --posterior``, and (slow) parameter recovery from simulated
tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from calibration.distance import (
    SUMMARY_SHAPES,
    Evidence,
    load_split,
    observed_array,
    run_summaries,
    table_distance,
)
from calibration.priors import load_priors
from experiments.evidence import load_observed
from sim import Parameters
from sim.parameters import PARAMETER_SPECS
from sim.vocab import CASE_DISTRICTS, Element

DATA = Path(__file__).resolve().parent.parent / "calibration" / "data"


@pytest.fixture(scope="module")
def split():
    return load_split()


@pytest.fixture(scope="module")
def priors():
    return load_priors()


def _observed_summaries(split) -> dict[str, np.ndarray]:
    """Summaries equal to the report's primary readings, with every depth and timing fact holding."""
    obs = load_observed()
    s = {name: observed_array(obs.tables, name) for name in ("table2", "table3", "table4", "table5", "consistency")}
    s["continuity_by_district"] = observed_array(obs.reading("end_of_run"), "continuity_by_district")
    s["principles"] = np.array([3, 0, 3, 0])
    fm = np.full((4, 6), -1)
    for d, e in split.components["timing"].facts:
        fm[d, e] = 30
    s["first_month"] = fm
    s["has_prek_end"] = np.array([1, 1, 1, 0])
    return s


# --- priors ----------------------------------------------------------------------------------


def test_priors_account_for_every_parameter(priors):
    assert set(priors.names) | set(priors.fixed) == set(PARAMETER_SPECS)
    assert not set(priors.names) & set(priors.fixed)
    for p in priors.free:
        spec = PARAMETER_SPECS[p.name]
        assert spec.low <= p.low < p.high <= spec.high
        assert p.reason and p.informs in ("fit", "holdout")
        x = np.linspace(p.low, p.high, 7)
        assert np.allclose(p.from_z(p.to_z(x)), x, rtol=1e-9, atol=1e-9)
    fit = priors.subset("fit").names
    assert "uptake_rate" in fit and "link_rate" not in fit


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("[free.uptake_rate]", "[free.uptake_rat]"), "free.uptake_rat: unknown parameter"),
        (lambda t: t.replace("high = 0.5\n", "high = 5.0\n", 1), "free.uptake_rate.high"),
        (lambda t: t.replace('turbulence_scale = "', 'turbulence_scal = "'), "fixed.turbulence_scal"),
        (lambda t: t.replace('prior = "uniform"', 'prior = "normal"', 1), "prior: 'normal' is not allowed"),
    ],
)
def test_bad_priors_file_names_the_key(tmp_path, edit, message):
    p = tmp_path / "priors.toml"
    p.write_text(edit((DATA / "priors.toml").read_text()), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_priors(p)


# --- targets and the split round-trip ----------------------------------------------------------


def test_targets_round_trip_through_the_split(split):
    obs = load_observed()
    for c in split.components.values():
        if c.kind != "table":
            continue
        for reading, arr in zip(c.readings, c.observed):
            tables = obs.reading(*reading)
            assert np.array_equal(arr, observed_array(tables, c.table))
            # and back: the array is the table, row by row, in vocabulary order
            rows = tables[c.table]
            assert [list(r.values()) for r in rows.values()] == arr.tolist()
    assert split.components["table2"].observed[0].tolist() == [[1, 0, 5], [2, 3, 1], [0, 1, 5], [1, 2, 3]]
    assert len(split.components["consistency"].readings) == 9
    assert split.components["table4"].readings == ((), ("table4_text",))
    d = split.to_dict()
    assert d["sets"]["fit"] == ["table2", "table3", "consistency"]
    assert set(d["sets"]["holdout"]) == {"table4", "table5", "continuity_end", "depth", "timing"}
    # every fact of the split is a fact of observed.toml, with its lines
    timing = split.components["timing"]
    assert [(CASE_DISTRICTS[d], Element(e).key) for d, e in timing.facts] == [
        ("Avalon", "school_leader_learning"), ("Cedarville", "school_leader_learning"),
        ("Diamond", "school_leader_learning"), ("Cedarville", "assessment"),
    ]
    assert all(lines for lines in timing.fact_lines)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace('["table4_text"]', '["table4_txt"]'), "readings\\[1\\]: alternatives: 'table4_txt'"),
        (lambda t: t.replace('holdout = ["table4",', 'holdout = ["table3", "table4",'), "also fitted"),
        (lambda t: t.replace('["Cedarville", "assessment"]', '["Birchwood", "assessment"]'), "no timing fact for Birchwood"),
        (lambda t: t.replace('beyond = ["Avalon", "Cedarville"]', 'beyond = ["Avalon", "Diamond"]'), "depth fact 'hlpp' for Diamond"),
    ],
)
def test_bad_split_file_names_the_key(tmp_path, edit, message):
    p = tmp_path / "split.toml"
    p.write_text(edit((DATA / "split.toml").read_text()), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_split(p)


# --- the distance ---------------------------------------------------------------------------


def test_distance_is_zero_for_identical_tables_and_grows_with_a_perturbation(split):
    s = _observed_summaries(split)
    final = split.evidence("final")
    assert final.distance(s) == 0.0
    assert all(v == 0 for v in final.components(s).values())
    tables = {c.table: c for c in final.components_ if c.kind == "table"}
    for name, comp in tables.items():
        base = s[name]
        for k in (1, 2):
            moved = base.copy()
            row = int(np.argmax(base.max(axis=1)))
            j = int(np.argmax(base[row]))
            moved[row, j] -= k
            moved[row, (j + 1) % base.shape[1]] += k
            assert table_distance(moved, base) == k
            got = final.distance({**s, name: moved})
            assert got == min(table_distance(moved, o) for o in comp.observed)
            if len(comp.readings) == 1:
                assert got == k  # one element out of place per element moved
    # consistency: moving elements to 'not consistent' in Avalon matches no reading
    moved = s["consistency"].copy()
    moved[0] = [1, 3, 0, 2]
    assert final.distance({**s, "consistency": moved}) == 2
    # facts: each violated fact adds its component's weight
    wd, wt = split.components["depth"].weight, split.components["timing"].weight
    assert final.components({**s, "principles": np.array([1, 0, 3, 0])})["depth"] == 1
    assert final.distance({**s, "principles": np.array([1, 0, 3, 0])}) == pytest.approx(wd)
    assert final.distance({**s, "principles": np.array([1, 2, 3, 0])}) == pytest.approx(2 * wd)
    fm = s["first_month"].copy()
    fm[0, Element.SCHOOL_LEADER_LEARNING] = 5
    assert final.distance({**s, "first_month": fm}) == pytest.approx(wt)
    fm[2, Element.ASSESSMENT] = 12  # Cedarville, year 2
    assert final.distance({**s, "first_month": fm}) == pytest.approx(2 * wt)


def test_distance_takes_the_closest_reading(split):
    obs = load_observed()
    s = _observed_summaries(split)
    for alt in ("consistency_somewhat_avalon", "consistency_diamond_assessment_somewhat"):
        s2 = {**s, "consistency": observed_array(obs.reading(alt), "consistency")}
        assert split.evidence("fit").distance(s2) == 0.0
    s4 = {**s, "table4": observed_array(obs.reading("table4_text"), "table4")}
    assert split.evidence("holdout").distance(s4) == 0.0
    # a reading not declared in the split is not free: it costs what it moves
    assert Evidence((split.components["table2"],)).distance(s) == 0.0


def test_run_summaries_are_the_runs_tables():
    from calibration.simulator import case_conditions_cached
    from experiments.execution.runner import run_replicates

    conds = case_conditions_cached()
    ((_, _, res),) = run_replicates(conds, Parameters(), 3, [0])
    s = run_summaries(res)
    assert {k: v.shape for k, v in s.items()} == SUMMARY_SHAPES
    t = res.tables()
    for k in ("table2", "table3", "table4", "table5", "consistency"):
        assert np.array_equal(s[k], t[k])
    assert s["table2"].sum(axis=1).tolist() == [6, 6, 6, 6]
    assert s["table3"].sum(axis=1).tolist() == [7, 3, 14]
    assert s["continuity_by_district"].sum(axis=1).tolist() == [6, 6, 6, 6]


# --- the simulator and pyabc's pieces ---------------------------------------------------------


def test_a_particle_is_a_deterministic_function_of_seed_and_parameters(priors):
    from calibration.simulator import CaseSimulator, particle_key

    names = priors.names
    theta = {p.name: p.spec_default for p in priors.free}
    sim = CaseSimulator(names, 11)
    a, b = sim(theta), sim(dict(theta))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    other = {**theta, "uptake_rate": theta["uptake_rate"] * (1 + 1e-12)}
    assert particle_key(11, theta, names) != particle_key(11, other, names)
    assert particle_key(11, theta, names) != particle_key(12, theta, names)
    assert 0 <= particle_key(11, theta, names) < 2**63


def test_transitions_match_pyabc_and_are_normalised():
    pytest.importorskip("pyabc")
    from pyabc.transition import MultivariateNormalTransition

    from calibration.abc_parts import DefensiveTransition, FastMultivariateNormalTransition, StdNormal

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(150, 3)), columns=["a", "b", "c"])
    w = rng.random(150)
    w /= w.sum()
    ref, fast = MultivariateNormalTransition(), FastMultivariateNormalTransition()
    ref.fit(X, w)
    fast.fit(X, w)
    Q = pd.DataFrame(rng.normal(size=(20, 3)), columns=X.columns)
    assert np.allclose(ref.pdf(Q), fast.pdf(Q), rtol=1e-8)
    # the defensive mixtures (KDE or fitted Gaussian as the main component) are densities: Monte
    # Carlo integral over a box ~ 1; draws centre on the weighted mean
    box = rng.uniform(-12, 12, size=(200_000, 3))
    for main in ("kde", "gaussian"):
        dt = DefensiveTransition(main=main)
        dt.fit(X, w)
        integral = dt.pdf(pd.DataFrame(box, columns=X.columns)).mean() * 24**3
        assert integral == pytest.approx(1.0, abs=0.05), main
        np.random.seed(5)
        draws = pd.DataFrame([dict(dt.rvs()) for _ in range(3000)])
        assert np.all(np.abs(draws.mean().to_numpy() - (w @ X.to_numpy())) < 0.2), main
    with pytest.raises(ValueError, match="main"):
        DefensiveTransition(main="nope")
    sn = StdNormal()
    zs = np.linspace(-30, 30, 60001)
    assert np.trapezoid([sn.pdf(z) for z in zs], zs) == pytest.approx(1.0, abs=1e-6)
    assert sn.cdf(0.0) == pytest.approx(0.5) and sn.cdf(1.96) == pytest.approx(0.975, abs=1e-3)


def test_the_posterior_is_the_last_generation_whose_weights_have_not_degenerated():
    # A generation whose importance-sampling ESS collapsed is not used; a later one that recovers
    # is (calibration/fit.py _kept_generation).
    from calibration.fit import _kept_generation

    class History:
        def __init__(self, weights):
            self.weights = weights
            self.max_t = len(weights) - 1

        def get_distribution(self, m, t):
            return None, np.asarray(self.weights[t], dtype=float)

    even, skewed = np.ones(100), np.r_[np.full(5, 20.0), np.ones(95)]  # ESS 100 and about 18
    assert _kept_generation(History([even, even, skewed]), 30) == (1, [100.0, 100.0, pytest.approx(18.15, abs=0.01)])
    assert _kept_generation(History([even, skewed, even]), 30)[0] == 2  # a recovery is kept
    assert _kept_generation(History([even, skewed, skewed]), 0)[0] == 2  # no floor: the last
    assert _kept_generation(History([even, skewed]), 1000)[0] == 1  # nothing qualifies: the last


def test_seeded_single_core_stage_is_bit_reproducible(tmp_path, split, priors):
    from calibration.fit import Budget, run_stage

    b = Budget("tiny", population=30, max_generations=2, max_simulations=400, min_acceptance_rate=0.05,
               max_walltime_s=None, predictive_draws=10, scheduler="single")
    ev = split.evidence("fit")
    sub = priors.subset("fit")
    r1 = run_stage("fit", ev, sub, b, tmp_path / "a.db", seed=3)
    r2 = run_stage("fit", ev, sub, b, tmp_path / "b.db", seed=3)
    r3 = run_stage("fit", ev, sub, b, tmp_path / "c.db", seed=4)
    pd.testing.assert_frame_equal(r1.particles, r2.particles)
    assert r1.n_simulations == r2.n_simulations
    assert not r1.particles.equals(r3.particles)
    assert r1.deterministic and r1.generations == 2
    with pytest.raises(ValueError, match="continue it with --resume"):
        run_stage("fit", ev, sub, b, tmp_path / "a.db", seed=3)
    again = run_stage("fit", ev, sub, b, tmp_path / "a.db", seed=3, resume=True)  # complete: just loads
    pd.testing.assert_frame_equal(again.particles, r1.particles)


# --- the quick calibration, end to end ---------------------------------------------------------


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    from calibration.fit import calibrate

    out = tmp_path_factory.mktemp("quick")
    events = []
    result = calibrate("quick", out / "run", write_defaults=True, defaults_dir=out / "data", progress=events.append)
    return result, out, events


def test_quick_calibration_writes_everything(quick):
    result, out, events = quick
    run = out / "run"
    for f in ("report.md", "calibration.json", "history_fit.db", "history_final.db", "posterior_fit.csv",
              "posterior_final.csv", "posterior_samples.csv", "predictive_tables.png", "posterior_marginals.png",
              "posterior_pairs.png", "predictive_facts.png", "abc_trajectory.png"):
        assert (run / f).exists() and (run / f).stat().st_size > 0, f
    data = json.loads((run / "calibration.json").read_text())
    assert data["provenance"]["split"]["sets"]["fit"] == ["table2", "table3", "consistency"]
    assert data["stages"]["fit"]["parameters"] == list(load_priors().subset("fit").names)
    assert data["stages"]["final"]["deterministic"] is True
    assert set(data["predictive"]["sets"]) == {"prior", "defaults", "fit", "final", "calibrated", "null"}
    report = (run / "report.md").read_text()
    assert "held out" in report and "What fits and what does not" in report and "Out-of-sample test" in report
    # honest labels: a quick calibration says so at the top, and claims nothing from too few effective particles
    assert report.splitlines()[2].startswith("> **PROVISIONAL -- not a calibration to rely on: quick budget")
    from calibration.report import MIN_ESS, _effective

    if _effective(result.stages["final"]) < MIN_ESS:
        assert "pinned down (" not in report and "| partly (" not in report
    assert any(e.get("stage") == "fit" for e in events) and any(e.get("stage") == "final" for e in events)
    assert result.wall_time_s < 120


def test_quick_calibration_fits_better_than_the_prior(quick):
    result, _, _ = quick
    pred = result.predictive["sets"]
    for name in ("table2", "table3", "consistency"):
        assert pred["fit"]["components"][name]["mean"] < pred["prior"]["components"][name]["mean"]
    assert result.stages["fit"].final_epsilon < result.stages["fit"].populations["epsilon"].iloc[1]


def test_calibrated_defaults_file_round_trips(quick, tmp_path):
    from experiments.evidence import apply_calibrated_defaults, calibrated_parameters, load_calibrated, load_posterior_samples
    from experiments.scenario import scenario_from_case

    result, out, _ = quick
    toml = out / "data" / "calibrated.toml"
    raw = load_calibrated(toml)
    assert raw["meta"]["budget"] == "quick" and raw["meta"]["n_simulations"] == result.n_simulations
    assert raw["split"]["fit"] == ["table2", "table3", "consistency"]
    params = calibrated_parameters(toml)
    assert params.to_dict() == pytest.approx(result.point_estimate)
    for k, v in raw["free"].items():
        assert v["p05"] <= v["median"] <= v["p95"]
    s = apply_calibrated_defaults(scenario_from_case(), toml)
    assert s.parameters_() == params
    assert apply_calibrated_defaults(scenario_from_case(), tmp_path / "missing.toml").parameters_() == Parameters()
    draws = load_posterior_samples(out / "data" / "posterior_samples.csv")
    assert list(draws.columns) == list(load_priors().names) and len(draws) == result.budget.stored_draws


def test_calibration_writers_replace_planted_links_and_never_write_through_them(quick, tmp_path):
    """The library writers (not only the command, which refuses such a folder) put each output in
    place through a randomly named temporary file: a link planted at an output's name -- or at the
    old fixed temporary name -- is replaced, and the file it pointed at is untouched."""
    import dataclasses

    from calibration.defaults import write_calibrated
    from calibration.report import write_outputs

    result, _, _ = quick
    outside = tmp_path / "outside"
    outside.mkdir()
    sentinel = outside / "sentinel.txt"
    sentinel.write_text("keep me")
    out = tmp_path / "again"
    out.mkdir()
    names = ["posterior_final.csv", "posterior_samples.csv", "calibration.json", "calibration.json.tmp",
             "report.md", "predictive_tables.png"]
    for name in names:
        (out / name).symlink_to(sentinel)
    write_outputs(dataclasses.replace(result, out_dir=out), figures=True)
    data = tmp_path / "data"
    data.mkdir()
    for name in ("calibrated.toml", "calibrated.toml.tmp", "posterior_samples.csv"):
        (data / name).symlink_to(sentinel)
    write_calibrated(result, data)
    assert sentinel.read_text() == "keep me" and sorted(p.name for p in outside.iterdir()) == ["sentinel.txt"]
    for name in ("posterior_final.csv", "posterior_samples.csv", "calibration.json", "report.md", "predictive_tables.png"):
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 100, name
    assert json.loads((out / "calibration.json").read_text())["provenance"]["split"]["sets"]["fit"]
    for name in ("calibrated.toml", "posterior_samples.csv"):
        assert not (data / name).is_symlink() and (data / name).stat().st_size > 100, name
    # no temporary file is left behind
    assert not [p for p in list(out.iterdir()) + list(data.iterdir()) if p.name.startswith(".") or
                (p.name.endswith(".tmp") and not p.is_symlink())]


def test_case_posterior_changes_only_the_parameters():
    from experiments.case import run_scenario_posterior
    from experiments.case import run_scenario
    from experiments.scenario import scenario_from_case

    s = scenario_from_case()
    base = s.parameters_().to_dict()
    # draws equal to the scenario's own values: identical to the plain case (common random numbers)
    same = pd.DataFrame([{k: base[k] for k in ("uptake_rate", "link_rate")}] * 5)
    a = run_scenario(s, replicates=6, seed=9)
    b = run_scenario_posterior(s, replicates=6, seed=9, samples=same)
    for x, y in zip(a.results, b.results):
        assert np.array_equal(x.substantiveness, y.substantiveness) and np.array_equal(x.alignment, y.alignment)
    other = pd.DataFrame({"uptake_rate": [0.01, 0.4, 0.02], "link_rate": [0.0, 0.4, 0.1]})
    c = run_scenario_posterior(s, replicates=6, seed=9, samples=other)
    assert sorted(set(c.posterior_draws)) == [0, 1, 2]
    assert any(not np.array_equal(x.substantiveness, y.substantiveness) for x, y in zip(a.results, c.results))
    with pytest.raises(ValueError, match="drawn from the posterior"):
        run_scenario_posterior(s, replicates=2, seed=9, samples=other, overrides=("parameters.link_rate=0.2",))


def test_cli_errors_are_one_line(capsys):
    from experiments.cli import main

    assert main(["calibrate", "--scheduler", "nonsense", "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("coherence-sim: error: --scheduler") and "\n" not in err


# --- parameter recovery ---------------------------------------------------------------------


@pytest.mark.slow
def test_parameter_recovery_from_simulated_tables(tmp_path, split, priors):
    """Tables simulated at known parameters: the split calibration's 95% posterior intervals contain
    them, and the best-identified parameters' posteriors are much narrower than their priors."""
    from dataclasses import replace

    from calibration.fit import Budget, run_stage
    from calibration.simulator import CaseSimulator

    sub = priors.subset("fit")
    truth = {p.name: p.spec_default for p in sub.free}
    synthetic = CaseSimulator(sub.names, 424242)(truth)
    comps = tuple(
        replace(split.components[n], readings=((),), observed=(synthetic[split.components[n].table],))
        for n in split.sets["fit"]
    )
    ev = Evidence(comps, name="synthetic")
    b = Budget("recovery", population=200, max_generations=5, max_simulations=4_000, min_acceptance_rate=0.05,
               max_walltime_s=None, predictive_draws=10, scheduler="single")
    st = run_stage("fit", ev, sub, b, tmp_path / "rec.db", seed=5)
    # Coverage: with 15 parameters and honest 95% intervals about 0.75 truths fall outside by
    # chance, so one may; none may fall outside its 99% interval.
    iv, iv99 = st.interval(0.95), st.interval(0.99)
    outside = {n: (truth[n], iv[n]) for n in sub.names if not iv[n][0] <= truth[n] <= iv[n][1]}
    assert len(outside) <= 1, outside
    far = {n: (truth[n], iv99[n]) for n in sub.names if not iv99[n][0] <= truth[n] <= iv99[n][1]}
    assert not far, far
    con = st.contraction()
    print({n: (round(truth[n], 3), round(st.median()[n], 3), round(con[n], 2)) for n in sub.names})
    # the pace the real calibration pins down (docs/calibration/report.md) is identified here too:
    # the uptake rate's posterior 90% interval well inside the prior's (contraction 0.34 at this
    # seed). The design time was as well (0.61) until teams replicated the provider's sessions for
    # teachers and school leaders (ODD 7.3): that work now sets part of the pace of those two
    # elements, and at this budget design_months contracts by 0.11 only. With 200 particles and
    # 5 generations the others' contractions are too noisy to rank.
    assert con["uptake_rate"] > 0.3, con


def test_every_progress_event_has_a_line():
    from calibration.fit import format_progress

    events = [
        {"stage": "fit", "generation": 2, "epsilon": 30.0, "acceptance_rate": 0.2, "simulations": 1000, "elapsed_s": 5.0},
        {"stage": "final", "rejuvenation": True, "done": 50, "of": 100},
        {"stage": "predictive", "set": "null", "index": 5, "of": 6},
    ]
    lines = [format_progress(e) for e in events]
    assert "generation 2" in lines[0] and "resample-move" in lines[1] and "null (6/6)" in lines[2]
