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
    sqlite_synchronous: str = "FULL"
    cache_size: int = 10_000
