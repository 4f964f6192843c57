"""The server of tests/e2e/test_sdk_emit.py: one checkout per user, named after the subject;
its owner sees why a payment failed (`public_event`)."""

from __future__ import annotations

from typing import Any

import checkout_machines

from statesync_server import Access, App


def own(access: Access) -> bool:
    return access.instance == access.claims.get("sub")


def shown(event: dict[str, Any], reader: dict[str, Any]) -> dict[str, Any]:
    return {"reason": event["reason"]} if event["type"] == "paymentFailed" else {}


app = App(browser_module=checkout_machines)
app.register("checkout", checkout_machines.checkout, allow_read=own, allow_write=own, public_event=shown)
