"""The main job end to end, the case file's validation, and the case's structure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.case import REPORT_TABLES, run_case, summarise
from experiments.scenario import CaseFileError, load_case
from sim.vocab import CASE_DISTRICTS, Alignment, Capacity, Consistency, Continuity, Substantiveness

CASE_TOML = Path(__file__).resolve().parent.parent / "experiments" / "data" / "four_districts.toml"


def test_main_job_end_to_end(tmp_path):
    out = tmp_path / "case"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "case", "--replicates", "12", "--seed", "5", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Table 2" in proc.stdout and "Table 5" in proc.stdout and "obs" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    for key in ("observed", "simulated", "simulated_p05", "simulated_p95", "provenance"):
        assert key in summary
    sim = summary["simulated"]
    assert set(sim) >= {"table2", "table3", "table4", "table5", "consistency"}
    assert set(sim["table2"]) == set(CASE_DISTRICTS)
    assert set(sim["table2"]["Avalon"]) == set(Substantiveness.keys())
    assert set(sim["table3"]) == set(Capacity.keys())
    assert set(sim["table4"]["emergent"]) == set(Alignment.keys())
    assert set(sim["table5"]["established"]) == set(Continuity.keys())
    assert set(sim["consistency"]["Diamond"]) == set(Consistency.keys())
    # Means lie between the percentiles, and every table's means add up to 24 district-elements.
    for t in REPORT_TABLES:
        total = 0.0
        for row, cells in sim[t].items():
            for col, v in cells.items():
                assert summary["simulated_p05"][t][row][col] - 1e-9 <= v <= summary["simulated_p95"][t][row][col] + 1e-9
                total += v
        assert total == pytest.approx(24.0)
    prov = summary["provenance"]
    assert prov["replicates"] == 12 and prov["seed"] == 5 and prov["version"]
    assert prov["capacity_assignments"] >= 1 and "uptake_rate" in prov["parameters"]
    for name in ("figure1_changes", "figure2_consistency", "figure3_alignment", "figure4_continuity", "tables_observed_vs_simulated"):
        png = out / f"{name}.png"
        assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_main_job_is_reproducible():
    a = summarise(run_case(replicates=6, seed=11))
    b = summarise(run_case(replicates=6, seed=11))
    c = summarise(run_case(replicates=6, seed=12))
    assert a["simulated"] == b["simulated"] and a["simulated_p95"] == b["simulated_p95"]
    assert a["simulated"] != c["simulated"]


def test_bad_cli_input_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "case", "--replicates", "0"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "--replicates" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(CASE_TOML.read_text().replace("role = \"Associate Superintendent\"\n", "role = \"Associate Superintendent\"\nrank = 3\n", 1))
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "case", "--case-file", str(bad), "--replicates", "1", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "districts.Avalon.leaders[0].rank" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()  # nothing written for a refused input


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("students = { value = 7000,", "students = { value = -5,", "districts.Avalon.students"),
        ("students = { value = 7000,", "students = { value = \"many\",", "districts.Avalon.students"),
        ("buy_in = { value = 0.9, lines = [496, 503]", "buy_in = { value = 1.7, lines = [496, 503]", "buy_in"),
        ("kind = \"prek_eliminated\"", "kind = \"meteor\"", "shock"),
        ("owns = { value = [\"pedagogy\",", "owns = { value = [\"recess\",", "owns[0]"),
        ("capacity = { value = \"enumerated\"", "capacity = { value = \"guessed\"", "case.capacity"),
        ("horizon_months = { value = 36,", "horizon_months = { value = 36.5,", "case.horizon_months"),
        ("[districts.Avalon]\n", "[districts.Avalon]\nmood = 1\n", "districts.Avalon.mood"),
    ],
)
def test_case_file_errors_name_the_key(tmp_path, old, new, message):
    text = CASE_TOML.read_text()
    assert old in text
    path = tmp_path / "case.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(CaseFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_case(path)


def test_case_holds_conditions_and_derives_teachers(case_definition):
    from experiments.case import case_conditions

    conds, k = case_conditions(case_definition)
    assert len(conds) == k >= 1
    c = conds[0]
    names = [d.name for d in c.districts]
    assert names == list(CASE_DISTRICTS)
    by = {d.name: d for d in c.districts}
    # Size from Table 1 (line 528): Diamond is largest, Birchwood a single small school.
    assert by["Diamond"].n_teachers > by["Cedarville"].n_teachers > by["Avalon"].n_teachers > by["Birchwood"].n_teachers
    assert by["Diamond"].n_teachers >= 200  # hundreds of teachers in the largest district
    assert by["Birchwood"].n_elementary_schools == 1 and by["Birchwood"].n_school_leaders == 2
    assert by["Birchwood"].team_teachers * 2 == pytest.approx(by["Birchwood"].n_teachers, abs=1)
    # Leadership (lines 1263-1278): Diamond's lead lacks positional authority; the others have it.
    assert not by["Diamond"].lead.positional_authority
    assert all(by[n].lead.positional_authority for n in ("Avalon", "Birchwood", "Cedarville"))
    assert any(l.agenda for l in by["Diamond"].leaders)
    # The case never encodes outcomes: no field of the conditions names a change or a code.
    text = CASE_TOML.read_text()
    for outcome_word in ("transform", "add_on", "no_change", "consistent =", "aligned"):
        assert outcome_word not in text
    # Every capacity assignment keeps Table 3's row totals (7 / 3 / 14).
    for cond in conds:
        caps = [int(x) for d in cond.districts for x in d.capacity]
        assert [caps.count(k) for k in range(3)] == [7, 3, 14]
