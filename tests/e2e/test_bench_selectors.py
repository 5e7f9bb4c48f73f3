"""`codesight bench selectors` end to end on a tiny two-version site: the report's keys and sanity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.e2e.test_conditions_matrix import JOURNEY, make_site
from web.cli import main

pytestmark = [pytest.mark.browser]

REQUIRED_KEYS = {
    "clicks",
    "conditions",
    "per_kind",
    "top1_correct_rate",
    "top1_wrong_rate",
    "any_survives_rate",
    "best_single_kind",
    "best_single_correct_rate",
    "break_reduction_vs_best_single",
    "removed_target_abstain_rate",
    "baselines",
    "replay_seconds",
    "bare_navigation_seconds",
    "overhead_ratio",
}
EXTRA_KEYS = {"rank_rule_top1_correct_rate", "per_site", "per_condition", "counts", "timing"}
BASELINES = {"finder", "css-selector-generator", "absolute-xpath", "playwright"}
RATES = (
    "top1_correct_rate",
    "top1_wrong_rate",
    "any_survives_rate",
    "best_single_correct_rate",
    "removed_target_abstain_rate",
)


def test_bench_reports_the_required_figures_for_us_and_every_baseline(tmp_path: Path) -> None:
    sites = tmp_path / "sites"
    make_site(sites / "tiny")
    out = tmp_path / "out" / "selectors.json"
    args = ["bench", "selectors", "--sites", str(sites), "--out", str(out), "--viewports", "desktop"]
    args += ["--conditions", "fresh,next_version", "--concurrency", "2"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(report) == REQUIRED_KEYS | EXTRA_KEYS
    assert report["clicks"] == len(JOURNEY)
    assert report["conditions"] == ["desktop/fresh", "desktop/next_version"]
    assert set(report["baselines"]) == BASELINES
    for figures in (report, *report["baselines"].values()):
        for rate in RATES:
            assert 0.0 <= figures[rate] <= 1.0, (rate, figures[rate])
        assert figures["best_single_kind"] in figures["per_kind"]
        assert all(0.0 <= rate <= 1.0 for kind in figures["per_kind"].values() for rate in kind.values())
    # The tiny site's one redesign: "later" is removed, and finding nothing is the right answer there.
    assert report["counts"]["removed_cells"] == 1
    assert report["removed_target_abstain_rate"] == 1.0
    assert report["top1_wrong_rate"] == 0.0
    assert report["top1_correct_rate"] >= report["best_single_correct_rate"]
    assert report["replay_seconds"] > 0 and report["bare_navigation_seconds"] > 0
    assert report["overhead_ratio"] == pytest.approx(report["replay_seconds"] / report["bare_navigation_seconds"])
    assert set(report["per_site"]) == {"tiny"}
    assert set(report["per_condition"]) == set(report["conditions"])
    assert "codesight" in result.output and "playwright" in result.output
