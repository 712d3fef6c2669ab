"""Alert rules and dashboards: promtool checks every expression and unit-tests every alert."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
FILES = ROOT / "helm/testdash/files"
ALERTS = FILES / "alerts.yml"
ALERT_TESTS = pathlib.Path(__file__).with_name("alerts_test.yml")
DASHBOARDS = sorted((FILES / "dashboards").glob("*.json"))
DOC = ROOT / "docs/observability.md"
# Grafana's variables, replaced by what they stand for when all is selected.
GRAFANA_VARS = {"$__rate_interval": "5m", "$server": ".*", "${server}": ".*"}
METRIC = re.compile(r"\btestdash_[a-z0-9_]+")

promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    promtool is None, reason="promtool not installed (Debian package prometheus)"
)


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expression) for every target of every panel."""
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append((path.name, panel["title"], target["expr"]))
    return found


def grafana_free(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def metrics_used() -> set[str]:
    exprs = [rule["expr"] for rule in alert_rules()] + [e for _, _, e in dashboard_exprs()]
    return {name for expr in exprs for name in METRIC.findall(expr)}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)


@needs_promtool
def test_promtool_checks_the_alert_rules():
    done = run(promtool, "check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout


@needs_promtool
def test_promtool_unit_tests_pass():
    done = run(promtool, "test", "rules", str(ALERT_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_tested_firing_and_quiet():
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    firing, quiet = set(), set()
    for group in tests:
        for case in group.get("alert_rule_test", []):
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names == firing, "each alert has a case where it fires"
    assert names == quiet, "each alert has a case where it stays quiet"


def test_the_issue_asks_for_these_alerts():
    names = {rule["alert"] for rule in alert_rules()}
    assert {
        "TestdashIngestStale",
        "TestdashIngestFailing",
        "TestdashRejectedFilesSpike",
        "TestdashWebDown",
        "TestdashWeb5xxRatio",
        "TestdashWebLatency",
        "TestdashPassRateDrop",
    } <= names


def test_every_alert_has_severity_summary_and_a_runbook_section():
    doc = DOC.read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in doc.splitlines()
        if line.startswith("#")
    }
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"].startswith("testdash: ")
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == rule["alert"].lower() and anchor in anchors, rule["alert"]


@needs_promtool
def test_promtool_checks_every_dashboard_expression(tmp_path):
    exprs = dashboard_exprs()
    assert len(exprs) >= 25
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"dashboard:check_{n}", "expr": grafana_free(expr)}
                    for n, (_, _, expr) in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = run(promtool, "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in done.stdout


def test_dashboards_are_grafana_json_with_a_datasource_variable():
    assert [p.name for p in DASHBOARDS] == [
        "testdash-ingest.json",
        "testdash-overview.json",
        "testdash-web.json",
    ]
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        uids.add(board["uid"])
        assert board["templating"]["list"][0]["type"] == "datasource"
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids are unique"
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
                assert panel["targets"], panel["title"]
    assert len(uids) == len(DASHBOARDS)


def test_domain_expressions_never_sum_gauges_over_web_pods():
    """Every web pod exports the same database gauges: they are combined with max, never sum."""
    pod_gauges = (
        "testdash_runs",
        "testdash_results",
        "testdash_queue_items",
        "testdash_files_rejected",
        "testdash_flaky_results",
        "testdash_latest_run_pass_ratio",
    )
    for source, title, expr in dashboard_exprs():
        for name in pod_gauges:
            for match in re.finditer(rf"\b{name}\{{", expr):
                inner = expr[: match.start()]
                assert re.search(r"max by \([a-z_, ]+\) \((delta\()?$", inner), (source, title)


def test_every_metric_used_is_documented():
    doc = DOC.read_text()
    used = metrics_used()
    assert {"testdash_http_requests_total", "testdash_engine_last_run_outcome"} <= used
    for name in used:
        base = re.sub(r"_(total|bucket|sum|count)$", "", name)
        assert f"`{base}`" in doc or f"`{name}`" in doc, name


def test_chart_ships_the_alert_file_and_dashboards_under_their_switches():
    pytest.importorskip("helm_python")
    from tests.deploy.render import CHART, load_values, objects, render

    values = load_values(CHART / "ci" / "minimal-values.yaml")
    off = objects(render(values))
    assert not [d for d in off if d["kind"] == "PrometheusRule"]
    assert not [d for d in off if "grafana_dashboard" in d["metadata"].get("labels", {})]
    metrics = {"prometheusRule": {"enabled": True}, "grafanaDashboards": {"enabled": True}}
    on = objects(render(values | {"metrics": metrics}))
    [rule] = [d for d in on if d["kind"] == "PrometheusRule"]
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text()), "the very file promtool tests"
    maps = [
        d
        for d in on
        if d["kind"] == "ConfigMap" and d["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert all(len(m["metadata"]["name"]) <= 63 for m in maps)
    shipped = {key: json.loads(text) for m in maps for key, text in m["data"].items()}
    assert shipped == {p.name: json.loads(p.read_text()) for p in DASHBOARDS}
    off_again = objects(render(values | {"metrics": {"enabled": False, **metrics}}))
    assert not [d for d in off_again if d["kind"] == "PrometheusRule"]
