"""Keep docs/ODD.md in step with the code.

The ODD is the model's contract with its readers, so these tests fail when the two drift apart:

* the generated blocks of the ODD (parameter table, provider programme and run defaults, the
  case's derived district sizes) equal what the code produces now;
* every parameter name appears with its current default, and every element key and label appears;
* every relative link ``](../...)`` points to a file that exists;
* every code name written in backticks inside a link to a ``.py`` file (``[`District.enact`](../sim/agents.py)``)
  exists in that module, and every backticked ``Class.attribute`` of a model class exists on the
  class or on a live instance;
* the event offsets of ``sim/calendar.py``, the event-log kinds, the change sources, the outcome
  names, the table names and the top-level keys of the case summary are all documented.

Regenerate the blocks after changing parameters, programme defaults or the case file with::

    .venv/bin/python tests/test_odd.py --write
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # running as a script
    sys.path.insert(0, str(ROOT))
ODD = ROOT / "docs" / "ODD.md"

from sim import calendar  # noqa: E402
from sim.parameters import PARAMETER_SPECS, parameter_table  # noqa: E402
from sim.vocab import (  # noqa: E402
    Activity,
    Alignment,
    Capacity,
    Consistency,
    Content,
    Continuity,
    Element,
    GradeBand,
    Practice,
    Substantiveness,
)


# ------------------------------------------------------------------------------------------------
# Generated blocks
# ------------------------------------------------------------------------------------------------


def _num(v: float) -> str:
    return f"{float(v):g}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_parameter_table() -> str:
    """The parameter table of section 7, from ``sim.parameters.parameter_table()``."""
    from experiments.evidence import load_calibrated

    raw = load_calibrated() or {}
    free, fixed = raw.get("free", {}), raw.get("fixed", {})
    lines = [
        "| Name | Meaning | Unit | Range | Prior centre | Calibrated: median [90%] | Source |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in parameter_table():
        name = r["name"]
        if name in free:
            f = free[name]
            cal = f"**{f['median']:.3g}** [{f['p05']:.3g}, {f['p95']:.3g}]"
        elif name in fixed:
            cal = "fixed at the prior centre"
        else:
            cal = "not calibrated (not in the case)"
        lines.append(
            f"| `{name}` | {_cell(r['description'])} | {_cell(r['unit'])} | "
            f"[{_num(r['low'])}, {_num(r['high'])}] | {_num(r['default'])} | {cal} | {_cell(r['source'])} |"
        )
    return "\n".join(lines)


def _month_names(months) -> str:
    return ", ".join(calendar.month_label(m).split()[0] for m in months)


def render_program_defaults() -> str:
    """Defaults of ``ProviderProgram`` and ``Conditions`` (the run's conditions besides districts)."""
    from sim.conditions import Conditions, ProviderProgram

    p = ProviderProgram()
    fields = Conditions.__dataclass_fields__
    horizon = fields["horizon_months"].default
    turb = fields["turbulence_by_year"].default
    turb_after = fields["turbulence_after"].default
    # Exposure units delivered in one school year (before turbulence damping), per unit emphasis.
    per_year = sum(
        p.convening_weight * (m in p.convening_months)
        + p.coaching_weight * (m in p.coaching_months)
        + p.slo_weight * (m in p.slo_months)
        for m in range(12)
    )
    from sim.vocab import Phase

    head = " | ".join(e.label for e in Element)
    lines = [
        f"| Phase | {head} | `slo_audience` |",
        "|---" * (len(Element) + 2) + "|",
    ]
    for ph in Phase:
        row = " | ".join(_num(v) for v in p.emphasis[int(ph)])
        lines.append(f"| `{ph.key}` ({ph.label}) | {row} | {p.slo_audience[int(ph)]} |")
    lines += ["", "| School year | `turbulence_by_year` |", "|---|---|"]
    n_years = max(p.years, len(turb))
    for y in range(1, n_years + 1):
        first, last = 12 * (y - 1), 12 * y - 1
        t = turb[y - 1] if y <= len(turb) else turb_after
        lines.append(f"| {y} ({calendar.month_label(first)} - {calendar.month_label(last)}) | {_num(t)} |")
    lines += [
        "",
        f"- `ProviderProgram.years` = {p.years} (the provider acts in months 0 to {12 * p.years - 1});"
        f" `common_assessment` = {str(p.common_assessment).lower()}; `adaptive` = {str(p.adaptive).lower()};"
        f" `Conditions.horizon_months` = {horizon}; `Conditions.turbulence_after` = {_num(turb_after)}.",
        f"- Convenings (`convening_months`): {_month_names(p.convening_months)}, weight"
        f" `convening_weight` = {_num(p.convening_weight)}.",
        f"- Shared learning opportunities (`slo_months`): {_month_names(p.slo_months)}, weight"
        f" `slo_weight` = {_num(p.slo_weight)}.",
        f"- Team-lead coaching (`coaching_months`): {_month_names(p.coaching_months)}, weight"
        f" `coaching_weight` = {_num(p.coaching_weight)}.",
        f"- Superintendent convenings (`superintendent_months`): {_month_names(p.superintendent_months)}"
        " (no exposure; they raise superintendents' buy-in).",
        f"- `prek_focus` = {_num(p.prek_focus)}. One school year delivers {_num(per_year)} exposure units"
        " per unit of emphasis before turbulence damping.",
    ]
    return "\n".join(lines)


def _case_definition():
    from experiments.scenario import load_case

    return load_case()


def _case_conditions():
    definition = _case_definition()
    placeholder = {
        n: {e.key: Capacity.ESTABLISHED.key for e in Element} for n in definition.district_names
    }
    return definition.conditions(placeholder if definition.capacity_mode == "enumerated" else {})


def render_case_sizes() -> str:
    """The four-district case's derived sizes (experiments/scenario/casefile.py) and what they imply."""
    from sim.parameters import Parameters

    P = Parameters()
    cond = _case_conditions()
    derivation = _case_definition().raw.get("derivation", {})
    ratios = []
    for key, raw in derivation.items():
        value = raw["value"] if isinstance(raw, dict) else raw
        shown = ", ".join(_num(v) for v in value) if isinstance(value, list) else _num(value)
        flag = " (assumed)" if isinstance(raw, dict) and raw.get("assumed") else ""
        ratios.append(f"`{key}` = {shown}{flag}")
    lines = [
        "Derivation ratios of the case file: " + "; ".join(ratios) + ".",
        "",
        "| District | Students | Elementary schools | School leaders | Teachers (pre-K, TK, K-3) | Team teachers"
        " | Prior provider | Prior experience | Lead (authority, buy-in) | Shocks | Mean latency (months)"
        " | School-leader-learning need |",
        "|---" * 12 + "|",
    ]
    for d in cond.districts:
        lead = d.lead
        shocks = ", ".join(f"{s.kind} at month {s.month} ({calendar.month_label(s.month)})" for s in d.shocks) or "none"
        latency = P.latency_per_log_school * math.log(d.n_elementary_schools)
        nl = d.n_school_leaders
        need = nl / (nl + P.leaders_half_need) if P.leaders_half_need > 0 else 1.0
        lines.append(
            f"| {d.name} | {d.students} | {d.n_elementary_schools} | {nl} | {d.n_teachers}"
            f" ({', '.join(str(n) for n in d.teachers)}) | {d.team_teachers} | {'yes' if d.prior_provider else 'no'}"
            f" | {'yes' if d.prior_experience else 'no'} | {lead.role} ({'yes' if lead.positional_authority else 'no'},"
            f" {_num(lead.buy_in)}) | {shocks} | {latency:.2f} | {need:.2f} |"
        )
    return "\n".join(lines)


def render_capacity_enumeration() -> str:
    """Counts of the starting-capacity enumeration and how the case's replicates use it."""
    from experiments.evidence import capacity_cell_summary, consistent_capacity_assignments
    from experiments.case import DEFAULT_REPLICATES

    rows = ["| Constraints | Printed Table 4 | Sentence reading of Table 4 (`table4_text`) |", "|---|---|---|"]
    for label, inferred in (("with the inferred text constraints (used by the case)", True), ("without them", False)):
        n = len(consistent_capacity_assignments(include_inferred=inferred))
        n_text = len(consistent_capacity_assignments(include_inferred=inferred, table4_reading="table4_text"))
        rows.append(f"| {label} | {n:,} | {n_text:,} |")
    assignments = consistent_capacity_assignments()
    summary = capacity_cell_summary(assignments)
    certain = summary["certain"].dropna()
    cells = "; ".join(f"{d} {e} `{c}`" for (d, e), c in certain.items())
    k = len(assignments)
    used = min(DEFAULT_REPLICATES, k)
    rows += [
        "",
        f"Cells certain in all {k:,} assignments: {cells}; the other {len(summary) - len(certain)} cells are uncertain.",
        f"With the default {DEFAULT_REPLICATES} replicates of `coherence-sim case`, {used:,} of the {k:,}"
        " assignments are run"
        + (" once each." if DEFAULT_REPLICATES == k else " (see Known limitations)." if DEFAULT_REPLICATES < k
           else f"; {DEFAULT_REPLICATES % k} of them once more than the others." if DEFAULT_REPLICATES % k else "."),
    ]
    return "\n".join(rows)


BLOCKS = {
    "parameter-table": render_parameter_table,
    "program-defaults": render_program_defaults,
    "case-sizes": render_case_sizes,
    "capacity-enumeration": render_capacity_enumeration,
}


def _markers(name: str) -> tuple[str, str]:
    return (
        f"<!-- BEGIN GENERATED {name} (tests/test_odd.py; do not edit by hand) -->",
        f"<!-- END GENERATED {name} -->",
    )


def extract_block(text: str, name: str) -> str:
    start, end = _markers(name)
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise AssertionError(f"docs/ODD.md: generated block {name!r} is missing its markers")
    return text[i + len(start) : j].strip("\n")


def write_blocks() -> None:
    text = ODD.read_text(encoding="utf-8")
    for name, render in BLOCKS.items():
        start, end = _markers(name)
        extract_block(text, name)  # markers must exist
        i, j = text.find(start), text.find(end)
        text = text[: i + len(start)] + "\n" + render() + "\n" + text[j:]
    ODD.write_text(text, encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def odd() -> str:
    assert ODD.exists(), "docs/ODD.md is missing"
    return ODD.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_generated_block_is_current(odd: str, name: str) -> None:
    got = extract_block(odd, name)
    want = BLOCKS[name]()
    assert got == want, (
        f"docs/ODD.md: the generated block {name!r} is stale; run `.venv/bin/python tests/test_odd.py --write`"
    )


@pytest.mark.parametrize("name", list(PARAMETER_SPECS))
def test_every_parameter_appears_with_its_default(odd: str, name: str) -> None:
    spec = PARAMETER_SPECS[name]
    rows = [line for line in odd.splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, f"docs/ODD.md: parameter {name!r} needs exactly one row in the parameter table"
    cells = [c.strip() for c in rows[0].strip("|").split(" | ")]
    assert _num(spec.default) in cells, f"docs/ODD.md: {name!r} row does not show the default {_num(spec.default)}"
    # The parameter is also used in the text (a submodel names it), not only in the table.
    assert odd.count(f"`{name}`") >= 2, f"docs/ODD.md: parameter {name!r} is not described in any submodel"


def test_no_unknown_parameter_rows(odd: str) -> None:
    table = extract_block(odd, "parameter-table")
    names = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
    assert set(names) == set(PARAMETER_SPECS)


@pytest.mark.parametrize("element", list(Element), ids=lambda e: e.key)
def test_every_element_key_and_label_appears(odd: str, element: Element) -> None:
    assert f"`{element.key}`" in odd, f"docs/ODD.md: element key {element.key!r} is missing"
    assert element.label in odd, f"docs/ODD.md: element label {element.label!r} is missing"


@pytest.mark.parametrize(
    "enum", [Capacity, Substantiveness, Consistency, Alignment, Continuity, Content, Practice, GradeBand, Activity],
    ids=lambda e: e.__name__,
)
def test_every_code_key_appears(odd: str, enum) -> None:
    missing = [k for k in enum.keys() if f"`{k}`" not in odd]
    assert not missing, f"docs/ODD.md: {enum.__name__} keys not documented: {missing}"


_LINK = re.compile(r"\]\((\.\./[^)\s#]*)(#[^)]*)?\)")


def test_relative_links_point_to_existing_files(odd: str) -> None:
    targets = [m.group(1) for m in _LINK.finditer(odd)]
    assert targets, "docs/ODD.md has no relative links to the code"
    missing = sorted({t for t in targets if not (ODD.parent / t).resolve().exists()})
    assert not missing, f"docs/ODD.md links to missing files: {missing}"


# ---- code names -------------------------------------------------------------------------------


def _instances() -> dict[str, object]:
    """Live instances of the model classes, for attributes set in ``__init__``."""
    from sim import CoherenceModel, Parameters, simulate
    from sim.conditions import ProviderProgram, ShockSpec
    from sim.parameters import PARAMETER_SPECS as specs

    cond = _case_conditions()
    model = CoherenceModel(cond, Parameters(), rng=1)
    district = model.district_list[0]
    teacher = next(iter(model.teachers))
    result = simulate(cond, Parameters(), seed=1)
    return {
        "CoherenceModel": model,
        "District": district,
        "Leader": district.leaders[0],
        "Teacher": teacher,
        "Provider": model.provider,
        "TeacherCohorts": model.teachers_pop,
        "SchoolLeaders": district.school_leaders,
        "ImprovementTeam": district.team,
        "Structure": district.structure,
        "RunResult": result,
        "Conditions": cond,
        "DistrictConditions": cond.districts[0],
        "LeaderSpec": cond.districts[0].leaders[0],
        "ShockSpec": ShockSpec(kind="prek_eliminated", month=0),
        "ProviderProgram": ProviderProgram(),
        "ParameterSpec": next(iter(specs.values())),
        "Parameters": Parameters(),
        "ChangeRecord": result.changes[0] if result.changes else None,
    }


_CLASS_MODULES = {
    "CoherenceModel": "sim.model",
    "District": "sim.agents",
    "Leader": "sim.agents",
    "Teacher": "sim.agents",
    "Provider": "sim.initiative",
    "TeacherCohorts": "sim.teachers",
    "SchoolLeaders": "sim.agents",
    "ImprovementTeam": "sim.team",
    "Structure": "sim.structure",
    "RunResult": "sim.results",
    "Conditions": "sim.conditions",
    "DistrictConditions": "sim.conditions",
    "LeaderSpec": "sim.conditions",
    "ShockSpec": "sim.conditions",
    "ProviderProgram": "sim.conditions",
    "ParameterSpec": "sim.parameters",
    "Parameters": "sim.parameters",
    "ChangeRecord": "sim.records",
    "LinkRecord": "sim.records",
    "EventRecord": "sim.records",
}


@pytest.fixture(scope="module")
def instances() -> dict[str, object]:
    return _instances()


def _resolve(module_name: str, dotted: str, instances: dict[str, object]) -> bool:
    obj = importlib.import_module(module_name)
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            if i == 0 and (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ != module_name:
                return False  # imported there, defined elsewhere: the link points to the wrong file
            continue
        # An attribute set in __init__ (or a dataclass field with a factory): look on an instance.
        owner = parts[i - 1] if i else None
        inst = instances.get(owner) if owner else None
        if inst is not None and hasattr(inst, part):
            obj = getattr(inst, part)
            continue
        return False
    return True


_CODE_LINK = re.compile(r"\[`([A-Za-z_][\w.]*)(?:\(\))?`\]\((\.\./[^)\s#]+\.py)(#[^)]*)?\)")


def test_linked_code_names_exist(odd: str, instances) -> None:
    refs = [(m.group(1), m.group(2)) for m in _CODE_LINK.finditer(odd)]
    assert len(refs) >= 30, "docs/ODD.md should link its submodels to the code"
    missing = []
    for name, path in refs:
        module = path[3:-3].replace("/", ".")
        if not _resolve(module, name, instances):
            missing.append(f"{name} in {path}")
    assert not missing, f"docs/ODD.md names code that does not exist: {sorted(set(missing))}"


_CLASS_ATTR = re.compile(r"`(" + "|".join(_CLASS_MODULES) + r")\.(\w+)(?:\(\))?`")


def test_backticked_class_attributes_exist(odd: str, instances) -> None:
    missing = sorted(
        {
            f"{cls}.{attr}"
            for cls, attr in _CLASS_ATTR.findall(odd)
            if not _resolve(_CLASS_MODULES[cls], f"{cls}.{attr}", instances)
        }
    )
    assert not missing, f"docs/ODD.md names class attributes that do not exist: {missing}"


def test_method_references_fail_when_wrong(instances) -> None:
    """The resolver used above can fail (guards against a vacuous check)."""
    assert _resolve("sim.model", "CoherenceModel._provider_month", instances)
    assert _resolve("sim.model", "CoherenceModel.readiness", instances)
    assert not _resolve("sim.model", "CoherenceModel._no_such_method", instances)
    assert not _resolve("sim.agents", "District.no_such_attribute", instances)
    assert not _resolve("sim.model", "District.enact", instances)  # District lives in sim/agents.py


# ---- schedule, logs, outputs --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SHOCK_OFFSET", "ENACT_OFFSET", "TURNOVER_OFFSET"])
def test_event_offsets_are_documented(odd: str, name: str) -> None:
    value = getattr(calendar, name)
    assert f"`{name}` = {_num(value)}" in odd, f"docs/ODD.md: write `{name}` = {_num(value)} in the schedule"
    assert f"m + {_num(value)}" in odd


def test_event_order_matches_the_calendar() -> None:
    offsets = [calendar.SHOCK_OFFSET, calendar.ENACT_OFFSET, calendar.TURNOVER_OFFSET]
    assert offsets == sorted(offsets) and 0 < offsets[0] and offsets[-1] < 1, (
        "sim/calendar.py changed the order of events within a month: update section 3 of docs/ODD.md"
    )


def test_step_order_is_documented(odd: str) -> None:
    from sim.model import CoherenceModel

    src = inspect.getsource(CoherenceModel.step)
    calls = re.findall(r"(self\._provider_month|self\._teachers_month|dist\.month|self\._link)\(", src)
    assert calls == ["self._provider_month", "self._teachers_month", "dist.month", "self._link"], (
        f"CoherenceModel.step now calls {calls}: update section 3 of docs/ODD.md"
    )
    names = ["`CoherenceModel._provider_month`", "`CoherenceModel._teachers_month`", "`District.month`", "`CoherenceModel._link`"]
    section3 = odd[odd.find("## 3 Process overview"):odd.find("## 4 Design concepts")]
    positions = [section3.find(n) for n in names]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), (
        "docs/ODD.md: section 3 must name every sub-step of CoherenceModel.step in order"
    )


def test_event_kinds_and_sources_are_documented(odd: str) -> None:
    from sim.records import SOURCES

    kinds = set()
    for path in (ROOT / "sim").glob("*.py"):
        kinds.update(re.findall(r"log_event\([^,]+,[^,]+,\s*\"(\w+)\"", path.read_text(encoding="utf-8")))
    assert kinds, "no event kinds found in sim/"
    missing = sorted(k for k in kinds | set(SOURCES) if f"`{k}`" not in odd)
    assert not missing, f"docs/ODD.md: event kinds / change sources not documented: {missing}"


def test_outputs_are_documented(odd: str, instances) -> None:
    from sim.results import OUTCOME_NAMES

    result = instances["RunResult"]
    names = list(OUTCOME_NAMES) + list(result.tables())
    names += [f for f in result.__dataclass_fields__]
    missing = [n for n in names if f"`{n}`" not in odd]
    assert not missing, f"docs/ODD.md: outputs not documented: {missing}"


def test_case_summary_keys_are_documented(odd: str) -> None:
    from experiments.case import run_case, summarise

    summary = summarise(run_case(replicates=2))
    keys = list(summary) + [f"provenance.{k}" for k in summary["provenance"]]
    missing = [k for k in keys if f"`{k.split('.')[-1]}`" not in odd]
    assert not missing, f"docs/ODD.md: summary.json keys not documented: {missing}"


def test_not_yet_modelled_note(odd: str) -> None:
    assert "Not yet modelled" in odd and "000_2f2cc46267fd8ab3.txt" in odd


def test_odd_headings_in_order(odd: str) -> None:
    heads = [
        "1 Purpose and patterns",
        "2 Entities, state variables and scales",
        "3 Process overview and scheduling",
        "4 Design concepts",
        "5 Initialization",
        "6 Input data",
        "7 Submodels",
        "Known limitations / open questions",
    ]
    pos = [odd.find(f"## {h}") for h in heads]
    assert all(p >= 0 for p in pos), f"docs/ODD.md: missing headings {[h for h, p in zip(heads, pos) if p < 0]}"
    assert pos == sorted(pos), "docs/ODD.md: the ODD headings are out of order"
    concepts = ["Basic principles", "Emergence", "Adaptation", "Objectives", "Learning", "Prediction", "Sensing",
                "Interaction", "Stochasticity", "Collectives", "Observation"]
    cpos = [odd.find(f"### 4.{i + 1} {c}") for i, c in enumerate(concepts)]
    assert all(p >= 0 for p in cpos) and cpos == sorted(cpos), "docs/ODD.md: design concepts 4.1-4.11 incomplete"


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_blocks()
        print(f"updated the generated blocks of {ODD.relative_to(ROOT)}")
    else:
        for name, render in BLOCKS.items():
            print(f"--- {name}\n{render()}\n")
