"""`/v1/admin/clock`: only the admin credential reads or advances the clock; a server on the
system clock refuses to skip time; bad input changes nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable

from server_harness import ServerProcess, mint

from statesync_server.auth import ADMIN_CLAIM


def clock(server: ServerProcess, token: str | None, body: dict | None = None) -> tuple[int, dict]:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        server.url + "/v1/admin/clock", method="GET" if body is None else "POST",
        data=None if body is None else json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_only_the_admin_credential_moves_the_clock(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server("--clock", "manual", "--clock-start", "1000000")
    admin = mint("ops", **{ADMIN_CLAIM: True})
    assert clock(server, None, {"seconds": 60})[0] == 401
    assert clock(server, mint("alice"), {"seconds": 60})[0] == 403
    assert clock(server, mint("alice"))[0] == 403
    assert clock(server, admin) == (200, {"manual": True, "now": 1000000.0})
    for bad in ({"seconds": -1}, {"seconds": "soon"}, {}, {"seconds": 1e300}):
        status, body = clock(server, admin, bad)
        assert status == 400 and body["error"]["code"] == "invalid-message", (bad, body)
    assert clock(server, admin)[1]["now"] == 1000000.0  # unchanged by the refusals
    assert clock(server, admin, {"seconds": 86400}) == (
        200, {"start": 1000000.0, "now": 1086400.0, "steps": []})
    assert "clock: manual (virtual time at 1000000" in server.log()


def test_a_system_clock_cannot_be_advanced(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    admin = mint("ops", **{ADMIN_CLAIM: True})
    status, body = clock(server, admin)
    assert status == 200 and body["manual"] is False
    status, body = clock(server, admin, {"seconds": 1})
    assert status == 400 and "--clock manual" in body["error"]["message"]


TIMED_APP = str(__import__("pathlib").Path(__file__).parents[1] / "cluster" / "apps" / "clusterapp.py")


def test_a_timer_due_before_the_pending_ones_fires_at_its_own_time(
        start_server: Callable[..., ServerProcess]) -> None:
    """A timer started (by another timer's transition) while a later one is pending is due
    first: skipping past both fires each at its exact due time, not at the end of the window."""
    from statesync_server.testing import get_state

    server = start_server("--clock", "manual", "--clock-start", "1000000", app=TIMED_APP)
    token = mint("alice")
    for machine, name, body in (("timed", "far", {"input": {"delay": 3_600_000}}),
                                ("relay", "steps", {})):
        request = urllib.request.Request(
            f"{server.url}/v1/instances/{machine}/{name}", method="POST",
            data=json.dumps(body).encode(),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status in (200, 201)
    assert server.advance_blocking(minutes=5) == 1000000 + 300
    assert get_state(server, "relay", "steps", token=token)["value"] == "three"
    assert get_state(server, "timed", "far", token=token)["value"] == "waiting"
    request = urllib.request.Request(f"{server.url}/v1/instances/relay/steps/events",
                                     headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        entries = json.loads(response.read())["entries"]
    assert [(e["origin"], e["at"]) for e in entries] == [
        ("client", 1000000.0), ("timer", 1000060.0), ("timer", 1000120.0)]
