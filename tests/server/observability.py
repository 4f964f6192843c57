"""Helpers for the operator log and metrics tests: the server's JSON log lines, and samples
of its `/metrics` (parsed with prometheus-client's own parser)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from server_harness import ServerProcess, mint
from statesync_server.auth import ADMIN_CLAIM


def records(server: ServerProcess, message: str | None = None, **fields: Any) -> list[dict[str, Any]]:
    """The server's JSON log lines (`--log-format json`) with this message and these fields."""
    found = []
    for line in list(server.lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if message is not None and record.get("message") != message:
            continue
        if all(record.get(key) == value for key, value in fields.items()):
            found.append(record)
    return found


async def wait_records(server: ServerProcess, count: int, message: str,
                       **fields: Any) -> list[dict[str, Any]]:
    """Poll (10 s at most) until at least `count` lines match; those lines."""
    deadline = time.monotonic() + 10
    while True:
        found = records(server, message, **fields)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)}/{count} {message!r} lines with {fields}:\n"
                                 + server.log()[-4000:])
        await asyncio.sleep(0.02)


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint('ops', **{ADMIN_CLAIM: True})}"}


async def scrape(server: ServerProcess, headers: dict[str, str] | None = None) -> str:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        response = await http.get("/metrics", headers=headers or admin_headers())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def sample(text: str, metric: str, /, **labels: str) -> float:
    """The value of the sample `metric` with exactly these labels (0 when there is none yet)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == metric and s.labels == labels:
                return s.value
    return 0.0
