"""The case figures (experiments/figures.py) are written as PNGs from synthetic shares and
summaries, depend on their data, and leave pyplot and the global matplotlib style alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.figures import (
    FILENAMES,
    figure1_changes,
    figure3_alignment,
    figure_tables,
    write_case_figures,
)
from sim.vocab import (
    CASE_DISTRICTS,
    ELEMENTS,
    TABLE_COLUMNS,
    Alignment,
    Capacity,
    Consistency,
    Continuity,
    Substantiveness,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_BYTES = 5_000
D, E = len(CASE_DISTRICTS), len(ELEMENTS)


def _dist(rng: np.random.Generator, k: int) -> np.ndarray:
    x = rng.random((D, E, k))
    return x / x.sum(axis=-1, keepdims=True)


def synthetic_shares(seed: int = 0) -> dict[str, np.ndarray]:
    """Random shares of the shapes documented by experiments.case.element_shares."""
    rng = np.random.default_rng(seed)
    links = rng.random((D, E, E))
    links = (links + np.swapaxes(links, 1, 2)) / 2
    links[:, np.arange(E), np.arange(E)] = 0.0
    inconsistent = links * rng.random((D, E, E))
    inconsistent = np.minimum(inconsistent, np.swapaxes(inconsistent, 1, 2))
    return {
        "changed": rng.random((D, E)),
        "substantiveness": _dist(rng, len(Substantiveness)),
        "consistency": _dist(rng, len(Consistency)),
        "alignment": _dist(rng, len(Alignment)),
        "continuity": _dist(rng, len(Continuity)),
        "continuity_end": _dist(rng, len(Continuity)),
        "principles": rng.random((D, E)),
        "links": links,
        "inconsistent_links": inconsistent,
    }


def synthetic_summary(seed: int = 0, replicates: int = 37) -> dict:
    """A summary of the shape experiments.case.summarise returns (tables only)."""
    rng = np.random.default_rng(seed)
    rows = {
        "table2": CASE_DISTRICTS,
        "table3": Capacity.keys(),
        "table4": Capacity.keys(),
        "table5": Capacity.keys(),
        "consistency": CASE_DISTRICTS,
    }
    out: dict = {k: {} for k in ("observed", "simulated", "simulated_p05", "simulated_p95")}
    for name, row_keys in rows.items():
        cols = TABLE_COLUMNS[name]
        for k in out:
            out[k][name] = {}
        for r in row_keys:
            mean = rng.random(len(cols)) * 5
            out["simulated"][name][r] = {c: float(m) for c, m in zip(cols, mean)}
            out["simulated_p05"][name][r] = {c: float(max(m - 1.5, 0)) for c, m in zip(cols, mean)}
            out["simulated_p95"][name][r] = {c: float(m + 1.5) for c, m in zip(cols, mean)}
            out["observed"][name][r] = {c: int(rng.integers(0, 6)) for c in cols}
    out["provenance"] = {"replicates": replicates, "seed": seed}
    return out


def observed_changed() -> dict:
    return {d: ELEMENTS[i % 2 :: 2] for i, d in enumerate(CASE_DISTRICTS)}


def _assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > MIN_BYTES, (path, len(data))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Write all five figures once (they take a few seconds), watching pyplot and the style."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    keys = ("font.size", "axes.facecolor", "axes.grid", "axes.edgecolor", "xtick.labelsize", "figure.dpi")
    before = {k: mpl.rcParams[k] for k in keys}
    figs_before = plt.get_fignums()
    outdir = tmp_path_factory.mktemp("figures") / "new" / "dir"  # created if missing
    paths = write_case_figures(synthetic_shares(), synthetic_summary(), CASE_DISTRICTS, outdir, observed_changed())
    return {
        "outdir": outdir,
        "paths": paths,
        "figs": (figs_before, plt.get_fignums()),
        "rc": (before, {k: mpl.rcParams[k] for k in keys}),
    }


def test_write_case_figures_writes_five_pngs(written: dict) -> None:
    paths = written["paths"]
    assert [p.name for p in paths] == list(FILENAMES)
    assert len(set(paths)) == 5
    for p in paths:
        assert p.parent == written["outdir"]
        _assert_png(p)


def test_figures_leave_pyplot_and_style_alone(written: dict) -> None:
    figs_before, figs_after = written["figs"]
    assert figs_after == figs_before  # nothing registered with pyplot, nothing left open
    rc_before, rc_after = written["rc"]
    assert rc_after == rc_before  # seaborn styling did not leak into the global rcParams


def test_figure1_depends_on_the_shares(tmp_path: Path) -> None:
    a = figure1_changes(synthetic_shares(1), CASE_DISTRICTS, tmp_path / "a.png").read_bytes()
    a_again = figure1_changes(synthetic_shares(1), CASE_DISTRICTS, tmp_path / "a2.png").read_bytes()
    b = figure1_changes(synthetic_shares(2), CASE_DISTRICTS, tmp_path / "b.png").read_bytes()
    assert a == a_again  # deterministic, so the difference below is the data's
    assert a != b


def test_figure1_marks_observed_changes(tmp_path: Path) -> None:
    shares = synthetic_shares(5)
    plain = figure1_changes(shares, CASE_DISTRICTS, tmp_path / "plain.png").read_bytes()
    marked = figure1_changes(shares, CASE_DISTRICTS, tmp_path / "marked.png", observed_changed()).read_bytes()
    assert plain != marked
    other = {d: ELEMENTS[:1] for d in CASE_DISTRICTS}
    marked_other = figure1_changes(shares, CASE_DISTRICTS, tmp_path / "other.png", other).read_bytes()
    assert marked_other != marked  # the outlines follow the observed elements
    # Keys work as well as Element members.
    by_key = {d: [e.key for e in es] for d, es in observed_changed().items()}
    keyed = figure1_changes(shares, CASE_DISTRICTS, tmp_path / "keyed.png", by_key).read_bytes()
    assert keyed == marked


def test_figure1_caption_names_the_replicates(tmp_path: Path) -> None:
    shares = synthetic_shares(6)
    none = figure1_changes(shares, CASE_DISTRICTS, tmp_path / "n.png").read_bytes()
    some = figure1_changes(shares, CASE_DISTRICTS, tmp_path / "r.png", replicates=200).read_bytes()
    assert none != some


def test_figure3_draws_inconsistent_links_differently(tmp_path: Path) -> None:
    shares = synthetic_shares(7)
    consistent = dict(shares, inconsistent_links=np.zeros_like(shares["links"]))
    inconsistent = dict(shares, inconsistent_links=shares["links"].copy())
    a = figure3_alignment(consistent, CASE_DISTRICTS, tmp_path / "c.png")
    b = figure3_alignment(inconsistent, CASE_DISTRICTS, tmp_path / "i.png")
    _assert_png(a)
    assert a.read_bytes() != b.read_bytes()


def test_tables_figure_depends_on_observed(tmp_path: Path) -> None:
    summary = synthetic_summary(8)
    a = figure_tables(summary, tmp_path / "a.png").read_bytes()
    summary["observed"]["table2"][CASE_DISTRICTS[0]][TABLE_COLUMNS["table2"][0]] += 3
    b = figure_tables(summary, tmp_path / "b.png").read_bytes()
    assert a != b


@pytest.mark.parametrize(
    ("key", "bad"),
    [("changed", np.zeros((D, E + 1))), ("consistency", np.zeros((D, E, 3)))],
)
def test_bad_shapes_are_rejected_naming_the_key(tmp_path: Path, key: str, bad: np.ndarray) -> None:
    shares = dict(synthetic_shares(), **{key: bad})
    with pytest.raises(ValueError, match=key):
        write_case_figures(shares, synthetic_summary(), CASE_DISTRICTS, tmp_path)
    assert not (tmp_path / FILENAMES[1]).exists()  # figure 2 (consistency) not written
