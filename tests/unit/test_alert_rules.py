"""deploy/prometheus: every alert rule is complete and every metric it reads is one CodeSight exports.

A rule over a misspelled or renamed metric never fires, and Prometheus cannot tell: it is a query
over no series. Here the names are parsed out of each expression and looked up in our registry.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import lab.monitoring.metrics  # noqa: F401  (defines every metric on the default registry)

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
# Prometheus' own series for every target: 0 when a scrape failed.
PROMETHEUS_SERIES = frozenset({"up"})
# The samples each type of metric family exposes (prometheus_client appends _total to counters).
SAMPLE_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
# PromQL words that look like identifiers but name no series.
PROMQL_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"})
DURATION = re.compile(r"^[0-9]+(ms|[smhdwy])$")
SEVERITIES = frozenset({"warning", "critical"})


def exported_series() -> set[str]:
    """Every sample name our registry can expose: codesight_* families with their type's suffixes."""
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("codesight_")
        for suffix in SAMPLE_SUFFIXES[family.type]
    }


def series_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, label names and durations left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?", expr):
        name, is_call = match.group(1), match.group(2)
        if not is_call and name.lower() not in PROMQL_KEYWORDS:
            names.add(name)
    return names


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / name).read_text())
    return loaded


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load("alerts.yml")["groups"] for rule in group["rules"]]


def test_series_names_are_parsed_out_of_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_seconds_bucket{transport="ws"}[5m]))) > 1 '
        'and on (job) max without (instance) (b_total{x=~"y|z"} offset 1h) / c'
    )
    assert series_names(expr) == {"a_seconds_bucket", "b_total", "c"}
    assert series_names("up == 0") == {"up"}


def test_every_rule_says_when_how_bad_and_what_to_do() -> None:
    rules = alert_rules()
    assert rules
    for rule in rules:
        name = rule.get("alert")
        assert name, rule
        assert isinstance(rule.get("expr"), str) and rule["expr"].strip(), name
        assert DURATION.match(str(rule.get("for", ""))), f"{name}: `for` must be a Prometheus duration"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = rule.get("annotations", {})
        assert annotations.get("summary"), name
        assert annotations.get("description"), name
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names are unique"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_metric_a_rule_reads_is_exported(rule: dict[str, Any]) -> None:
    referenced = series_names(rule["expr"])
    assert referenced, "a rule reads at least one series"
    unknown = referenced - exported_series() - PROMETHEUS_SERIES
    assert not unknown, f"not exported by lab/monitoring/metrics.py: {sorted(unknown)}"


def test_the_alerts_cover_storage_pipeline_queue_ingest_and_targets() -> None:
    read = set().union(*(series_names(rule["expr"]) for rule in alert_rules()))
    assert {
        "codesight_storage_monthly_cost_usd",
        "codesight_storage_monthly_cost_threshold_usd",
        "codesight_pipeline_sessions_total",
        "codesight_queue_depth",
        "codesight_stalled_jobs_retried_total",
        "codesight_ingest_batches_total",
        "codesight_queue_depth_errors_total",
        "up",
    } <= read


def test_prometheus_config_loads_the_rules_and_scrapes_web_and_workers_where_compose_runs_them() -> None:
    config = load("prometheus.yml")
    assert [(PROMETHEUS_DIR / path).is_file() for path in config["rule_files"]] == [True]
    compose = yaml.safe_load((PROMETHEUS_DIR.parents[1] / "compose.yaml").read_text())
    targets = {
        job["job_name"]: [(name, sd["port"]) for sd in job["dns_sd_configs"] for name in sd["names"]]
        for job in config["scrape_configs"]
    }
    assert targets == {"codesight-web": [("web", 8000)], "codesight-worker": [("worker", 9100)]}
    assert "8000" in compose["services"]["web"]["ports"]
    assert "9100" in compose["services"]["worker"]["command"]
    assert compose["services"]["prometheus"]["volumes"] == ["./deploy/prometheus:/etc/prometheus:ro"]
