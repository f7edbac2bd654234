"""The alert rules (deploy/prometheus/) and the Grafana dashboard (deploy/grafana/) as checked files: valid for
promtool, their alerts unit-tested, and every metric they use one the server exports."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.deploy.conftest import ROOT, run_promtool
from tests.deploy.promql import OTHER_SOURCES, metric_names

RULES = ROOT / "deploy" / "prometheus" / "biller-server.rules.yml"
RULES_TESTS = ROOT / "deploy" / "prometheus" / "biller-server.rules.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "biller-server.json"
# Grafana's variables, replaced by what they stand for when the expressions are checked.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$instance": ".*"}


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, expression with the variables filled in) for every query of every panel."""
    found = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            found.append((panel["title"], expr))
    return found


class TestMetricNames:
    def test_reading_names_out_of_promql(self):
        expr = (
            'histogram_quantile(0.99, sum by (le, endpoint) (rate(a_bucket{endpoint!="/x", y=~"b|c"}[5m])))'
            " / on (instance) group_left (version) b_total offset 1h > 0 and on () (hour() >= 4 < +Inf)"
        )

        assert metric_names(expr) == {"a_bucket", "b_total"}

    def test_every_rule_uses_only_exported_metrics(self, exported):
        unknown = {rule["alert"]: metric_names(rule["expr"]) - exported - OTHER_SOURCES for rule in rules()}

        assert {alert: names for alert, names in unknown.items() if names} == {}

    def test_every_dashboard_query_uses_only_exported_metrics(self, exported):
        unknown = {title: metric_names(expr) - exported - OTHER_SOURCES for title, expr in dashboard_exprs()}

        assert {title: names for title, names in unknown.items() if names} == {}

    def test_the_dashboard_shows_every_metric_the_server_exports(self, exported):
        shown = set().union(*(metric_names(expr) for _, expr in dashboard_exprs()))
        # A histogram is shown by its buckets; its _sum and _count need no panel of their own.
        needed = {name for name in exported if not name.endswith(("_sum", "_count"))}

        assert needed - shown == set(), "add a panel to deploy/grafana/biller-server.json for these"

    def test_the_dashboard_shows_the_worker_heartbeats_and_failed_attempts(self):
        shown = set().union(*(metric_names(expr) for _, expr in dashboard_exprs()))

        assert {"biller_worker_heartbeat_timestamp_seconds", "biller_job_attempt_failures_total"} <= shown


class TestPromtool:
    def test_the_rules_file_passes_check_rules(self, promtool):
        assert "SUCCESS: " in run_promtool(promtool, "check", "rules", str(RULES))

    def test_the_alerts_pass_their_unit_tests(self, promtool):
        assert "SUCCESS" in run_promtool(promtool, "test", "rules", RULES_TESTS.name, cwd=RULES_TESTS.parent)

    def test_every_dashboard_query_is_valid_promql(self, promtool, tmp_path):
        # promtool parses a rules file's expressions: each query becomes a recording rule of a scratch file.
        recording = [
            {"record": f"dashboard:query_{number}", "expr": expr} for number, (_, expr) in enumerate(dashboard_exprs())
        ]
        scratch = tmp_path / "dashboard-queries.rules.yml"
        scratch.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recording}]}))

        assert f"SUCCESS: {len(recording)} rules found" in run_promtool(promtool, "check", "rules", str(scratch))


class TestRulesFile:
    def test_every_alert_has_a_severity_and_says_what_to_do(self):
        for rule in rules():
            assert rule["labels"]["severity"] in {"critical", "warning", "ticket"}, rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]

    def test_every_alert_is_in_the_operations_guide(self):
        guide = (ROOT / "docs" / "operations.md").read_text()

        assert [rule["alert"] for rule in rules() if f"`{rule['alert']}`" not in guide] == []

    def test_every_alert_has_a_unit_test_or_is_a_plain_threshold(self):
        tested = {
            case["alertname"]
            for test in yaml.safe_load(RULES_TESTS.read_text())["tests"]
            for case in test.get("alert_rule_test", [])
        }
        # Plain comparisons of one gauge or counter with a number, whose meaning the guide's table states.
        plain = {
            "BillerApiDown",
            "BillerSlowAnswers",
            "BillerAuthFailures",
            "BillerQueueDepth",
            "BillerPartnerFailing",
            "BillerPaymentsUnresolved",
            "BillerFlaggedOrHeld",
            "BillerJobsStoppedOrUndelivered",
        }

        assert {rule["alert"] for rule in rules()} - tested == plain


class TestDashboard:
    def test_panels_have_unique_ids_a_place_and_the_datasource_variable(self):
        panels = dashboard()["panels"]

        assert len({panel["id"] for panel in panels}) == len(panels)
        for panel in panels:
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
                assert panel["targets"], panel["title"]

    def test_panels_do_not_overlap(self):
        cells: dict[tuple[int, int], str] = {}
        for panel in dashboard()["panels"]:
            grid = panel["gridPos"]
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{panel['title']} overlaps {cells.get((x, y))}"
                    cells[(x, y)] = panel["title"]

    @pytest.mark.parametrize(
        "topic",
        [
            "Requests per second",
            "Errors per second",
            "Answer time",
            "Queue lag",
            "Worker heartbeats",
            "Unresolved",
            "Flagged",
            "Partner answers",
            "Seconds since each partner's last call",
            "Last bill upload",
            "Open bills",
            "Amount outstanding",
            "Connections in use",
        ],
    )
    def test_the_dashboard_covers(self, topic):
        assert any(topic in panel["title"] for panel in dashboard()["panels"])
