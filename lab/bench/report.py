"""The selector benchmark's report as text: one table of ours against the baselines, then the details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab.bench.figures import HIGHER_IS_BETTER, OURS, TARGETS, beats, meets_target

# Columns of the main table: (figure, header).
COLUMNS = (
    ("top1_correct_rate", "top1 ok"),
    ("top1_wrong_rate", "top1 wrong"),
    ("any_survives_rate", "survives"),
    ("best_single_correct_rate", "best single"),
    ("break_reduction_vs_best_single", "break red."),
    ("removed_target_abstain_rate", "removed abst."),
)


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _row(name: str, figures: Mapping[str, Any]) -> str:
    cells = [f"{name:<24}"]
    for key, header in COLUMNS:
        cells.append(f"{_num(figures.get(key)):>{max(len(header), 7)}}")
    cells.append(f"  {figures.get('best_single_kind') or '-'}")
    return " ".join(cells)


def render_report(report: Mapping[str, Any]) -> str:
    """The printed form of a benchmark report (lab.bench.figures.benchmark_figures plus counts/timing)."""
    counts = report.get("counts", {})
    lines = [
        f"Selector benchmark: {counts.get('sites', '?')} sites, {report['clicks']} targets, "
        f"{len(report['conditions'])} conditions; judged cells: {counts.get('present_cells', '?')} present, "
        f"{counts.get('removed_cells', '?')} removed ({counts.get('unreproduced_cells', '?')} unreproduced left out)",
        *(f"FAILED site {name}: {error}" for name, error in (counts.get("failed_sites") or {}).items()),
        "",
        " ".join([f"{'method':<24}", *(f"{h:>{max(len(h), 7)}}" for _, h in COLUMNS), "  best single kind"]),
        _row(OURS, report),
        *(_row(name, figures) for name, figures in report["baselines"].items()),
        " ".join(
            [
                f"{'target (issue 4)':<24}",
                *(
                    f"{(TARGETS[k][0] + str(TARGETS[k][1])) if k in TARGETS else '':>{max(len(h), 7)}}"
                    for k, h in COLUMNS
                ),
            ]
        ),
        "",
        f"replay {report['replay_seconds']:.1f} s, bare navigation {_num(report['bare_navigation_seconds'], 1)} s, "
        f"overhead ratio {_num(report['overhead_ratio'], 2)} (target <= {TARGETS['overhead_ratio'][1]})",
    ]
    timing = report.get("timing")
    if timing:
        lines.append(
            f"wall clock: generate {timing['generate_wall_seconds']:.1f} s, "
            f"total {timing['total_wall_seconds']:.1f} s (concurrency {timing['concurrency']})"
        )
    lines += ["", f"per kind ({OURS}): kind, available, unique, correct"]
    for kind, figures in sorted(report["per_kind"].items(), key=lambda kv: -(kv[1]["correct_rate"] or 0)):
        lines.append(
            f"  {kind:<14} {_num(figures.get('available_rate')):>7} {_num(figures['unique_rate']):>7} "
            f"{_num(figures['correct_rate']):>7}"
        )
    for title, key in (("per condition", "per_condition"), ("per site", "per_site")):
        breakdown = report.get(key) or {}
        if not breakdown:
            continue
        names = list(report["baselines"])
        lines += ["", f"{title}: cells, top1 ok, top1 wrong, survives, removed abst. | baselines' top1 ok"]
        for name, figures in breakdown.items():
            theirs = " ".join(f"{b}={_num(figures['baselines'].get(b), 2)}" for b in names)
            lines.append(
                f"  {name:<22} {figures['cells']:>5} {_num(figures['top1_correct_rate']):>6} "
                f"{_num(figures['top1_wrong_rate']):>6} {_num(figures['any_survives_rate']):>6} "
                f"{_num(figures['removed_target_abstain_rate']):>6} | {theirs}"
            )
    lines += ["", "targets:"]
    for figure in TARGETS:
        value = report.get(figure)
        lines.append(f"  {'met ' if meets_target(figure, value) else 'MISS'} {figure} = {_num(value)}")
    for figure in sorted(HIGHER_IS_BETTER | {"top1_wrong_rate"}):
        losers = [n for n, f in report["baselines"].items() if not beats(figure, report.get(figure), f.get(figure))]
        lines.append(
            f"  {'met ' if not losers else 'MISS'} {figure} better than every baseline"
            + (f" (not better than {', '.join(losers)})" if losers else "")
        )
    return "\n".join(lines)
