"""Typed scenarios: files, dotted overrides, round trips, and a corpus of bad inputs whose errors
name the key, the value and what is allowed."""

from __future__ import annotations

import pytest

from experiments.scenario import (
    ScenarioError,
    apply_overrides,
    default_scenario,
    dump_scenario,
    load_scenario,
    parse_override,
    scenario_dict,
)
from experiments.evidence import calibrated_parameters, model_defaults
from sim import Parameters, simulate


@pytest.fixture(scope="module")
def base():
    return default_scenario()


def test_default_scenario_is_the_case(base):
    assert list(base.districts) == ["Avalon", "Birchwood", "Cedarville", "Diamond"]
    # the defaults every entry point starts from: the calibration's (experiments/evidence/data/calibrated.toml)
    # when that file fits the model's parameter set, else the prior centre (tests/test_defaults.py)
    defaults = model_defaults()
    assert base.parameters_() == defaults.parameters
    if defaults.calibrated:
        assert base.parameters_() == calibrated_parameters()
        assert base.parameters_() != Parameters()  # the calibration moved them off the prior centre
    else:
        assert base.parameters_() == Parameters()
    assert not base.districts["Diamond"].lead.positional_authority
    conds = base.conditions()
    assert len(conds) > 1  # capacities run over the enumeration


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_round_trip_and_rerun(base, tmp_path, suffix):
    s = apply_overrides(base, ["horizon_months=60", "districts.Diamond.lead.positional_authority=true"])
    path = dump_scenario(s, tmp_path / f"s{suffix}")
    again = load_scenario(path)
    assert again == s
    a = simulate(s.conditions()[0], s.parameters_(), seed=3)
    b = simulate(again.conditions()[0], again.parameters_(), seed=3)
    assert a.changes == b.changes and a.horizon_months == 60


def test_overrides_use_the_file_keys(base):
    s = apply_overrides(
        base,
        [
            "horizon_months=60",
            "parameters.uptake_rate=0.2",
            "districts.Diamond.lead.positional_authority=true",
            "turbulence_by_year=[0, 0, 0]",
            "turbulence_by_year.1=0.25",
            "districts.Birchwood.leaders.second_district_leader.buy_in=0.5",
            "program.emphasis.0.4=1.0",
        ],
    )
    assert s.horizon_months == 60 and s.parameters.uptake_rate == 0.2
    assert s.districts["Diamond"].lead.positional_authority
    assert s.turbulence_by_year == [0, 0.25, 0]
    assert s.districts["Birchwood"].leaders["second_district_leader"].buy_in == 0.5
    assert s.program.emphasis[0][4] == 1.0
    assert base.horizon_months == 36  # the base is not modified


def test_given_capacities_give_one_condition(base):
    caps = {e: "established" for e in ("framework", "pedagogy", "assessment", "teacher_learning", "school_leader_learning", "oversight")}
    s = apply_overrides(base, {f"districts.{n}.capacity": caps for n in base.districts})
    assert len(s.conditions()) == 1


# (override, text the error must contain): key, value and what is allowed.
BAD_OVERRIDES = [
    ("horizon_months=999", ["horizon_months", "999", "less than or equal to 240"]),
    ("horizon_months=-3", ["horizon_months", "-3", "greater than or equal to 1"]),
    ("horizon_months=twelve", ["horizon_months", "'twelve'", "valid integer"]),
    ("horizon_months=12.5", ["horizon_months", "12.5", "integer"]),
    ("parameters.uptake_rate=2", ["parameters.uptake_rate", "less than or equal to 0.5"]),
    ("parameters.uptake_rate=.nan", ["parameters.uptake_rate", "finite number"]),
    ("parameters.uptake_rate=.inf", ["parameters.uptake_rate", "finite"]),
    ("parameters.nope=1", ["parameters.nope", "unknown key", "uptake_rate"]),
    ("districts.Atlantis.lead.buy_in=1", ["districts.Atlantis", "unknown key", "Avalon"]),
    ("districts.Diamond.lead.buy_in=1.5", ["districts.Diamond.lead.buy_in", "1.5", "less than or equal to 1"]),
    ("districts.Diamond.lead.positional_authority=maybe", ["districts.Diamond.lead.positional_authority", "'maybe'", "valid boolean"]),
    ("districts.Diamond.capacity.framework=huge", ["districts.Diamond.capacity", "'huge'", "did_not_exist"]),
    ("districts.Diamond.shocks=[{kind: meteor, month: 3}]", ["districts.Diamond.shocks.0.kind", "meteor", "prek_eliminated"]),
    ("turbulence_by_year.7=0.1", ["turbulence_by_year", "index 7", "0..2"]),
    ("turbulence_by_year=[0.1, 5]", ["turbulence_by_year.1", "5", "less than or equal to 1"]),
    ("districts.Birchwood.team_teachers=500", ["districts.Birchwood", "team_teachers", "exceeds"]),
    ("districts.Diamond.has_prek=false", ["districts.Diamond", "pre-K", "teachers.prek = 0"]),
    ("districts.Diamond.lead.agenda=fluency", ["districts.Diamond", "lead.agenda", "cannot hold a competing agenda"]),
    ("program.emphasis.0=[1, 1]", ["program.emphasis.0", "at least 6"]),
    ("program.convening_months=[13]", ["program.convening_months.0", "13", "less than or equal to 11"]),
    ("name=", ["name", "at least 1 character"]),
    ("horizon_months", ["expected KEY=VALUE"]),
    ("=3", ["is not a dotted path"]),
    ("districts..lead=1", ["is not a dotted path"]),
]


@pytest.mark.parametrize("override,expected", BAD_OVERRIDES, ids=[o for o, _ in BAD_OVERRIDES])
def test_bad_override_is_refused_with_a_clear_message(base, override, expected):
    with pytest.raises(ScenarioError) as info:
        apply_overrides(base, [override])
    msg = str(info.value)
    for part in expected:
        assert part in msg, f"{part!r} not in {msg!r}"
    assert "Traceback" not in msg


BAD_FILES = [
    ("bad.toml", "name = \n", ["not valid TOML"]),
    ("bad.yaml", "name: [unclosed\n", ["not valid YAML"]),
    ("bad.json", "{}", ["unknown file type", ".toml"]),
    ("list.yaml", "- 1\n- 2\n", ["expected a table"]),
    ("missing.toml", "name = \"x\"\n", ["districts: missing"]),
    ("python.yaml", "name: !!python/object/apply:os.system ['echo hi']\n", ["not valid YAML"]),
    ("unknown_top.toml", "name = \"x\"\nflavour = 1\n[districts]\n", ["flavour", "unknown key", "horizon_months"]),
]


@pytest.mark.parametrize("fname,text,expected", BAD_FILES, ids=[f for f, _, _ in BAD_FILES])
def test_bad_scenario_files(tmp_path, fname, text, expected):
    p = tmp_path / fname
    p.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    for part in expected:
        assert part in str(info.value), str(info.value)


def test_missing_and_huge_files(tmp_path):
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "nope.toml")
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 2_100_000)
    with pytest.raises(ScenarioError, match="larger than"):
        load_scenario(big)


def test_new_district_needs_capacity(base):
    avalon = scenario_dict(base)["districts"]["Avalon"]
    with pytest.raises(ScenarioError, match="districts.Elm.capacity: missing"):
        apply_overrides(base, {"districts.Elm": avalon})
    caps = {e: "emergent" for e in ("framework", "pedagogy", "assessment", "teacher_learning", "school_leader_learning", "oversight")}
    s = apply_overrides(base, {"districts.Elm": {**avalon, "capacity": caps}})
    assert "Elm" in s.districts and len(s.conditions()[0].districts) == 5


def test_parse_override_types():
    assert parse_override("a=true") == ("a", True)
    assert parse_override("a=0.5") == ("a", 0.5)
    assert parse_override("a=[1, 2]") == ("a", [1, 2])
    assert parse_override("a.b=text") == ("a.b", "text")
