"""Shared steps of the inspector tests: a bounded wait and a job driven into `failed`."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_names = itertools.count()


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll `probe` until it returns something truthy (bounded by `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def fresh(prefix: str) -> str:
    return f"{prefix}-{next(_names)}-{time.monotonic_ns() % 10**8}"


def send(as_user: Callable[..., Any], owner: str, job: str, event: dict[str, Any]) -> int:
    response = as_user(owner, "POST", f"/v1/instances/job/{job}/events",
                       json={"event": event, "event_id": fresh("ev")})
    assert response.status_code == 200, response.text
    return response.json()["seq"]


def failed_job(as_user: Callable[..., Any], as_admin: Callable[..., Any]) -> tuple[str, str]:
    """(owner, job): a job of a fresh owner that went queued -> running -> failed, whose
    notify effect failed for good (2 attempts) and whose JOB_FAILED message reached the
    owner's board."""
    owner, job = fresh("owner"), fresh("job")
    assert as_user(owner, "POST", f"/v1/instances/board/{owner}").status_code == 201
    created = as_user(owner, "POST", f"/v1/instances/job/{job}", json={"input": {"owner": owner}})
    assert created.status_code == 201, created.text
    send(as_user, owner, job, {"type": "START"})
    send(as_user, owner, job, {"type": "COMPILED"})
    send(as_user, owner, job, {"type": "FAIL", "reason": "disk full"})

    def settled() -> bool:
        effects = as_admin("GET", f"/v1/admin/instances/job/{job}/effects")["effects"]
        messages = as_admin("GET", f"/v1/admin/instances/job/{job}/messages")["out"]
        return bool(effects) and effects[0]["status"] == "failed" and bool(messages) and \
            messages[0]["status"] == "done"

    wait_for(settled, "the notify effect to fail and the message to be delivered")
    return owner, job
