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
