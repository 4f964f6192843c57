"""One clock for every figure an operator reads: on a manual clock, `statesync timers` and
`statesync effects`, and the admin rows, count from the server's virtual time (not the wall
clock), and durations read in human units (`7d 2h`)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest
from server_harness import WsClient, mint

from statesync_server.auth import ADMIN_CLAIM
from statesync_server.durations import human_duration

VIRTUAL_START = 1_000_000_000.0  # 2001: far from the wall clock
WEEK_AND_2H_MS = (7 * 86400 + 2 * 3600) * 1000


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.05, "0.05s"), (1.5, "1.5s"), (59.94, "59.9s"), (60, "1m"), (90, "1m 30s"),
    (3600, "1h"), (3661, "1h 1m"), (86400, "1d"), (7 * 86400 + 7200 + 59, "7d 2h"),
    (2591760.0, "29d 23h"), (-90, "-1m 30s")])
def test_durations_read_in_human_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def _cli(flow, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "statesync_server", *args,
                           "--database-url", flow.db], capture_output=True, text=True,
                          check=True, timeout=60).stdout


async def test_the_operators_figures_follow_the_virtual_clock(flow, monkeypatch) -> None:
    monkeypatch.setenv("FLOWAPP_DELAY_MS", str(WEEK_AND_2H_MS))
    server = flow.start("--clock-start", str(VIRTUAL_START), clock="manual")
    client = await WsClient.connect(server, mint("alice"))
    await client.request({"type": "create", "id": 1, "machine": "reminder", "instance": "r"})
    await client.send_event("reminder", "r", {"type": "START"}, "s1")
    await client.request({"type": "create", "id": 2, "machine": "notifier", "instance": "n"})
    await client.send_event("notifier", "n", {"type": "FLAKY", "failures": 9}, "f1")
    await server.advance(seconds=0)  # the first run failed; the retry is due 0.05 s later

    timers = await asyncio.to_thread(_cli, flow, "timers")
    assert "+7d 2h" in timers and "2001-09-" in timers, timers
    effects = await asyncio.to_thread(_cli, flow, "effects")
    assert "+0.05s" in effects, effects

    await server.advance(days=1)
    assert "+6d 2h" in await asyncio.to_thread(_cli, flow, "timers")

    admin = {"Authorization": f"Bearer {mint('ops', **{ADMIN_CLAIM: True})}"}
    async with httpx.AsyncClient(base_url=server.url, headers=admin) as http:
        rows = (await http.get("/v1/admin/instances/notifier/n/effects")).json()["effects"]
        listed = (await http.get("/v1/admin/instances/notifier")).json()["items"]
    now = server.clock_time()
    for row in rows:  # created and finished on the virtual clock
        assert VIRTUAL_START <= row["created_at"] <= row["updated_at"] <= now, row
    [item] = listed
    assert VIRTUAL_START <= item["created_at"] <= item["updated_at"] <= now
    assert 0 <= item["idle_seconds"] <= 86400, item
    await client.close()
