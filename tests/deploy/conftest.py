"""Fixtures for the deploy tests: promtool, the files under deploy/, and a real /metrics page."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

from policy.loader import load_default_policy
from proxy.metrics.proxy_metrics import Metrics, serve_metrics
from proxy.metrics.store_gauges import Readings
from proxy.runtime.entitlement_cache import CacheStats
from proxy.store.access_requests import State

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "leeway-dashboard.json"
# A leeway_ metric name, not the middle of a recorded name such as job:leeway_blocks:rate15m.
METRIC = re.compile(r"(?<![\w:])(leeway_[a-z_]+)\b(?!:)(\{[^}]*\})?")
# Label matchers of a selector: name, operator, value.
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
TARGET_LABELS = frozenset({"job", "instance"})  # added by Prometheus, not in the exposition

type Exposition = dict[str, list[dict[str, str]]]


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path)


def load_dashboard() -> Any:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool (Debian's prometheus package): required on CI, else the test is skipped."""
    path = shutil.which("promtool")
    if path is None:
        message = "promtool not found: install it with `apt-get install prometheus`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must install it (.ci/run)")
        pytest.skip(message)
    return path


def run_promtool(promtool: str, *args: str | Path) -> str:
    result = subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(map(str, args))} failed:\n{output}"
    return output


@pytest.fixture(scope="session")
def exposition() -> Exposition:
    """Sample name -> label sets, from /metrics of a Metrics with every collector watched."""
    policy = load_default_policy()
    registry = CollectorRegistry()
    metrics = Metrics(registry, categories=policy.categories)
    metrics.policy_loaded(policy.revision)
    metrics.watch_cache(CacheStats)
    metrics.watch_audit_queue(lambda: 0)
    metrics.watch_store(_Coverage(list(policy.modules)))
    server = serve_metrics(registry, "127.0.0.1", 0)
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    finally:
        server.close()
    samples: Exposition = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append(sample.labels)
    return dict(samples)


def check_names(expressions: list[str], exposition: Exposition) -> set[str]:
    """Assert each leeway_ selector and grouping label exists in `exposition`; the names seen."""
    seen: set[str] = set()
    for expr in expressions:
        labels = set(TARGET_LABELS)
        for name, selector in METRIC.findall(expr):
            assert name in exposition, f"{expr!r}: {name} is not in /metrics"
            seen.add(name)
            labels.update(key for sample in exposition[name] for key in sample)
            for label, op, value in MATCHER.findall(selector):
                if label in TARGET_LABELS:
                    continue
                known = {sample.get(label) for sample in exposition[name]} - {None}
                assert known, f"{expr!r}: {name} has no label {label}"
                if op == "=" and "$" not in value:
                    assert value in known, f"{expr!r}: {name}{{{label}={value!r}}} never exists"
        for grouping in GROUPING.findall(expr):
            for label in filter(None, (g.strip() for g in grouping.split(","))):
                assert label in labels, f"{expr!r}: no metric here has the label {label}"
    return seen


class _Coverage:
    def __init__(self, modules: list[str]) -> None:
        self._modules = modules

    def read(self) -> Readings:
        return Readings(dict.fromkeys(self._modules, (0, 0)), dict.fromkeys(State, 0))
