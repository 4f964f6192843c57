"""Prometheus metrics (`prometheus-client`); `http_metrics` serves them at `/metrics`.

Each engine has a `Metrics` of its own, in its own `CollectorRegistry` (never the global
one), so several servers in one process keep separate counts. Label values come from the
app's registered machines and effect names and from fixed vocabularies (origins, error
codes), never from what a client sends, so a client cannot make new series.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LATENESS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


class Metrics:
    """The server's instruments. Counters are bumped on the hot path (a lock and an add);
    gauges of in-memory sizes are read only when scraped (`set_function`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events_applied = Counter(
            "statesync_events_applied", "Events applied: transitions committed, by machine and "
            "origin (client, timer, service, instance, upgrade)", ["machine", "origin"], registry=r)
        self.events_rejected = Counter(
            "statesync_events_rejected", "Creates, sends and upgrades the engine answered with "
            "an error, by error code", ["code"], registry=r)
        self.commit_seconds = Histogram(
            "statesync_commit_seconds", "Duration of one group-commit transaction",
            buckets=_SECONDS, registry=r)
        self.commit_batch = Histogram(
            "statesync_commit_batch_size", "Instance writes committed in one transaction",
            buckets=_BATCH, registry=r)
        self.timer_lateness = Histogram(
            "statesync_timer_lateness_seconds", "How long after its due time a timer fired",
            buckets=_LATENESS, registry=r)
        self.effect_attempts = Counter(
            "statesync_effect_attempts", "Effect and service runs, by result (ok, error)",
            ["machine", "kind", "name", "result"], registry=r)
        self.effect_failures = Counter(
            "statesync_effect_failures", "Effects and services failed for good (last attempt)",
            ["machine", "kind", "name"], registry=r)
        self.connections = Gauge(
            "statesync_connections", "Open WebSocket connections", registry=r)
        self.subscriptions = Gauge(
            "statesync_subscriptions", "Instance subscriptions of open connections", registry=r)
        self.timers_pending = Gauge(
            "statesync_timers_pending", "Timers scheduled and not yet fired", registry=r)
        self.jobs_running = Gauge(
            "statesync_jobs_running", "Effects and services pending in the runner", registry=r)
        self.write_conflicts = Counter(
            "statesync_write_conflicts", "Cluster mode: commits refused because another "
            "process committed to the instance first (caught up and applied again)", registry=r)
        self.writes_forwarded = Counter(
            "statesync_writes_forwarded", "Cluster mode: client sends forwarded to their "
            "instance's owner process and answered by it", registry=r)
        self.forward_fallbacks = Counter(
            "statesync_forward_fallbacks", "Cluster mode: client sends applied here because "
            "their instance's owner could not be reached in time", registry=r)
        self.cluster_members = Gauge(
            "statesync_cluster_members", "Cluster mode: live processes that may own instances "
            "(this one included), as of the last heartbeat", registry=r)
        self._applied: dict[tuple[str, str], Counter] = {}
        self._rejected: dict[str, Counter] = {}

    def applied(self, machine: str, origins: Iterable[str]) -> None:
        """Count one applied event per origin given."""
        for origin in origins:
            child = self._applied.get((machine, origin))
            if child is None:
                child = self._applied[(machine, origin)] = self.events_applied.labels(machine, origin)
            child.inc()

    def rejected(self, code: str) -> None:
        child = self._rejected.get(code)
        if child is None:
            child = self._rejected[code] = self.events_rejected.labels(code)
        child.inc()

    def committed(self, seconds: float, writes: int) -> None:
        self.commit_seconds.observe(seconds)
        self.commit_batch.observe(writes)

    def attempt(self, machine: str, kind: str, name: str, ok: bool, final: bool) -> None:
        """One effect or service run; `final`: it failed and is not tried again."""
        self.effect_attempts.labels(machine, kind, name, "ok" if ok else "error").inc()
        if final:
            self.effect_failures.labels(machine, kind, name).inc()

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)

