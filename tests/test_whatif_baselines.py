"""What-ifs declare their baseline (issue 16): a named what-if compared with another what-if (or a
scenario file) with common random numbers; provider what-ifs report take-up, price, subsidy spend
and cost per element changed beside the outcomes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.cli import main
from experiments.scenario import apply_overrides, default_scenario, dump_scenario
from experiments.whatif import (
    FILENAMES,
    PROVIDER_METRICS,
    WhatIfLibraryError,
    load_whatif_library,
    resolve_override,
    run_whatif,
)

REPLICATES = 16
SEED = 7
SUBSIDY, MARKET = "bundle_with_small_district_subsidy", "bundle_at_market_price"


@pytest.fixture(scope="module")
def subsidy():
    return run_whatif(name=SUBSIDY, replicates=REPLICATES, seed=SEED)


def test_the_library_declares_baselines_that_resolve():
    lib = load_whatif_library()
    assert lib[SUBSIDY].baseline == MARKET
    for spec in lib.values():
        if spec.baseline is not None and spec.baseline_file is None:
            assert spec.baseline in lib and spec.baseline != spec.name, spec.name


def test_the_subsidy_is_compared_with_the_market_price_bundle(subsidy):
    market = run_whatif(name=MARKET, replicates=REPLICATES, seed=SEED)
    lib = load_whatif_library()
    assert subsidy.baseline_of == MARKET and subsidy.baseline_overrides == lib[MARKET].set
    assert subsidy.baseline.scenario == market.counterfactual.scenario
    # common random numbers: the baseline arm is exactly the market-price what-if's counterfactual
    for k, v in subsidy.outcome_samples["baseline"].items():
        np.testing.assert_array_equal(v, market.outcome_samples["counterfactual"][k], err_msg=k)
    # the difference is the subsidy's alone: districts above the size limit join and pay exactly as in
    # the baseline, replicate by replicate (their outcomes may still move through what the districts
    # they meet at convenings changed: docs/ODD.md 7.3)
    cf = subsidy.counterfactual.scenario
    limit = cf.provider.subsidy_max_students
    large = [i for i, d in enumerate(subsidy.districts) if cf.districts[d].students > limit]
    assert large
    for rb, rc in zip(subsidy.baseline.results, subsidy.counterfactual.results, strict=True):
        for i in large:
            assert rb.joined[i] == rc.joined[i]
            np.testing.assert_array_equal(np.asarray(rb.cost_district)[i], np.asarray(rc.cost_district)[i])
            np.testing.assert_array_equal(np.asarray(rc.cost_subsidy)[i], 0)
    assert set(subsidy.changes_from_baseline) == set(lib[SUBSIDY].set) - set(lib[MARKET].set)
    assert "baseline: what-if bundle_at_market_price" in subsidy.format()
    d = subsidy.to_dict()
    assert d["whatif"]["baseline"]["kind"] == "what-if" and d["provenance"]["baseline"]["name"] == MARKET


def test_provider_whatifs_report_take_up_price_subsidy_and_cost_per_element(subsidy, tmp_path):
    m = subsidy.provider_metrics
    assert m is not None and m["columns"] == list(subsidy.columns)
    # take-up is the mean of each replicate's joined flags; the market-price arm pays no subsidy
    runs = subsidy.baseline.results
    joined = np.mean([np.asarray(r.joined, float) for r in runs], axis=0)
    np.testing.assert_allclose(m["arms"]["baseline"]["joined"].mean(axis=0)[:-1], joined)
    assert subsidy.baseline.scenario.provider.subsidy_share == 0
    assert np.all(m["arms"]["baseline"]["subsidy"] == 0)
    cf_runs = subsidy.counterfactual.results
    total_subsidy = sum(float(np.sum(r.cost_subsidy)) for r in cf_runs)
    assert m["arms"]["counterfactual"]["subsidy"][:, -1].sum() == pytest.approx(total_subsidy)
    spend = sum(float(np.sum(r.cost_district) + np.sum(r.cost_subsidy)) for r in cf_runs)
    changed = sum(float(r.overall_outcomes()["elements_changed"]) for r in cf_runs)
    assert m["arms"]["counterfactual"]["cost_per_element_changed"][-1] == pytest.approx(spend / changed)
    text = subsidy.format()
    for label in ("take-up (joined)", "price paid (USD)", "subsidy spend (USD)", "cost/element changed"):
        assert label in text
    assert text.index("take-up (joined)") < text.index("Tables 2-5")  # beside the outcomes, before the cells
    written = subsidy.write(tmp_path / "w", figure=False)
    data = json.loads((tmp_path / "w" / "whatif.json").read_text())
    assert set(data["provider"]["metrics"]) == set(PROVIDER_METRICS) and len(written) == len(FILENAMES) - 1
    assert data["provider"]["metrics"]["joined"]["overall"]["baseline"] == pytest.approx(
        float(m["arms"]["baseline"]["joined"][:, -1].mean()), abs=1e-6)


def test_other_whatifs_have_no_provider_block():
    w = run_whatif(name="diamond_keeps_prek", replicates=4, seed=SEED)
    assert not w.is_provider_whatif and w.baseline_of is None
    assert "take-up" not in w.format() and w.to_dict()["provider"] is None


def test_an_explicit_baseline_a_scenario_file_and_errors(tmp_path):
    lib = load_whatif_library()
    market = apply_overrides(default_scenario(), [resolve_override(o) for o in lib[MARKET].set])
    path = dump_scenario(market, tmp_path / "market.toml")
    by_file = run_whatif(overrides=list(lib[SUBSIDY].set), baseline=path, replicates=4, seed=SEED)
    by_name = run_whatif(overrides=list(lib[SUBSIDY].set), baseline=MARKET, replicates=4, seed=SEED)
    for k in by_name.outcome_samples["baseline"]:
        np.testing.assert_array_equal(by_file.outcome_samples["baseline"][k], by_name.outcome_samples["baseline"][k])
    assert by_file.to_dict()["whatif"]["baseline"]["kind"] == "scenario file"
    # the caller's baseline wins over the library's
    against_case = run_whatif(name=SUBSIDY, baseline=default_scenario(), replicates=4, seed=SEED)
    assert against_case.baseline.scenario == default_scenario()
    with pytest.raises(ValueError, match="baseline: 'nope' is neither a what-if of the library nor a scenario file"):
        run_whatif(overrides=["program.years=4"], baseline="nope", replicates=1)


@pytest.mark.parametrize("baseline, expected", [
    ('"a"', "is the what-if itself"),
    ('"b"', "'b' is neither a what-if of the library nor a scenario file"),
    ('"missing.toml"', "scenario file 'missing.toml' not found"),
    ("3", "(a).baseline: needs the name of another what-if or a scenario file"),
])
def test_bad_baselines_are_refused_naming_the_entry(tmp_path, baseline, expected):
    p = tmp_path / "lib.toml"
    p.write_text(f'[[whatif]]\nname = "a"\nquestion = "Q?"\nset = ["program.years=4"]\nbaseline = {baseline}\n')
    with pytest.raises(WhatIfLibraryError) as exc:
        load_whatif_library(p)
    assert expected in str(exc.value) and "whatif[0] (a).baseline" in str(exc.value)


def test_cli_baseline_option(tmp_path, capsys):
    code = main(["whatif", "--whatif", SUBSIDY, "--baseline", "bundle_instead_of_pl_provider", "--replicates", "3",
                 "--seed", "2", "--out", str(tmp_path / "w"), "--no-figure", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "baseline: what-if bundle_instead_of_pl_provider" in out and "take-up (joined)" in out
    data = json.loads((tmp_path / "w" / "whatif.json").read_text())
    assert data["whatif"]["baseline"]["name"] == "bundle_instead_of_pl_provider"


def test_the_provider_types_figure_has_panel_titles_that_do_not_overlap(tmp_path):
    """Notebook 02's provider-types figure (experiments.whatif.comparison_figure): every panel title, the
    figure title and the row labels lie inside the figure and apart from each other."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from experiments.whatif import build_comparison_figure, comparison_figure

    shown = ["elements_changed", "share_transformed", "share_consistent", "share_aligned", "share_beyond_signature_practice"]
    runs = {label: run_whatif(name=n, replicates=3, seed=SEED, baseline=default_scenario())
            for label, n in {"publisher alone": "publisher_instead_of_pl_provider",
                             "co-branded bundle": "bundle_instead_of_pl_provider",
                             "bundle, breaks down in year 2": "partnership_breakdown_year_2"}.items()}
    fig = build_comparison_figure(runs, outcomes=shown, title="Instead of the PL provider alone")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    page = fig.bbox
    titles = [ax.title.get_window_extent(r) for ax in fig.axes]
    assert len(titles) == len(shown)
    for a, b in zip(titles, titles[1:]):
        assert a.x1 < b.x0, "panel titles overlap"
    sup = fig._suptitle.get_window_extent(r)
    for box in [*titles, sup, *(t.get_window_extent(r) for t in fig.axes[0].get_yticklabels())]:
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    assert all(sup.y0 >= t.y1 for t in titles), "the figure title runs into a panel title"
    path = comparison_figure(runs, tmp_path / "providers.png", outcomes=shown)
    assert path.stat().st_size > 10_000
