"""Monitoring stays consistent: every metric the rules and dashboards use is catalogued,
the scrape configs match the ports `melancia up` hands out, and the lag monitor works."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest

from events.embedded import free_port
from events.settings import BusSettings
from melancia import up
from melancia.discovery import WORKER_ORDER, worker_names
from workers.inference.lag import LagGauges, partition_lag, watch_lag

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
PROMETHEUS = MONITORING / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
CATALOGUE = ROOT / "docs" / "metrics.md"

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
PROMQL_KEYWORDS |= {"and", "or", "unless", "offset", "inf", "nan"}


def catalogue() -> dict[str, str]:
    """Metric name → type, from the first two cells of every table row in docs/metrics.md."""
    found = {}
    for line in CATALOGUE.read_text().splitlines():
        match = re.match(r"\|\s*`([a-zA-Z_:][\w:]*)`\s*\|\s*(\w+)\s*\|", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def allowed_names() -> set[str]:
    names = set()
    for name, kind in catalogue().items():
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (Grafana variables allowed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range and subquery durations
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\w+", "", expr)  # Grafana variables
    tokens = re.findall(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()", expr)
    return {t for t in tokens if t.lower() not in PROMQL_KEYWORDS}


def rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for var in board.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            exprs.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query))
    return exprs


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_expression_parser_finds_metrics_and_ignores_the_rest() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(x_bucket{route=~"a|b"}[5m])))'
        " / ignoring(variant) group_left sum(rate(y_total[$__rate_interval])) * $cost"
        " > bool route:z:p95_5m offset 1h"
    )
    assert metric_names(expr) == {"x_bucket", "y_total", "route:z:p95_5m"}


def test_the_catalogue_lists_names_once_with_a_known_type_and_status() -> None:
    rows = [
        line for line in CATALOGUE.read_text().splitlines() if re.match(r"\|\s*`[a-zA-Z_:]", line)
    ]
    names = [re.match(r"\|\s*`([^`]+)`", r).group(1) for r in rows]  # type: ignore[union-attr]
    assert len(names) == len(set(names)), "a metric is listed twice"
    kinds = set(catalogue().values())
    assert kinds <= {"counter", "gauge", "histogram", "recording"}, kinds
    for row in rows:
        status = row.split("|")[4].strip()
        assert status.split()[0] in {"exists", "hook", "planned"}, row
    counters = [n for n, k in catalogue().items() if k == "counter"]
    assert all(n.endswith("_total") for n in counters), "counters are listed as scraped"


def test_the_gateway_metrics_in_code_are_catalogued() -> None:
    from gateway.metrics import GatewayMetrics

    exposed = {m.name for m in GatewayMetrics().registry.collect()}
    known = catalogue()
    for name in exposed:
        assert name in known or f"{name}_total" in known, name


def _worker_instruments() -> dict[str, CollectorRegistry]:
    """Each worker's own instruments, on a registry of their own."""
    from workers.alerts.metrics import AlertMetrics
    from workers.analytics.metrics import AnalyticsMetrics
    from workers.drift.metrics import DriftMetrics
    from workers.evaluation.telemetry import EvaluationTelemetry
    from workers.inference.telemetry import InferenceTelemetry
    from workers.training.telemetry import TrainingTelemetry

    kinds = (
        AlertMetrics,
        AnalyticsMetrics,
        DriftMetrics,
        EvaluationTelemetry,
        InferenceTelemetry,
        TrainingTelemetry,
    )
    return {kind.__name__: kind().registry for kind in kinds}


@pytest.mark.parametrize("owner", sorted(_worker_instruments()))
def test_the_worker_metrics_in_code_are_catalogued_and_none_is_still_planned(owner: str) -> None:
    registry = _worker_instruments()[owner]
    exposed = {m.name for m in registry.collect()}
    known = catalogue()
    assert exposed
    for name in exposed:
        scraped = name if name in known else f"{name}_total"
        assert scraped in known, name
        assert _status(scraped) != "planned", f"{scraped} is implemented: mark it in the catalogue"


def _status(name: str) -> str:
    for line in CATALOGUE.read_text().splitlines():
        if line.startswith(f"| `{name}` |"):
            return line.split("|")[4].strip().split()[0]
    return ""


def test_every_rule_uses_only_catalogued_metrics() -> None:
    allowed = allowed_names()
    assert rules()
    for rule in rules():
        unknown = metric_names(rule["expr"]) - allowed
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: {unknown}"


def test_recording_rules_are_catalogued_as_recordings() -> None:
    known = catalogue()
    for rule in rules():
        if "record" in rule:
            assert known.get(rule["record"]) == "recording", rule["record"]


def test_every_alert_has_a_severity_and_a_runbook_that_exists() -> None:
    alerts = [r for r in rules() if "alert" in r]
    assert len({a["alert"] for a in alerts}) == len(alerts), "alert names repeat"
    for alert in alerts:
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
        doc, _, anchor = alert["annotations"]["runbook"].partition("#")
        path = ROOT / doc
        assert path.exists(), f"{alert['alert']}: {doc} is missing"
        if anchor:
            headings = re.findall(r"^#+\s+(.+)$", path.read_text(), flags=re.MULTILINE)
            assert anchor in {github_anchor(h) for h in headings}, f"{alert['alert']}: #{anchor}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_uses_only_catalogued_metrics(path: Path) -> None:
    board = json.loads(path.read_text())
    allowed = allowed_names()
    exprs = dashboard_exprs(board)
    assert exprs
    for expr in exprs:
        assert not metric_names(expr) - allowed, f"{path.name}: {expr}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_is_well_formed_for_provisioning(path: Path) -> None:
    board = json.loads(path.read_text())
    assert board["uid"] == path.stem and board["title"].startswith("MelancIA")
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    datasource = yaml.safe_load(
        (MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])


def test_the_dashboards_cover_what_issue_8_asks_for() -> None:
    text = " ".join(p.read_text() for p in DASHBOARDS).lower()
    for wanted in ("p50", "p95", "p99", "per hour", "errors", "cost", "variant", "drift"):
        assert wanted in text, wanted
    assert "melancia_training_progress_ratio" in text


def test_the_dashboard_provider_serves_the_dashboards_folder() -> None:
    provider = yaml.safe_load(
        (MONITORING / "grafana/provisioning/dashboards/melancia.yml").read_text()
    )["providers"][0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert any(
        m.startswith("./monitoring/grafana/dashboards:") and provider["options"]["path"] in m
        for m in mounts
    )


def _scrape_ports(config: Path) -> dict[str, int]:
    ports = {}
    for job in yaml.safe_load(config.read_text())["scrape_configs"]:
        if not job["job_name"].startswith("melancia-"):
            continue
        service = job["job_name"].removeprefix("melancia-")
        if "static_configs" in job:
            target = job["static_configs"][0]["targets"][0]
            ports[service] = int(target.rsplit(":", 1)[1])
        else:
            ports[service] = job["dns_sd_configs"][0]["port"]
    return ports


def test_scrape_configs_cover_the_gateway_and_every_worker() -> None:
    # Compose runs the workers of WORKER_ORDER; `melancia up` runs every worker there is.
    expected = {"prometheus.yml": WORKER_ORDER, "prometheus.local.yml": worker_names()}
    for config, workers in expected.items():
        ports = _scrape_ports(PROMETHEUS / config)
        assert set(ports) == {"gateway", *workers}, config
        assert ports["gateway"] == 8000
        assert ports["analytics"] == 8010  # the sink's own HTTP endpoint


def test_the_local_scrape_config_matches_the_ports_melancia_up_hands_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spawned: dict[str, dict[str, str]] = {}
    monkeypatch.setenv("MELANCIA_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # configured: no embedded broker
    monkeypatch.delenv("MELANCIA_METRICS_PORT", raising=False)
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    monkeypatch.setattr(up, "_metrics_port", lambda port: port)
    monkeypatch.setattr(
        up.Supervisor, "spawn", lambda self, name, argv, env: spawned.__setitem__(name, env)
    )
    monkeypatch.setattr(up.Supervisor, "wait", lambda self: 0)
    assert up.run_up(workers=worker_names(), replicas=1, port=None) == 0
    given = {
        name.rsplit("-", 1)[0]: int(env["MELANCIA_METRICS_PORT"])
        for name, env in spawned.items()
        if name != "gateway"
    }
    local = _scrape_ports(PROMETHEUS / "prometheus.local.yml")
    for worker, port in given.items():
        if worker != "analytics":
            assert local[worker] == port, worker
    assert given == {w: 9100 + 10 * i for i, w in enumerate(worker_names())}
    assert "MELANCIA_METRICS_PORT" not in spawned["gateway"]


def test_up_gives_inference_replicas_consecutive_ports_and_honours_a_base(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ports: list[int] = []
    monkeypatch.setenv("MELANCIA_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("MELANCIA_METRICS_PORT", "9300")
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    monkeypatch.setattr(up, "_metrics_port", lambda port: port)
    monkeypatch.setattr(
        up.Supervisor,
        "spawn",
        lambda self, name, argv, env: (
            ports.append(int(env["MELANCIA_METRICS_PORT"])) if name != "gateway" else None
        ),
    )
    monkeypatch.setattr(up.Supervisor, "wait", lambda self: 0)
    up.run_up(workers=["inference", "drift"], replicas=3, port=None)
    drift = 9300 + 10 * WORKER_ORDER.index("drift")
    assert ports == [9300, 9301, 9302, drift]


def test_a_taken_metrics_port_falls_back_to_a_free_one() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        port = up._metrics_port(taken)
    assert port != taken and port > 0


def test_partition_lag_counts_from_the_commit_or_the_beginning() -> None:
    p0, p1, p2 = (TopicPartition("query.requested", i) for i in range(3))
    lag = partition_lag(
        committed={p0: 7, p1: -1},
        ends={p0: 10, p1: 5, p2: 9},
        beginnings={p0: 0, p1: 2, p2: 9},
    )
    assert lag == {p0: 3, p1: 3, p2: 0}


def test_lag_gauges_expose_the_catalogued_series() -> None:
    registry = CollectorRegistry()
    gauges = LagGauges(registry)
    gauges.record("melancia-inference", {TopicPartition("query.requested", 4): 12})
    text = generate_latest(registry).decode()
    assert (
        'melancia_consumer_lag{group="melancia-inference",partition="4",topic="query.requested"}'
        " 12.0" in text
    )
    exposed = {m.name for m in registry.collect()}
    known = catalogue()
    assert all(n in known or f"{n}_total" in known for n in exposed)


async def test_the_lag_monitor_counts_errors_and_keeps_going_without_a_broker() -> None:
    gauges = LagGauges(CollectorRegistry())
    settings = BusSettings(bootstrap=f"127.0.0.1:{free_port()}")
    task = asyncio.create_task(watch_lag(settings, gauges, interval_s=0.01))
    errors = gauges.errors.labels("melancia-inference")
    async with asyncio.timeout(30):
        while errors._value.get() < 2:
            await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.integration
async def test_the_lag_monitor_measures_a_real_group(kafka_bootstrap: str) -> None:
    """Moves to tests/integration with the inference app wiring; kept here with its module."""
    import uuid

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from events.admin import ensure_topics
    from events.topics import TopicSpec
    from workers.inference.lag import LagProbe

    topic, group = f"lag-{uuid.uuid4().hex}", f"g-{uuid.uuid4().hex}"
    settings = BusSettings(bootstrap=kafka_bootstrap)
    await ensure_topics(settings, [TopicSpec(topic, 2)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for i in range(6):
            await producer.send_and_wait(topic, b"x", partition=i % 2)
    finally:
        await producer.stop()
    probe = LagProbe(settings)
    await probe.start()
    try:
        assert sum((await probe.measure(group, [topic])).values()) == 6
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.commit({TopicPartition(topic, 0): 3})
        finally:
            await consumer.stop()
        lag = await probe.measure(group, [topic])
        assert lag == {TopicPartition(topic, 0): 0, TopicPartition(topic, 1): 3}
    finally:
        await probe.close()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_configs_rules_rule_tests_and_dashboard_queries(
    tmp_path: Path,
) -> None:
    def promtool(*args: str) -> None:
        done = subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    promtool("check", "config", *(str(PROMETHEUS / c) for c in ("prometheus.yml",)))
    promtool("check", "config", str(PROMETHEUS / "prometheus.local.yml"))
    promtool("check", "rules", *map(str, RULE_FILES))
    promtool("test", "rules", *map(str, sorted((PROMETHEUS / "tests").glob("*.yml"))))
    # Dashboard queries are PromQL too: promtool parses them as recording rules.
    substitutes = {"$__rate_interval": "5m", "$cost_per_1k_tokens": "0.0004"}
    recordings = []
    for i, expr in enumerate(
        e for p in DASHBOARDS for e in dashboard_exprs(json.loads(p.read_text()))
    ):
        for var, value in substitutes.items():
            expr = expr.replace(var, value)
        expr = re.sub(r"\$\w+", ".*", expr)
        recordings.append({"record": f"dashboard:query:{i}", "expr": expr})
    rules_file = tmp_path / "dashboards.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": recordings}]}))
    promtool("check", "rules", str(rules_file))


async def test_the_bus_metrics_a_worker_exposes_are_catalogued() -> None:
    from faststream.kafka import TestKafkaBroker

    from events.broker import build_broker

    registry = CollectorRegistry()
    broker, _ = build_broker(BusSettings(), service="probe", registry=registry)

    @broker.subscriber("monitoring-probe-in", group_id="monitoring-probe")
    async def handle(body: dict[str, int]) -> None:
        await broker.publish(body, "monitoring-probe-out")

    async with TestKafkaBroker(broker):
        await broker.publish({"a": 1}, "monitoring-probe-in")
        await broker.publish(b"\xff not json", "monitoring-probe-in")  # dead-lettered
    exposed = {
        line.split("{")[0].split(" ")[0]
        for line in generate_latest(registry).decode().splitlines()
        if line and not line.startswith("#") and not line.split("{")[0].endswith("_created")
    }
    assert "faststream_received_processed_messages_total" in exposed
    assert "melancia_dead_letters_total" in exposed
    assert not exposed - allowed_names()
