"""The files an IT team deploys with: the dashboard and alert rules use only metrics Vigie
exposes (with their real labels), the README explains every metric, and compose.yaml
migrates once, explicitly, before the replicas."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

from bot import metrics
from bot.app import build
from bot.clock import FrozenClock
from bot.config import Config
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMQL_WORDS = {"sum", "max", "min", "rate", "increase", "deriv", "by", "and", "or",
                "histogram_quantile", "count", "le", "humanizeDuration", "without", "avg"}
# Series Prometheus itself adds to every scrape.
PROMETHEUS_OWN = {"up"}


def exposed(database_url: str, config: Config, environ: dict[str, str]
            ) -> dict[str, tuple[str, set[str]]]:
    """Every series name Vigie's /metrics can show → (family, its label names)."""
    vigie = build(make_settings(database_url), config, clock=FrozenClock(), environ=environ)
    try:
        text = metrics.exposition(vigie.state_metrics).decode()
    finally:
        vigie.engine.dispose()
    labels: dict[str, set[str]] = {}
    for wrapper in vars(metrics).values():
        if isinstance(wrapper, MetricWrapperBase):
            labels[wrapper._name] = set(wrapper._labelnames)
    found: dict[str, tuple[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        names = {"counter": [f"{family.name}_total"],
                 "histogram": [f"{family.name}_{s}" for s in ("bucket", "sum", "count")]
                 }.get(family.type, [family.name])
        known = labels.get(family.name) or {k for s in family.samples for k in s.labels}
        for name in names:
            found[name] = (family.name, known | ({"le"} if name.endswith("_bucket") else set()))
    # Gauges whose labelled samples exist only when there is something to show.
    found["vigie_source_failing_seconds"] = ("vigie_source_failing_seconds", {"source"})
    return found


def expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "vigie-dashboard.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return exprs


def test_dashboard_and_alerts_use_only_metrics_and_labels_vigie_exposes(
        engine: Engine, database_url: str, config: Config, environ: dict[str, str]) -> None:
    series = exposed(database_url, config, environ)
    exprs = expressions()
    assert len(exprs) > 20
    for expr in exprs:
        for name in set(re.findall(r"\b(vigie_[a-z_]+|up)\b", expr)) - PROMETHEUS_OWN:
            assert name in series, f"{expr!r} uses {name}, which Vigie does not expose"
            _, labels = series[name]
            for group in re.findall(name + r"\{([^}]*)\}", expr):
                for label in re.findall(r"([a-z_]+)\s*=~?", group):
                    assert label in labels, f"{name} has no label {label!r} ({expr!r})"
        for group in re.findall(r"by \(([^)]*)\)", expr):
            used = {name for name in re.findall(r"\b(vigie_[a-z_]+)\b", expr)}
            for label in (part.strip() for part in group.split(",")):
                assert any(label in series[name][1] for name in used), \
                    f"no metric of {expr!r} has the label {label!r}"


def test_every_alert_says_what_to_do() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    names = set()
    for rule in (r for group in rules["groups"] for r in group["rules"]):
        names.add(rule["alert"])
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"]
    # What the issue names as needing a human.
    assert {"VigieRelayBacklogGrowing", "VigieSourceFailing", "VigiePublicationFailures"} <= names


def test_the_readme_explains_every_metric(database_url: str, config: Config,
                                          environ: dict[str, str]) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    families = {family for family, _ in exposed(database_url, config, environ).values()}
    missing = [f for f in sorted(families) if f"`{f}" not in readme]
    assert not missing, f"README's metric table lacks {missing}"


def test_compose_migrates_once_before_the_replicas_and_keeps_secrets_out() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for replica in ("vigie1", "vigie2"):
        service = services[replica]
        assert "--migrate" not in json.dumps(service)
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["env_file"] == ".env"
    assert "pgdata" in compose["volumes"]
    text = (ROOT / "compose.yaml").read_text()
    assert "xoxb-" not in text and "SLACK_SIGNING_SECRET:" not in text
    haproxy = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    assert "option httpchk GET /readyz" in haproxy and "ssl crt" in haproxy
    assert "deny deny_status 404 if { path /metrics }" in haproxy
