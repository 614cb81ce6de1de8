"""deploy/compose.yaml: accepted by docker-compose, two Leeway instances after the migration,
Prometheus and Grafana wired to them, and every file it mounts or builds from exists."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from tests.deploy.conftest import PROMETHEUS, load_yaml
from tests.deploy.kit_support import (
    ALL_INTERFACES,
    COMPOSE,
    DEPLOY,
    assert_leeway_accepts,
    option_value,
    require_tool,
    run_tool,
)

SERVICES = {"postgres", "migrate", "leeway-1", "leeway-2", "training-sync", "prometheus", "grafana"}
INSTANCES = ("leeway-1", "leeway-2")


def services() -> dict[str, Any]:
    found: dict[str, Any] = load_yaml(COMPOSE)["services"]
    return found


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (a named volume, or a path relative to deploy/)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


def is_bind(source: str) -> bool:
    return source.startswith((".", "/"))


def test_docker_compose_accepts_the_file() -> None:
    tool = require_tool("docker-compose", "docker-compose")
    run_tool(tool, "--file", COMPOSE, "config", "--quiet", cwd=DEPLOY)


def test_the_fleet_has_its_services() -> None:
    assert set(services()) == SERVICES


def test_the_migration_runs_once_before_the_instances() -> None:
    found = services()
    migrate = found["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert "healthcheck" in found["postgres"]
    for name in INSTANCES:
        condition = found[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_the_image_and_the_instances_run_leeway_with_options_it_has() -> None:
    found = services()
    for name in ("migrate", *INSTANCES):
        assert_leeway_accepts(found[name]["command"], f"compose.yaml service {name}")
    for name in INSTANCES:
        assert found[name]["command"][0] == "run"
        assert option_value(found[name]["command"], "--listen-host") == ALL_INTERFACES


def test_prometheus_scrapes_every_instance_on_its_metrics_port() -> None:
    found = services()
    expected = set()
    for name in INSTANCES:
        command = found[name]["command"]
        assert option_value(command, "--metrics-host") == ALL_INTERFACES
        port = option_value(command, "--metrics-port")
        published = {str(p).rsplit(":", 1)[-1] for p in found[name].get("ports", [])}
        assert port not in published, f"{name}: metrics published outside the compose network"
        expected.add(f"{name}:{port}")
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "leeway"]
    targets = {t for static in job["static_configs"] for t in static["targets"]}
    assert targets == expected


def test_the_instances_share_one_ca() -> None:
    found = services()
    volumes = set()
    for name in INSTANCES:
        confdir = option_value(found[name]["command"], "--confdir")
        source = mounts(found[name]).get(confdir)
        assert source is not None and not is_bind(source), f"{name}: {confdir} is not a volume"
        volumes.add(source)
    assert len(volumes) == 1, f"each instance would make its own CA: {volumes}"
    assert found["leeway-2"]["depends_on"]["leeway-1"] == {"condition": "service_healthy"}


def test_every_file_and_volume_it_names_exists() -> None:
    compose = load_yaml(COMPOSE)
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for target, source in mounts(service).items():
            if is_bind(source):
                assert (DEPLOY / source).exists(), f"{name}: {source} (for {target}) is missing"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
        if "build" in service:
            context = DEPLOY / service["build"]["context"]
            assert (context / service["build"]["dockerfile"]).is_file(), name


def test_prometheus_gets_its_configuration_and_every_rule_file() -> None:
    mounted = mounts(services()["prometheus"])
    config_path = "/etc/prometheus/prometheus.yml"
    assert DEPLOY / mounted[config_path] == PROMETHEUS / "prometheus.yml"
    rule_files = load_yaml(PROMETHEUS / "prometheus.yml")["rule_files"]
    for rule_file in rule_files:
        inside = str(PurePosixPath(config_path).parent / rule_file)
        assert inside in mounted, f"{rule_file} is not mounted where prometheus.yml loads it"
        assert DEPLOY / mounted[inside] == PROMETHEUS / rule_file


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    found = services()
    mounted = mounts(found["grafana"])
    provisioning = DEPLOY / mounted["/etc/grafana/provisioning"]
    (source,) = load_yaml(provisioning / "datasources" / "prometheus.yaml")["datasources"]
    url = urlsplit(source["url"])
    assert (source["type"], url.hostname, url.port) == ("prometheus", "prometheus", 9090)
    assert any(str(p).endswith(":9090") for p in found["prometheus"]["ports"])
    (provider,) = load_yaml(provisioning / "dashboards" / "leeway.yaml")["providers"]
    folder = PurePosixPath(provider["options"]["path"])
    dashboards = {
        DEPLOY / source
        for target, source in mounted.items()
        if PurePosixPath(target).parent == folder
    }
    assert dashboards == {DEPLOY / "grafana" / "leeway-dashboard.json"}
