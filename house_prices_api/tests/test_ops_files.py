"""The Grafana dashboard and Prometheus rules in deploy/ name only real metrics.

A panel or rule that names a metric the service does not export shows
nothing and never fires; these tests scrape a real server after traffic of
every kind and compare, and let Prometheus' own ``promtool`` check the rules.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from servers import REPO_ROOT, START_SCRIPT, RunningServer, call, start_server

from regression_model.processing.schema import EXAMPLE_HOUSE

pytestmark = pytest.mark.process

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "house-prices-dashboard.json"
ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
METRIC_NAME = re.compile(r"\bhouse_prices_[a-z0-9_]+")


@pytest.fixture(scope="module")
def scraped_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Sample names of a real scrape after every kind of row, and one feedback."""
    folder = tmp_path_factory.mktemp("ops")
    server: RunningServer = start_server(
        [str(START_SCRIPT)],
        folder / "server.log",
        env={"PREDICTION_LOG_DIR": str(folder)},
    )
    rows = [
        EXAMPLE_HOUSE,
        {**EXAMPLE_HOUSE, "TotalBsmtSF": None, "ExterQual": "Po"},
        {**EXAMPLE_HOUSE, "OverallQual": 11},
    ]
    try:
        connection = server.connect()
        call(
            connection,
            "POST",
            "/api/v1/predict",
            {"inputs": rows},
            {"X-Request-ID": "ops-1"},
        )
        feedback = {"request_id": "ops-1", "row": 0, "sale_price": 189_000}
        status, _, _ = call(connection, "POST", "/api/v1/feedback", feedback)
        assert status == 200
        _, _, text = call(connection, "GET", "/metrics")
        connection.close()
    finally:
        server.stop()
    return {
        sample.name
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


@pytest.mark.parametrize(
    "expressions", [dashboard_expressions, rule_expressions], ids=["dashboard", "alerts"]
)
def test_every_metric_named_is_exported(
    expressions: object, scraped_names: set[str]
) -> None:
    # Given the metric names the file's queries use
    assert callable(expressions)
    named = {name for expr in expressions() for name in METRIC_NAME.findall(expr)}
    # When compared with a real scrape
    missing = named - scraped_names
    # Then each is exported, and the file does query the service
    assert named, "no house_prices_* metric is named"
    assert not missing, f"named but not exported: {sorted(missing)}"


def test_the_rules_pass_promtool(tmp_path: Path) -> None:
    # Given Prometheus' promtool (Debian's prometheus package; .ci/run installs it)
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: apt-get install prometheus"
    # When it checks the rules file
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)],
        capture_output=True,
        text=True,
        check=False,
    )
    # Then it finds them valid
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
