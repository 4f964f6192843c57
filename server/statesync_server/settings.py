"""Server settings (the CLI fills them from flags; tests and embedders construct them)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///statesync.db"


@dataclass(frozen=True)
class Settings:
    """Operational limits and where to store data."""

    database_url: str = DEFAULT_DATABASE_URL
    url: str = "http://127.0.0.1:8000"
    max_message_bytes: int = 64 * 1024
    rate_limit: float = 1000.0
    rate_burst: float = 2000.0
    max_outbound: int = 10_000
    max_outbound_bytes: int = 16 << 20
    """Characters queued for one socket at most (a client that stops reading is closed)."""
    max_header_bytes: int = 16 * 1024
    max_inflight: int = 256
    """Requests one socket may have unanswered before the server stops reading it."""
    auth_timeout: float = 10.0
    """Seconds a WebSocket may stay open without a successful `auth`."""
    create_rate: float = 600.0
    """Instance creations per minute per subject (0: unlimited)."""
    session_rate: float = 60.0
    """Anonymous sessions per minute per client address (0: unlimited)."""
    cors_origins: tuple[str, ...] = ()
    """Other web origins whose pages may use the server (CORS on HTTP, the WebSocket
    handshake's Origin), and whose host names it is served under; `*` for any (origins.py)."""
    sqlite_synchronous: str = "FULL"
    cache_size: int = 10_000
    clock: str = "system"
    """`system`, or `manual`: timers and retries wait for `POST /v1/admin/clock` (clock.py)."""
    clock_start: float | None = None
    """Where a manual clock starts (epoch seconds; default: now, to the second)."""
    dev: bool = False
    """`statesync serve --dev`: a changed machine does not stop the server (dev_database.py)."""
    cluster_lease: float = 5.0
    """PostgreSQL: seconds after a process's last heartbeat before the others take over its
    timers and jobs (docs/deployment.md)."""
    node_id: str | None = None
    """PostgreSQL: this process's id in the cluster (default: host name and port); a process
    restarted under the same id takes its timers and jobs back at once."""
    peer_url: str | None = None
    """PostgreSQL: where the other processes reach this one to forward writes to the
    instances it owns (default: `url` as ws://); `-` turns forwarding off."""
    metrics_token: str | None = None
    """A bearer secret a Prometheus scraper may send for `/metrics` (admin tokens work too)."""
