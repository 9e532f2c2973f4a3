"""Citation metadata and the source documents (issue 16): CITATION.cff has the repository's address and
both references; docs/sources.md says where the two documents are, how lines are cited, and which
extraction the line numbers belong to (checked against the files when they are present)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"  # beside the repository (docs/sources.md)
SOURCES = ROOT / "docs" / "sources.md"


def test_citation_cff_has_the_repository_address_and_both_references():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["repository-code"].startswith("https://")
    refs = {r["title"]: r for r in cff["references"]}
    report = next(r for t, r in refs.items() if "Pre-K to 3 Coherence Collaboration" in t)
    brief = refs["Power in Partnership: Scaling Curriculum-Based Professional Learning to Strengthen Math Outcomes"]
    for r in (report, brief):
        assert r["type"] == "report" and r["authors"] and r["notes"]
    assert "003_5ef94897120ea9a2.txt" in report["notes"] and "000_2f2cc46267fd8ab3.txt" in brief["notes"]
    assert brief["publisher"]["name"] == "RTI International"


def test_docs_sources_lists_the_extraction_the_line_numbers_belong_to():
    text = SOURCES.read_text(encoding="utf-8")
    rows = re.findall(r"\| `(\d{3}_[0-9a-f]{16}\.txt)` \| ([\d,]+) \| `([0-9a-f]{64})` \|", text)
    assert {name for name, _, _ in rows} == {"003_5ef94897120ea9a2.txt", "000_2f2cc46267fd8ab3.txt"}
    for name, lines, sha in rows:
        path = SEEDS / name
        if path.exists():  # the documents live beside the repository, not in it
            data = path.read_bytes()
            assert hashlib.sha256(data).hexdigest() == sha, name
            assert len(data.decode("utf-8").splitlines()) == int(lines.replace(",", "")), name
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    for _, lines, sha in rows:
        assert sha in cff
    # reachable: the README and the ODD point to it
    assert "docs/sources.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "sources.md" in (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8")
