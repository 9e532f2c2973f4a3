"""The observed targets (experiments/evidence/data/observed.toml) load, have the documented shape, keep the
report's alternative readings, and reject a corrupted file naming the key at fault."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from experiments.evidence import Alternative, ObservedTargets, load_observed
from sim.vocab import (
    CASE_DISTRICTS,
    ELEMENTS,
    TABLE_COLUMNS,
    Alignment,
    Capacity,
    Consistency,
    Continuity,
    Element,
    Practice,
    Substantiveness,
)

AVALON, BIRCHWOOD, CEDARVILLE, DIAMOND = CASE_DISTRICTS
DNE, EMERGENT, ESTABLISHED = (c.key for c in Capacity)
N_ELEMENTS = len(ELEMENTS)
N_CELLS = N_ELEMENTS * len(CASE_DISTRICTS)


@pytest.fixture(scope="module")
def observed() -> ObservedTargets:
    return load_observed()


def _toml_text() -> str:
    return resources.files("experiments.evidence").joinpath("data/observed.toml").read_text(encoding="utf-8")


# --- shape and sums ------------------------------------------------------------------------


def test_tables_have_the_documented_shape(observed: ObservedTargets) -> None:
    assert set(observed.tables) == set(TABLE_COLUMNS)
    row_keys = {
        "table2": CASE_DISTRICTS,
        "table3": Capacity.keys(),
        "table4": Capacity.keys(),
        "table5": Capacity.keys(),
        "consistency": CASE_DISTRICTS,
    }
    for name, rows in observed.tables.items():
        assert tuple(rows) == row_keys[name], name
        for row, values in rows.items():
            assert tuple(values) == TABLE_COLUMNS[name], (name, row)
            assert all(type(v) is int and v >= 0 for v in values.values()), (name, row)


def test_row_sums_and_totals(observed: ObservedTargets) -> None:
    n = {DNE: 7, EMERGENT: 3, ESTABLISHED: 14}  # Tables 3-5 row headers, lines 1154-1163
    assert observed.capacity_n == n
    for name, rows in observed.tables.items():
        expected = n if name in ("table3", "table4", "table5") else dict.fromkeys(CASE_DISTRICTS, N_ELEMENTS)
        assert {r: sum(v.values()) for r, v in rows.items()} == expected, name
        assert sum(sum(v.values()) for v in rows.values()) == N_CELLS, name


def test_known_cells_of_the_printed_tables(observed: ObservedTargets) -> None:
    t = observed.tables
    ns, ao, tr = Substantiveness.keys()
    assert [t["table2"][d][tr] for d in CASE_DISTRICTS] == [5, 1, 5, 3]  # line 837-845
    assert t["table3"][ESTABLISHED] == {ns: 0, ao: 2, tr: 12}  # "12 out of 14", line 1119
    aligned = Alignment.ALIGNED.key
    assert sum(r[aligned] for r in t["table4"].values()) == 18  # "18 of 20", line 1134
    assert t["table4"][EMERGENT][aligned] + t["table4"][ESTABLISHED][aligned] == 16  # "16 of 17", line 1193
    assert sum(r[Continuity.CONTINUITY.key] for r in t["table5"].values()) == 20
    assert t["consistency"][DIAMOND][Consistency.NOT_CONSISTENT.key] == 2


def test_changed_elements_match_table2(observed: ObservedTargets) -> None:
    for district in CASE_DISTRICTS:
        changed = observed.changed_elements[district]
        assert all(isinstance(e, Element) for e in changed)
        assert len(changed) == N_ELEMENTS - observed.tables["table2"][district][Substantiveness.NO_CHANGE.key]
    unchanged = {(d, e) for d in CASE_DISTRICTS for e in ELEMENTS if e not in observed.changed_elements[d]}
    assert unchanged == {
        (AVALON, Element.OVERSIGHT),
        (BIRCHWOOD, Element.SCHOOL_LEADER_LEARNING),
        (BIRCHWOOD, Element.OVERSIGHT),
        (DIAMOND, Element.FRAMEWORK),
    }


def test_demographics_table1(observed: ObservedTargets) -> None:
    assert list(observed.demographics) == list(CASE_DISTRICTS)
    assert [observed.demographics[d]["students"] for d in CASE_DISTRICTS] == [7000, 300, 11000, 16000]
    assert observed.demographics[CEDARVILLE]["pct_homeless"] == 20


def test_every_entry_has_lines_and_inferred_flag(observed: ObservedTargets) -> None:
    for key, prov in observed.provenance.items():
        assert prov.lines and all(1 <= a <= b <= 1710 for a, b in prov.lines), key
        assert isinstance(prov.inferred, bool), key
    for fact in observed.facts:
        assert fact["lines"] and isinstance(fact["inferred"], bool), fact
        assert fact["district"] in (*CASE_DISTRICTS, None), fact


def test_element_consistency_facts_fit_the_primary_table(observed: ObservedTargets) -> None:
    """Coded element-level facts never exceed the per-district counts of the primary reading."""
    for district in CASE_DISTRICTS:
        coded = [f["value"] for f in observed.facts_of("consistency", district=district)]
        for code in Consistency:
            assert coded.count(code) <= observed.tables["consistency"][district][code.key], (district, code)


def test_facts_cover_depth_and_timing(observed: ObservedTargets) -> None:
    depth = {f["district"]: f["value"].key for f in observed.facts_of("depth") if f["element"] is None}
    hlpp, signature = Practice.HLPP.key, Practice.COUNTING_COLLECTIONS.key
    assert depth == {AVALON: hlpp, CEDARVILLE: hlpp, BIRCHWOOD: signature, DIAMOND: signature}
    year3_sll = {f["district"] for f in observed.facts_of("timing", element=Element.SCHOOL_LEADER_LEARNING) if f["year"] == 3}
    assert year3_sll == {AVALON, CEDARVILLE, DIAMOND}
    (cedarville_curriculum,) = observed.facts_of("timing", district=CEDARVILLE, element=Element.PEDAGOGY)
    assert cedarville_curriculum["year"] == 2


# --- alternatives --------------------------------------------------------------------------


def test_table4_text_reading_differs_in_the_did_not_exist_row(observed: ObservedTargets) -> None:
    alt = observed.alternatives["table4_text"]
    assert isinstance(alt, Alternative) and alt.note and alt.lines
    primary = observed.tables["table4"][DNE]
    text = alt.tables["table4"][DNE]
    assert primary != text
    assert (text[Alignment.NOT_ALIGNED.key], text[Alignment.ALIGNED.key]) == (2, 1)  # "1 out of 3", line 1194
    assert (primary[Alignment.NOT_ALIGNED.key], primary[Alignment.ALIGNED.key]) == (1, 2)
    merged = observed.reading("table4_text")["table4"]
    assert sum(r[Alignment.ALIGNED.key] for r in merged.values()) == 17
    assert merged[EMERGENT] == observed.tables["table4"][EMERGENT]  # only the named row changes


def test_end_of_run_reading_is_per_district(observed: ObservedTargets) -> None:
    alt = observed.alternatives["end_of_run"]
    by_district = alt.tables["continuity_by_district"]
    assert by_district[DIAMOND] == {
        Continuity.NO_CHANGE.key: 1, Continuity.NO_CONTINUITY.key: 5, Continuity.CONTINUITY.key: 0
    }
    for district in CASE_DISTRICTS:
        assert sum(by_district[district].values()) == N_ELEMENTS
    assert "continuity_by_district" not in observed.tables
    assert "table5" not in alt.tables  # Diamond's capacity rows are not determinable


def test_consistency_alternatives_change_only_what_they_name(observed: ObservedTargets) -> None:
    names = [n for n in observed.alternatives if n.startswith("consistency_")]
    assert len(names) >= 3
    for name in names:
        merged = observed.reading(name)["consistency"]
        assert merged != observed.tables["consistency"], name
        for district, row in merged.items():
            assert sum(row.values()) == N_ELEMENTS, (name, district)
    diamond = observed.reading("consistency_diamond_assessment_somewhat")["consistency"][DIAMOND]
    assert diamond[Consistency.NOT_CONSISTENT.key] == 1


def test_unknown_alternative_is_rejected(observed: ObservedTargets) -> None:
    with pytest.raises(ValueError, match="alternatives"):
        observed.reading("no_such_reading")


# --- loading and validation ----------------------------------------------------------------


def test_packaged_file_is_cached() -> None:
    assert load_observed() is load_observed()


def test_an_exact_copy_loads_from_a_path(tmp_path: Path, observed: ObservedTargets) -> None:
    copy = tmp_path / "observed.toml"
    copy.write_text(_toml_text(), encoding="utf-8")
    assert load_observed(copy).tables == observed.tables


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("Avalon = { no_change = 1, add_on = 0, transform = 5 }",
         "Avalon = { no_change = 1, add_on = 0, transform = 6 }", "tables.table2.rows.Avalon"),
        ("did_not_exist = { no_change = 4, not_aligned = 1, aligned = 2 }",
         "did_not_exist = { no_change = 4, not_aligned = 1, aligned = 3 }", "tables.table4.rows.did_not_exist"),
        ("totals = { no_change = 4, not_aligned = 2, aligned = 18 }",
         "totals = { no_change = 4, not_aligned = 2, aligned = 17 }", "tables.table4.totals.aligned"),
        ("Diamond = { no_change = 1, consistent = 2, somewhat = 1, not_consistent = 2 }",
         "Diamond = { no_change = 1, consistent = 3, somewhat = 1, not_consistent = 2 }",
         "tables.consistency.rows.Diamond"),
        ("emergent = { no_change = 0, add_on = 2, transform = 1 }",
         "emergent = { no_change = 0, add_on = 2, transfrom = 1 }", "tables.table3.rows.emergent"),
        ("[alternatives.table4_text.tables.table4.did_not_exist]\nno_change = 4\nnot_aligned = 2\naligned = 1",
         "[alternatives.table4_text.tables.table4.did_not_exist]\nno_change = 4\nnot_aligned = 2\naligned = 2",
         "alternatives.table4_text.tables.table4.did_not_exist"),
        ('lines = ["804-811", "837-847"]', 'lines = ["804-811", "837-9999"]', "tables.table2.lines"),
        ('Diamond = ["pedagogy",', 'Diamond = ["framework", "pedagogy",', "changed_elements.districts.Diamond"),
        ("students = 300\npct_latine = 90", "students = 300\npct_latine = 190",
         "demographics.districts.Birchwood.pct_latine"),
    ],
)
def test_corrupted_copy_raises_naming_the_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    text = _toml_text()
    assert text.count(old) == 1, f"test anchor not unique: {old!r}"
    bad = tmp_path / "observed.toml"
    bad.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ValueError) as excinfo:
        load_observed(bad)
    assert str(excinfo.value).startswith(key), str(excinfo.value)
