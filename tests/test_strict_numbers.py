"""Strict number parsing (issue 15, class 5).

Values of ``--set``, of the ``set`` lists of sweep specs and what-ifs, and every YAML input follow
one grammar (experiments/scenario/grammar.py: YAML 1.2's core schema, with the literals YAML 1.1
reads otherwise refused, naming the key). Scenario and spec values are typed strictly: ``true`` is
not 1, ``"036"`` is not 36, ``1`` is not true. Examples from the issue, then properties (hypothesis,
derandomized).
"""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from experiments.cli import main
from experiments.scenario import ScenarioError, apply_overrides, default_scenario, parse_override

SETTINGS = settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def base():
    return default_scenario()


# --- the examples of the issue, through the CLI --------------------------------------------------
@pytest.mark.parametrize(("value", "key"), [
    ("036", "horizon_months"), ("0100", "horizon_months"), ("1:00", "horizon_months"), ("true", "horizon_months"),
    ('"036"', "horizon_months"), ("36.5", "horizon_months"), ("0o44", "horizon_months"), ("1_000", "horizon_months"),
    ("yes", "districts.Diamond.lead.positional_authority"), ("off", "districts.Diamond.lead.positional_authority"),
    ('"yes"', "districts.Diamond.lead.positional_authority"), ("1", "districts.Diamond.lead.positional_authority"),
    ("[0.5, 036, 0.1]", "turbulence_by_year"), ('"0.2"', "parameters.uptake_rate"), ("true", "parameters.uptake_rate"),
])
def test_ambiguous_or_mistyped_set_values_are_refused_naming_the_key(tmp_path, capsys, value, key):
    code = main(["case", "--replicates", "2", "--set", f"{key}={value}", "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("coherence-sim: error:") and "Traceback" not in err
    assert key.split(".")[-1] in err, err
    assert not (tmp_path / "o").exists()


def test_plain_values_still_work(base):
    s = apply_overrides(base, ["horizon_months=36", "districts.Diamond.lead.positional_authority=true",
                               "parameters.uptake_rate=0.2", "turbulence_by_year=[0.5, 0.3, 0.1]", "provider.kind=bundle",
                               "horizon_months=+48", "parameters.uptake_rate=2e-1", 'description="036"'])
    assert s.horizon_months == 48 and s.districts["Diamond"].lead.positional_authority is True
    assert s.parameters.uptake_rate == 0.2 and s.turbulence_by_year == [0.5, 0.3, 0.1] and s.provider.kind == "bundle"
    assert s.description == "036"  # quoted: text, where text is wanted


def test_a_sweep_specs_set_and_grid_follow_the_same_grammar(tmp_path):
    from experiments.sweep import plan_sweep

    toml = tmp_path / "a.toml"
    toml.write_text('[sweep]\nset = ["horizon_months=036"]\n[design]\nkind = "grid"\n[design.factors]\n"parameters.uptake_rate" = [0.1]\n')
    with pytest.raises(ScenarioError, match="horizon_months.*036"):
        plan_sweep(toml)
    grid = tmp_path / "b.toml"
    grid.write_text('[design]\nkind = "grid"\n[design.factors]\nhorizon_months = [24, true]\n')
    with pytest.raises(ScenarioError, match="horizon_months"):
        plan_sweep(grid)
    yml = tmp_path / "c.yaml"
    yml.write_text("sweep:\n  replicates: 010\ndesign:\n  kind: grid\n  factors:\n    horizon_months: [24, 36]\n")
    with pytest.raises(ScenarioError, match=r"sweep\.replicates.*'010'"):
        plan_sweep(yml)
    yml.write_text("design:\n  kind: grid\n  factors:\n    horizon_months: [24, 1:00]\n")
    with pytest.raises(ScenarioError, match=r"horizon_months\.1.*base-60"):
        plan_sweep(yml)
    yml.write_text("design:\n  kind: lhs\n  n: 4\n  factors:\n    parameters.uptake_rate: {low: 0.1, high: 0.2, integer: yes}\n")
    with pytest.raises(ScenarioError, match="integer"):
        plan_sweep(yml)


def test_a_yaml_scenario_file_follows_the_same_grammar(tmp_path, base):
    from experiments.scenario import dump_scenario, load_scenario

    p = dump_scenario(base, tmp_path / "s.yaml")
    text = p.read_text()
    assert load_scenario(p) == base  # what the tool writes reads back
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("horizon_months: 36", "horizon_months: 036"))
    with pytest.raises(ScenarioError, match=r"horizon_months: '036' is ambiguous.*octal number 30"):
        load_scenario(bad)
    bad.write_text(text.replace("positional_authority: false", "positional_authority: no", 1))
    with pytest.raises(ScenarioError, match=r"positional_authority: 'no' is ambiguous"):
        load_scenario(bad)
    bad.write_text(text + "horizon_months: 24\n")  # a key given twice: refused, not the last kept
    with pytest.raises(ScenarioError, match="given twice"):
        load_scenario(bad)


def test_what_if_library_sets_follow_the_same_grammar(tmp_path):
    from experiments.whatif import run_whatif

    lib = tmp_path / "lib.toml"
    lib.write_text('[[whatif]]\nname = "w"\nquestion = "What if?"\nset = ["horizon_months=036"]\nlines = ["1"]\nnote = "n"\n')
    with pytest.raises(ValueError, match="horizon_months.*036"):
        run_whatif(name="w", library=lib, replicates=1)


@pytest.mark.parametrize("sets", [["provider.subsidy_share=true"], ['provider.subsidy_share="0.5"'],
                                  ["provider.recruit=false"], ["provider.subsidy_max_students=02500"],
                                  ["parameters.uptake_rate=yes"]])
def test_rollout_provider_and_parameter_values_are_typed_strictly(tmp_path, capsys, sets):
    args = ["rollout", "FL", "--districts", "2", "--replicates", "1", "--out", str(tmp_path / "r")]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert sets[0].split("=")[0].split(".")[-1] in err and "Traceback" not in err


# --- properties ---------------------------------------------------------------------------------
def value(text: str):
    return parse_override(f"k={text}")[1]


@SETTINGS
@given(st.integers(min_value=-10**12, max_value=10**12))
def test_decimal_whole_numbers_read_as_themselves(n):
    assert value(str(n)) == n and type(value(str(n))) is int
    if n >= 0:
        assert value(f"+{n}") == n


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_finite_floats_round_trip(x):
    got = value(repr(x))
    assert got == x and (isinstance(got, float) or x == int(x))


@SETTINGS
@given(st.from_regex(r"[-+]?0[0-9]{1,9}", fullmatch=True))
@example("036")
@example("0100")
@example("00")
def test_leading_zeros_are_refused_with_the_key(text):
    with pytest.raises(ScenarioError, match=r"--set k: .*leading zero"):
        value(text)


@SETTINGS
@given(st.from_regex(r"[-+]?[0-9]{1,3}(:[0-5][0-9]){1,3}", fullmatch=True))
@example("1:00")
def test_base_60_is_refused_with_the_key(text):
    with pytest.raises(ScenarioError, match=r"--set k: .*base-60"):
        value(text)


@SETTINGS
@given(st.sampled_from(["y", "yes", "n", "no", "on", "off"]).flatmap(
    lambda w: st.tuples(*[st.booleans() for _ in w]).map(lambda caps: "".join(c.upper() if u else c for c, u in zip(w, caps)))))
def test_yaml_1_1_booleans_are_refused_in_the_forms_yaml_1_1_knows(word):
    if word in {f(w) for w in ("yes", "no", "on", "off") for f in (str.lower, str.title, str.upper)}:
        with pytest.raises(ScenarioError, match=r"--set k: .*ambiguous"):
            value(word)
    else:  # e.g. "yEs", "y": text in both versions (PyYAML reads y and n as text)
        assert value(word) == word


@SETTINGS
@given(st.sampled_from(["true", "True", "TRUE", "false", "False", "FALSE"]))
def test_true_and_false_are_booleans(word):
    assert value(word) is (word.lower() == "true")


NUMBERISH = st.from_regex(r"[-+]?[0-9._:eExXoObB]{1,10}", fullmatch=True) | st.from_regex(r"[a-zA-Z~]{1,5}", fullmatch=True)


@SETTINGS
@given(NUMBERISH)
def test_no_literal_means_one_thing_in_yaml_1_1_and_another_here(text):
    """Either the strict grammar refuses a literal, or it reads it as YAML 1.1 does, or YAML 1.1
    reads it as text (then a number or boolean here is no silent change of a number or boolean)."""
    try:
        mine = value(text)
    except ScenarioError:
        return  # refused, naming the key
    try:
        old = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, OverflowError):
        return
    if isinstance(old, str) or old is None:
        return
    assert type(mine) is type(old), (text, mine, old)
    assert mine == old or (isinstance(old, float) and math.isnan(old) and math.isnan(mine)), (text, mine, old)


@SETTINGS
@given(st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False, width=32), st.booleans()))
def test_one_grammar_for_set_values_and_yaml_files(v):
    from experiments.scenario.io import parse_yaml

    text = yaml.safe_dump(v).removesuffix("\n...\n").strip()
    assert parse_yaml(f"k: {text}\n", "f") == {"k": value(text)}


@SETTINGS
@given(NUMBERISH | st.text(max_size=12))
def test_what_the_tool_writes_as_yaml_it_reads_back(text):
    """Strings the strict grammar would read otherwise (``0o17``, ``1e3``) are quoted when written."""
    from experiments.scenario import grammar

    assert grammar.load(grammar.dump({"k": text})) == {"k": text}


@pytest.mark.parametrize("description", ["0o17", "1e3", "yes", "036", "1_000", "2020-01-01"])
def test_a_scenario_written_as_yaml_reads_back(tmp_path, base, description):
    from experiments.scenario import dump_scenario, load_scenario

    s = base.model_copy(update={"description": description})
    assert load_scenario(dump_scenario(s, tmp_path / "s.yaml")) == s
