"""Honest labels (issue 16): a quick calibration and an unconverged sensitivity study say so at the
top of the terminal output and of their report; "pinned down" is never claimed from an effective
sample size below 100."""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from experiments.cli import main


def _stage(ess: float, n: int = 200):
    return SimpleNamespace(effective_sample_size=ess, particles=list(range(n)))


def _result(budget: str, ess_fit: float, ess_final: float, tmp_path: Path):
    return SimpleNamespace(budget=SimpleNamespace(name=budget), stages={"fit": _stage(ess_fit), "final": _stage(ess_final)},
                           summary=lambda: "calibration (synthetic): the point estimate ...", written=[tmp_path / "report.md"])


def test_calibration_notice_and_identification_from_a_synthetic_result(tmp_path):
    from calibration.report import MIN_ESS, identification, provisional_notice

    assert MIN_ESS == 100
    quick = provisional_notice(_result("quick", 1, 1, tmp_path))
    assert quick.startswith("PROVISIONAL") and "quick budget" in quick and "ESS 1" in quick and "pinned down" in quick
    low = provisional_notice(_result("full", 450, 60, tmp_path))
    assert low.startswith("PROVISIONAL") and "final fit ESS 60" in low and "quick" not in low
    assert provisional_notice(_result("full", 450, 300, tmp_path)) is None
    assert identification(0.9, ess=1) != "pinned down" and "ESS" in identification(0.9, ess=99)
    assert identification(0.3, ess=99) != "partly" and identification(0.1, ess=99) != "not identified"
    assert identification(0.9, ess=100) == "pinned down" and identification(0.9) == "pinned down"


@pytest.mark.parametrize("budget, ess, provisional", [("quick", 1, True), ("full", 40, True), ("full", 500, False)])
def test_calibrate_says_so_at_the_top_of_the_terminal_output(tmp_path, capsys, monkeypatch, budget, ess, provisional):
    import calibration.fit

    def fake(budget_name, out, progress=None, **kw):
        if progress is not None:
            progress({"stage": "fit", "event": "start"})
        return _result(budget_name, ess, ess, tmp_path)

    monkeypatch.setattr(calibration.fit, "calibrate", fake)
    monkeypatch.setattr(calibration.fit, "format_progress", lambda event: f"progress {event}")
    assert main(["calibrate", "--budget", budget, "--out", str(tmp_path / "c")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("PROVISIONAL") is provisional
    assert ("quick budget" in err) is (budget == "quick")  # said when the run starts too
    if budget == "quick":
        assert err.index("quick budget") < err.index("progress")


def _tiny_unconverged_spec() -> dict:
    import experiments.sensitivity as sens

    data = tomllib.loads(sens.DEFAULT_SPEC.read_text())
    data["study"].update(replicates=2)
    data["morris"].update(trajectories=2, num_resamples=50)
    data["sobol"].update({"n_start": 2, "n_max": 4, "num_resamples": 20, "tolerance": 1e-9})  # cannot converge
    return data


def test_an_unconverged_sensitivity_study_says_so_at_the_top(tmp_path, capsys):
    import tomli_w

    p = tmp_path / "tiny.toml"
    p.write_text(tomli_w.dumps(_tiny_unconverged_spec()))
    assert main(["sensitivity", str(p), "--out", str(tmp_path / "study"), "--workers", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("NOT CONVERGED -- provisional: Sobol' stopped at n_max (N = 4")
    assert out.index("NOT CONVERGED") < out.index("claim:")
    report = (tmp_path / "study" / "report.md").read_text().splitlines()
    assert report[0].startswith("# Sensitivity study") and report[2].startswith("> **NOT CONVERGED -- provisional")
    text = "\n".join(report)
    assert text.index("NOT CONVERGED") < text.index("## The answer")


def test_a_converged_study_carries_no_notice():
    from experiments.sensitivity import unconverged_notice

    assert unconverged_notice(SimpleNamespace(converged=True), None) is None
