"""Appendix A's coding rules on hand-made histories that mirror the report's own examples."""

from __future__ import annotations

import numpy as np

from sim.coding import code_tally, tally
from sim.records import SOURCE_AGENDA, SOURCE_INITIATIVE, ChangeRecord, LinkRecord
from sim.vocab import Alignment, Consistency, Content, Continuity, Element, Substantiveness


def change(element, *, transform=True, consistent=True, prek=True, month=10, content=None, district="X"):
    return ChangeRecord(
        month=month,
        district=district,
        element=element,
        transform=transform,
        created=False,
        content=content if content is not None else (Content.SIGNATURE if consistent else Content.COMPETING),
        consistent=consistent,
        prek_included=prek,
        decided_by="Lead",
        source=SOURCE_INITIATIVE if consistent else SOURCE_AGENDA,
        trigger="test",
        decided_month=month,
    )


def test_cedarville_street_data_is_an_add_on():
    # Lines 780-789: street data added beside an incoherent assessment system -> add-on.
    codes = code_tally(tally([change(Element.ASSESSMENT, transform=False, month=26)]))
    assert codes["substantiveness"] is Substantiveness.ADD_ON
    assert codes["consistency"] is Consistency.CONSISTENT  # lines 815-818
    assert codes["alignment"] is Alignment.NOT_ALIGNED  # no link recorded in this history
    assert codes["continuity"] is Continuity.CONTINUITY


def test_avalon_framework_is_a_transform_and_aligned():
    # Lines 798-806: a content-neutral framework rewritten for mathematics -> transform.
    links = [LinkRecord(20, "Avalon", Element.FRAMEWORK, Element.PEDAGOGY, Content.PRINCIPLES, True)]
    codes = code_tally(tally([change(Element.FRAMEWORK, content=Content.PRINCIPLES)], links))
    assert codes["substantiveness"] is Substantiveness.TRANSFORM
    assert codes["alignment"] is Alignment.ALIGNED


def test_add_on_then_transform_codes_transform():
    history = [change(Element.PEDAGOGY, transform=False, month=5), change(Element.PEDAGOGY, transform=True, month=20)]
    assert code_tally(tally(history))["substantiveness"] is Substantiveness.TRANSFORM


def test_diamond_oversight_is_not_consistent_and_pedagogy_somewhat():
    # Lines 852-868: oversight monitors the fluency programme only -> not consistent.
    oversight = code_tally(tally([change(Element.OVERSIGHT, consistent=False)]))
    assert oversight["consistency"] is Consistency.NOT_CONSISTENT
    # Lines 848-851: Counting Collections beside a fluency curriculum -> somewhat consistent.
    pedagogy = code_tally(
        tally([change(Element.PEDAGOGY, consistent=True, month=8), change(Element.PEDAGOGY, consistent=False, month=15)])
    )
    assert pedagogy["consistency"] is Consistency.SOMEWHAT


def test_inconsistent_link_still_counts_as_alignment():
    # Lines 905-915: Diamond's assessment-oversight link carried timed fluency: aligned, but red.
    links = [LinkRecord(18, "Diamond", Element.ASSESSMENT, Element.OVERSIGHT, Content.COMPETING, False)]
    codes = code_tally(tally([change(Element.OVERSIGHT, consistent=False)], links))
    assert codes["alignment"] is Alignment.ALIGNED


def test_diamond_prek_elimination_loses_continuity_at_the_end():
    # Lines 941-958: changes included pre-K, then pre-K was eliminated in year 3.
    history = [change(Element.TEACHER_LEARNING, prek=True, month=12)]
    codes = code_tally(tally(history, prek_at_end=False))
    assert codes["continuity"] is Continuity.CONTINUITY
    assert codes["continuity_end"] is Continuity.NO_CONTINUITY
    assert code_tally(tally(history, prek_at_end=True))["continuity_end"] is Continuity.CONTINUITY


def test_change_without_prek_fosters_no_continuity():
    codes = code_tally(tally([change(Element.TEACHER_LEARNING, prek=False)]))
    assert codes["continuity"] is Continuity.NO_CONTINUITY


def test_no_history_is_no_change_on_every_dimension():
    codes = code_tally(tally([], element=Element.OVERSIGHT))
    assert codes["substantiveness"] is Substantiveness.NO_CHANGE
    assert codes["consistency"] is Consistency.NO_CHANGE
    assert codes["alignment"] is Alignment.NO_CHANGE
    assert codes["continuity"] is Continuity.NO_CHANGE
    assert codes["continuity_end"] is Continuity.NO_CHANGE


def test_links_of_other_elements_do_not_count():
    links = [LinkRecord(18, "X", Element.ASSESSMENT, Element.OVERSIGHT, Content.SIGNATURE, True)]
    codes = code_tally(tally([change(Element.PEDAGOGY)], links))
    assert codes["alignment"] is Alignment.NOT_ALIGNED


def test_vectorised_coding_matches_scalar_coding():
    from sim import coding

    rng = np.random.default_rng(3)
    a, t, c, x, l = (rng.integers(0, 3, size=200) for _ in range(5))
    subst = coding.substantiveness(a, t)
    cons = coding.consistency(c, x)
    for i in range(200):
        assert subst[i] == coding.substantiveness(int(a[i]), int(t[i]))
        assert cons[i] == coding.consistency(int(c[i]), int(x[i]))
