"""Reading the follower's /metrics as Prometheus does: every sample by name and labels."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

type Labels = tuple[tuple[str, str], ...]
type Scrape = dict[tuple[str, Labels], float]


def metrics_text(port: int) -> str:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False, timeout=10)
    response.raise_for_status()
    return response.text


def samples(text: str) -> Scrape:
    """(sample name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(port: int) -> Scrape:
    return samples(metrics_text(port))


def scrape_if_up(port: int) -> Scrape:
    """The samples, or nothing while the follower is not serving yet."""
    try:
        return scrape(port)
    except httpx.TransportError:
        return {}
