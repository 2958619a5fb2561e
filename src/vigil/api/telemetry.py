"""Prometheus metrics of the API: request latency, events, decisions, index staleness.

One ``CollectorRegistry`` per app (not the process-global one), so tests can build many
apps. Request latency is measured by a plain ASGI middleware (no per-request objects) and
labelled by the route's path template, never the raw path, to keep label sets bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
)  # fmt: skip
STALENESS_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)  # the standard process_* metrics
        PlatformCollector(registry=r)
        self.requests = Histogram(
            "vigil_api_request_duration_seconds",
            "Time from request received to response sent, by route",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.events = Counter(
            "vigil_api_events", "Records posted to /v1/events, by result", ["result"], registry=r
        )
        self.decisions = Counter(
            "vigil_api_decisions",
            "Synchronous refund decisions, by level (replays of an earlier answer not counted)",
            ["decision"],
            registry=r,
        )
        self.decisions_set_aside = Counter(
            "vigil_api_decisions_set_aside",
            "Synchronous decisions that set aside an alert about the agent (its refunds were "
            "all made in sessions judged not the agent's)",
            registry=r,
        )
        self.decision_replays = Counter(
            "vigil_api_decision_replays", "Repeated decide requests answered from the journal",
            registry=r,
        )  # fmt: skip
        self.refused = Counter(
            "vigil_api_requests_refused",
            "Requests answered before the app read them (body too large or too slow, server "
            "busy) or dropped because the client went away mid-body, by reason",
            ["reason"],
            registry=r,
        )
        self.staleness = Histogram(
            "vigil_index_staleness_seconds",
            "Upper bound of the time from appending events to the index reflecting them",
            buckets=STALENESS_BUCKETS_S,
            registry=r,
        )
        self._children: dict[tuple[str, str, int], Any] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(route, method, str(status))
        child.observe(seconds)

    def add_gauges(
        self, read: Callable[[], Iterable[tuple[str, str, float, dict[str, str]]]]
    ) -> None:
        """Gauges computed at scrape time: ``read`` yields (name, help, value, labels)."""
        self.registry.register(_Gauges(read))


class _Gauges(Collector):
    def __init__(self, read: Callable[[], Iterable[tuple[str, str, float, dict[str, str]]]]):
        self.read = read

    def collect(self) -> Iterable[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for name, help_text, value, labels in self.read():
            fam = families.get(name)
            if fam is None:
                fam = families[name] = GaugeMetricFamily(name, help_text, labels=list(labels))
            fam.add_metric(list(labels.values()), value)
        return list(families.values())

    def describe(self) -> Iterable[Metric]:
        return []


class MetricsMiddleware:
    """Times every HTTP request and records it under its route template."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(
                path, scope["method"], status, time.perf_counter() - started
            )
