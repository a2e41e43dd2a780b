"""Prometheus metrics of one app: request counts, latency, rows scored and anomalies flagged.

Each app has its own :class:`prometheus_client.CollectorRegistry` (two apps in one process do
not share counters). Routes are recorded by their template (``/v1/models/{name}/score``), so
the label set stays small whatever clients request.
"""

from __future__ import annotations

import contextlib
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Monitor:
    """The metrics an app exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter("nadkit_http_requests", "HTTP requests by method, route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("nadkit_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rows = Counter("nadkit_rows_scored", "rows (or time steps) scored per model", ["model"],
                            registry=self.registry)
        self.anomalies = Counter("nadkit_anomalies_flagged", "rows (or time steps) flagged as anomalous per model",
                                 ["model"], registry=self.registry)
        self.models = Gauge("nadkit_models_loaded", "models held by this server", registry=self.registry)
        # streams: one entity (host, site, interface) per stream id
        self.entity_steps = Counter("nadkit_entity_steps_scored", "stream steps scored per model and entity (stream id)",
                                    ["model", "entity"], registry=self.registry)
        self.entity_anomalies = Counter("nadkit_entity_anomalies_flagged",
                                        "stream steps flagged (one ECS alert each) per model and entity",
                                        ["model", "entity"], registry=self.registry)
        self.entity_score = Gauge("nadkit_entity_last_score", "the latest step score per model and entity",
                                  ["model", "entity"], registry=self.registry)
        self.entity_flag = Gauge("nadkit_entity_anomalous", "1 while the entity's latest scored step is flagged",
                                 ["model", "entity"], registry=self.registry)

    def scored(self, model: str, n: int, flagged: int) -> None:
        self.rows.labels(model).inc(n)
        self.anomalies.labels(model).inc(flagged)

    def stream_scored(self, model: str, entity: str, scores, labels) -> None:
        """Per-entity metrics of one stream append (``scores``/``labels`` of its returned steps)."""
        done = [(s, f) for s, f in zip(scores, labels, strict=True) if f is not None]
        if not done:
            return
        self.entity_steps.labels(model, entity).inc(len(done))
        self.entity_anomalies.labels(model, entity).inc(sum(f for _, f in done))
        self.entity_score.labels(model, entity).set(float(done[-1][0]))
        self.entity_flag.labels(model, entity).set(done[-1][1])

    def forget_entity(self, model: str, entity: str) -> None:
        for metric in (self.entity_steps, self.entity_anomalies, self.entity_score, self.entity_flag):
            with contextlib.suppress(KeyError):
                metric.remove(model, entity)

    def watch_webhook(self, sender) -> None:
        """Delivered / failed / dropped alerts of the service's webhook as gauges."""
        g = Gauge("nadkit_webhook_alerts", "alerts sent to the webhook by outcome", ["outcome"], registry=self.registry)
        for outcome in ("sent", "failed", "dropped"):
            g.labels(outcome).set_function(lambda o=outcome: getattr(sender, o))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request (outermost, so 401/413 count too)."""

    def __init__(self, app, monitor: Monitor) -> None:
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static/") else "unmatched")
            method = scope["method"]
            self.monitor.requests.labels(method, path, str(status)).inc()
            self.monitor.latency.labels(method, path).observe(time.perf_counter() - start)
