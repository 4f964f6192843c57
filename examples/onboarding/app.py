"""Onboarding: send a welcome e-mail -> wait one day -> send the first drip e-mail.

A workflow that keeps going across crashes and restarts: the welcome e-mail is an invoked
service (the instance moves on only once it was sent), the day is a durable timer, the drip
e-mail an effect. Both e-mails carry the idempotency key statesync hands to the sender, so
a retry after a crash never mails anyone twice.

Run it:
    ONBOARDING_DRIP_DELAY_MS=5000 statesync serve examples/onboarding/app.py
    TOKEN=$(statesync token --sub alice)
    curl -X POST -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
         -d '{"input": {"user": "alice", "email": "alice@example.com", "name": "Alice"}}' \\
         http://127.0.0.1:8000/v1/instances/onboarding/alice
    statesync timers          # the pending drip timer
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/v1/instances/onboarding/alice/events

Settings (environment): ONBOARDING_DRIP_DELAY_MS (default one day), ONBOARDING_MAIL_LOG
(a JSON-lines file where the fake sender records every call).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from machines import DAY_MS, onboarding
from statesync_server import Access, App, EffectCall, Retry

DRIP_DELAY_MS = int(os.environ.get("ONBOARDING_DRIP_DELAY_MS", DAY_MS))


class FakeMailer:
    """Stands in for an e-mail provider: records every call, delivers once per idempotency
    key (as providers with an Idempotency-Key header do)."""

    def __init__(self, log_path: str | None) -> None:
        self.log_path = log_path
        self.calls: list[dict[str, Any]] = []
        self.delivered: dict[str, dict[str, Any]] = {}

    async def send(self, *, to: str, template: str, data: dict[str, Any], key: str) -> str:
        call = {"to": to, "template": template, "data": data, "key": key}
        self.calls.append(call)
        first = key not in self.delivered
        self.delivered.setdefault(key, call)
        if self.log_path:
            await asyncio.to_thread(self._append, json.dumps({**call, "delivered": first}))
        return f"msg-{len(self.delivered)}"

    def _append(self, line: str) -> None:
        with open(self.log_path or "", "a") as log:
            log.write(line + "\n")


mailer = FakeMailer(os.environ.get("ONBOARDING_MAIL_LOG"))


async def send_welcome(call: EffectCall) -> dict[str, str]:
    """The invoked service of `welcoming`: its result is the provider's message id."""
    message_id = await mailer.send(to=call.input["to"], template="welcome",
                                   data={"name": call.input["name"]}, key=call.idempotency_key)
    return {"message_id": message_id}


async def send_drip(call: EffectCall) -> None:
    """The effect on entering `drip_sent`."""
    await mailer.send(to=call.params["to"], template="drip-1",
                      data={"name": call.params["name"]}, key=call.idempotency_key)


def _may_write(access: Access) -> bool:
    """Users start their own onboarding and may unsubscribe from it."""
    return access.context["user"] == access.subject


def _public(context: dict[str, Any]) -> dict[str, Any]:
    return {"name": context["name"]}  # the address stays on the server


app = App()
app.register(
    "onboarding",
    onboarding.provide(delays={"dripDelay": DRIP_DELAY_MS}),
    allow_write=_may_write,
    allow_read=lambda access: access.context["user"] == access.subject,
    public_context=_public,
    events={"UNSUBSCRIBE": None, "RETRY": None},
    services={"sendWelcome": send_welcome},
    effects={"sendDrip": send_drip},
    retry=Retry(max_attempts=8, backoff=1.0, max_backoff=600.0, timeout=90.0),
)
