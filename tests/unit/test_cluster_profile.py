"""The compose file's ``cluster`` profile, its Prometheus scrape list and its Grafana dashboard
(README, "Running at scale"): the profile is what it says, every scrape target is a port a
service listens on, and every series the dashboard draws is one the code (or RabbitMQ's
plugin) exports, so the dashboard cannot drift from the code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client import REGISTRY

import services.gateway.metrics
import services.notifier.main
import services.runtime.worker_metrics
import services.timers.firing
import services.workflow.apply  # noqa: F401  (their import registers their series)
from shared.config import Settings, amqp_urls

ROOT = Path(__file__).resolve().parents[2]
TOOLING = ROOT / "tooling"
DEFAULT_SERVICES = {"mongo", "rabbitmq", "mailpit", "gateway", "workflow", "timers", "notifier"}
RABBITS = ("rabbit-1", "rabbit-2", "rabbit-3")
MONGOS = ("mongo-1", "mongo-2", "mongo-3")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _cluster(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if "cluster" in service.get("profiles", [])
    }


def _conf(path: Path) -> dict[str, str]:
    """``key = value`` lines of a rabbitmq.conf, comments left out."""
    return dict(
        (part.strip() for part in line.split("=", 1))
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


def _mounted(service: dict[str, Any], target: str) -> Path:
    """The repository file bind-mounted at ``target`` in ``service``."""
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            return ROOT / source
    raise AssertionError(f"nothing mounted at {target}")


def test_the_default_services_are_those_of_a_single_node(compose):
    unprofiled = {n for n, s in compose["services"].items() if not s.get("profiles")}
    assert unprofiled == DEFAULT_SERVICES
    assert (
        compose["services"]["workflow"]["environment"]["DC_MONGO_URL"] == "mongodb://mongo:27017/"
    )


def test_three_rabbitmq_nodes_cluster_with_one_cookie(compose):
    cluster = _cluster(compose)
    nodes = [cluster[name] for name in RABBITS]
    [cookie] = {n["environment"]["RABBITMQ_ERLANG_COOKIE"] for n in nodes}
    assert cookie
    for name, node in zip(RABBITS, nodes, strict=True):
        assert node["hostname"] == name
        assert node["image"].startswith(("rabbitmq:3.13-management", "rabbitmq:4"))
        assert "rabbitmq-cluster" in node["networks"]["default"]["aliases"]
        conf = _conf(_mounted(node, "/etc/rabbitmq/conf.d/20-cluster.conf"))
        plugins = _mounted(node, "/etc/rabbitmq/enabled_plugins").read_text()
        assert "rabbitmq_prometheus" in plugins
    assert conf["cluster_formation.peer_discovery_backend"] == "classic_config"
    listed = {v for k, v in conf.items() if k.startswith("cluster_formation.classic_config.nodes")}
    assert listed == {f"rabbit@{name}" for name in RABBITS}


def test_a_three_member_replica_set_made_by_a_one_shot_service(compose):
    cluster = _cluster(compose)
    for name in MONGOS:
        assert cluster[name]["image"] == "mongo:7"
        command = cluster[name]["command"]
        assert command[command.index("--replSet") + 1] == "rs0"
    init = cluster["mongo-init"]
    script = init["command"][-1]
    assert "rs.initiate" in script and '_id: "rs0"' in script
    assert all(f"{name}:27017" in script for name in MONGOS)
    assert set(init["depends_on"]) == set(MONGOS)
    assert all(d["condition"] == "service_healthy" for d in init["depends_on"].values())


def test_the_four_services_run_scaled_against_the_cluster(compose):
    cluster = _cluster(compose)
    for kind in ("gateway", "workflow", "timers", "notifier"):
        service = cluster[f"cluster-{kind}"]
        assert service["command"] == ["delivery-center", kind]
        assert service["deploy"]["replicas"] >= 2
        env = service["environment"]
        assert env["DC_QUEUE_TYPE"] == "quorum"
        assert env["DC_MONGO_URL"].endswith("/?replicaSet=rs0")
        assert all(f"{name}:27017" in env["DC_MONGO_URL"] for name in MONGOS)
        nodes = [urlsplit(url).hostname for url in amqp_urls(env["DC_AMQP_URL"])]
        assert nodes == list(RABBITS), "every service knows the three nodes"
        assert service["depends_on"]["mongo-init"]["condition"] == "service_completed_successfully"
        assert set(RABBITS) <= set(service["depends_on"])


def _listening_ports(name: str, service: dict[str, Any]) -> set[int]:
    """Ports a cluster-profile service serves: the gateway's HTTP port, a worker's metrics
    port (the setting's default unless the service's environment sets it), a RabbitMQ
    node's Prometheus port."""
    if name in RABBITS:
        conf = _conf(_mounted(service, "/etc/rabbitmq/conf.d/20-cluster.conf"))
        return {int(conf["prometheus.tcp.port"])}
    kind = service["command"][-1]
    field = "http_port" if kind == "gateway" else f"{kind}_metrics_port"
    env = service.get("environment", {})
    return {int(env.get(f"DC_{field.upper()}", Settings.model_fields[field].default))}


def _scrape_targets() -> list[tuple[str, str, int]]:
    """(job, host, port) of every target in tooling/prometheus/prometheus.yml."""
    config = yaml.safe_load((TOOLING / "prometheus" / "prometheus.yml").read_text())
    targets = []
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            targets += [(job["job_name"], host, int(sd["port"])) for host in sd["names"]]
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                targets.append((job["job_name"], host, int(port)))
    return targets


def test_every_scrape_target_is_a_port_a_service_serves(compose):
    cluster = _cluster(compose)
    targets = _scrape_targets()
    for job, host, port in targets:
        assert host in cluster, f"{job}: no service {host}"
        assert port in _listening_ports(host, cluster[host]), f"{job}: {host} has no :{port}"
    scraped = {host for _, host, _ in targets}
    assert {f"cluster-{k}" for k in ("gateway", "workflow", "timers", "notifier")} <= scraped
    assert set(RABBITS) <= scraped
    assert "prometheus" in cluster and "grafana" in cluster


def _exported_series() -> set[str]:
    """Sample names of every ``dc_`` series registered by the services' modules."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("dc_")
        for suffix in suffixes.get(family.type, ("",))
    }


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads((TOOLING / "grafana" / "dashboards" / "delivery-center.json").read_text())


def _queried(dashboard: dict[str, Any]) -> set[str]:
    names = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names |= set(re.findall(r"\b(?:dc|rabbitmq)_[a-z_]+\b", target["expr"]))
    return names


def test_the_dashboard_is_one_grafana_provisions(dashboard):
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["uid"] and dashboard["title"]
    assert dashboard["panels"]
    datasources = yaml.safe_load(
        (TOOLING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    uids = {d["uid"] for d in datasources}
    for panel in dashboard["panels"]:
        assert {"id", "type", "title", "gridPos", "targets"} <= set(panel)
        assert panel["datasource"]["uid"] in uids
        assert all(t["expr"] and t["refId"] for t in panel["targets"])
    providers = yaml.safe_load(
        (TOOLING / "grafana" / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    )["providers"]
    assert providers[0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_every_series_the_dashboard_draws_is_exported(dashboard):
    queried = _queried(dashboard)
    ours = {name for name in queried if name.startswith("dc_")}
    assert ours and ours <= _exported_series(), ours - _exported_series()
    # RabbitMQ's own: the per-queue family the rabbitmq job asks for.
    theirs = queried - ours
    assert theirs <= {"rabbitmq_detailed_queue_messages"}
    config = yaml.safe_load((TOOLING / "prometheus" / "prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "rabbitmq"]
    assert job["metrics_path"] == "/metrics/detailed"
    assert job["params"]["family"] == ["queue_coarse_metrics"]


@pytest.mark.parametrize(
    ("name", "panel"),
    [
        ("dc_commands_decided_total", "Commands applied and refused"),
        ("dc_command_decided_seconds_bucket", "202 to decided"),
        ("rabbitmq_detailed_queue_messages", "Queue depths"),
        ("dc_deadline_firing_lag_seconds_bucket", "Timer firing lag"),
        ("dc_emails_failed_total", "Emails sent and failed"),
    ],
)
def test_the_dashboard_covers_what_operators_watch(dashboard, name, panel):
    [found] = [p for p in dashboard["panels"] if p["title"].startswith(panel)]
    assert any(name in t["expr"] for t in found["targets"])


def test_the_drift_check_sees_an_unknown_series():
    made_up = {"panels": [{"targets": [{"expr": "rate(dc_commands_made_up_total[1m])"}]}]}
    assert not _queried(made_up) <= _exported_series()
