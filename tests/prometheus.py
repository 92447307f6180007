"""Reading a Prometheus text exposition back, for tests and benchmarks: ``{(name, sorted labels): value}``."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(port: int, timeout_s: float = 10.0) -> Samples:
    """The samples ``/metrics`` on 127.0.0.1:``port`` serves now."""
    return parse_samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s).text)
