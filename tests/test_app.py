"""The app's model and drawing, without a browser (the browser test is tests/test_app_browser.py)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from experiments.app import ALL, CoherenceApp, build_conditions, dimensions_svg, elements_html
from experiments.cli import build_parser
from sim.model import CoherenceModel
from sim.results import RunResult


def _run(model):
    while model.running:
        model.step()
    return RunResult.from_model(model, seed=7)


@pytest.mark.parametrize("district", [ALL, "Diamond"])
def test_app_runs_the_unchanged_model(district):
    """The app adds a DataCollector and nothing else: the same conditions and seed give the same run."""
    app = CoherenceApp(district=district, seed=7)
    conds, params, _ = build_conditions(district=district, seed=7)
    plain = CoherenceModel(conds, params, rng=7)
    a = _run(app)
    plain.run()
    b = RunResult.from_model(plain, seed=7)
    assert app.steps == app.horizon
    assert a.changes == b.changes and len(a.changes) > 0
    np.testing.assert_array_equal(a.substantiveness, b.substantiveness)


def test_dimensions_chart_has_one_point_per_collected_month():
    app = CoherenceApp(seed=3)
    for _ in range(10):
        app.step()
    svg = dimensions_svg(app)
    root = ET.fromstring(svg)  # well-formed SVG
    lines = [e for e in root.iter("{http://www.w3.org/2000/svg}polyline")]
    assert [e.get("data-name") for e in lines] == ["Changed", "Transformed", "Consistent", "Aligned", "Continuity"]
    for e in lines:
        pts = [tuple(map(float, p.split(","))) for p in e.get("points").split()]
        assert len(pts) == 11  # the start and ten months
        xs = [p[0] for p in pts]
        assert xs == sorted(xs)
    df = app.datacollector.get_model_vars_dataframe()
    assert ((df >= 0) & (df <= 1)).all().all()
    assert df["Changed"].is_monotonic_increasing  # an element once changed stays changed


def test_elements_table_shows_every_element_of_every_district():
    app = CoherenceApp(seed=3)
    html = elements_html(app)
    assert len(re.findall(r'<td class="state"', html)) == 6 * len(app.district_list)


@pytest.mark.parametrize(
    "kwargs, field",
    [({"district": "Atlantis"}, "district"), ({"lead_authority": "maybe"}, "lead_authority"),
     ({"seed": "x"}, "seed"), ({"seed": -1}, "seed"), ({"whatif": "no_such"}, "scenario"),
     ({"capacity_framework": "huge"}, "capacity_framework")],
)
def test_bad_control_values_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        CoherenceApp(**kwargs)


def test_app_binds_to_this_machine_by_default():
    args = build_parser().parse_args(["app"])
    assert args.host == "127.0.0.1"
