"""The onboarding story in three versions (the issue's own example).

v1: sign up -> welcome e-mail -> wait a day -> drip e-mail -> engaged.
v2: a "look up the acquisition channel" step before the welcome e-mail; the channel is stored
    in the context.
v3: the drip state is renamed `nurturing` and the channel moves under `acquisition`.

The day is a named delay, so tests may shorten it (STATESYNC_TEST_DAY_MS) without changing
the config (and so the version's content hash).
"""

from __future__ import annotations

import os

from statesync import Machine, assign
from statesync_server import App, Migration

DAY_MS = int(os.environ.get("STATESYNC_TEST_DAY_MS", str(24 * 3600 * 1000)))


def _context(input):
    input = input or {}
    return {"email": input.get("email", ""), "plan": input.get("plan", "free"),
            "score": input.get("score", 0), "tags": input.get("tags", []),
            "owner": input.get("owner")}


def v1() -> Machine:
    return Machine(
        {
            "id": "onboarding",
            "initial": "signedUp",
            "context": _context,
            "states": {
                "signedUp": {"on": {"CONFIRM": "welcomed", "SCORE": {"actions": "score"}}},
                "welcomed": {"entry": "sendWelcomeEmail", "after": {"aDay": "dripped"},
                             "on": {"SCORE": {"actions": "score"}, "DRIP_NOW": "dripped"}},
                "dripped": {"entry": "sendDripEmail", "on": {"ENGAGE": "engaged"}},
                "engaged": {"type": "final"},
            },
        },
        actions={"score": assign(lambda ctx, ev: {"score": ev["score"]})},
        delays={"aDay": DAY_MS},
    )


def v2() -> Machine:
    return Machine(
        {
            "id": "onboarding",
            "initial": "signedUp",
            "context": lambda input: {**_context(input), "channel": None},
            "states": {
                "signedUp": {"on": {"CONFIRM": "lookingUpChannel", "SCORE": {"actions": "score"}}},
                "lookingUpChannel": {
                    "entry": "lookUpChannel",
                    "on": {"CHANNEL": {"target": "welcomed", "actions": "storeChannel"}},
                },
                "welcomed": {"entry": "sendWelcomeEmail", "after": {"aDay": "dripped"},
                             "on": {"SCORE": {"actions": "score"}, "DRIP_NOW": "dripped"}},
                "dripped": {"entry": "sendDripEmail", "on": {"ENGAGE": "engaged"}},
                "engaged": {"type": "final"},
            },
        },
        actions={
            "score": assign(lambda ctx, ev: {"score": ev["score"]}),
            "storeChannel": assign(lambda ctx, ev: {"channel": ev["channel"]}),
        },
        delays={"aDay": DAY_MS},
    )


def v3() -> Machine:
    return Machine(
        {
            "id": "onboarding",
            "initial": "signedUp",
            "context": lambda input: {**_context(input), "acquisition": {"channel": None}},
            "states": {
                "signedUp": {"on": {"CONFIRM": "lookingUpChannel", "SCORE": {"actions": "score"}}},
                "lookingUpChannel": {
                    "entry": "lookUpChannel",
                    "on": {"CHANNEL": {"target": "welcomed", "actions": "storeChannel"}},
                },
                "welcomed": {"entry": "sendWelcomeEmail", "after": {"aDay": "nurturing"},
                             "on": {"SCORE": {"actions": "score"}, "DRIP_NOW": "nurturing"}},
                "nurturing": {"entry": "sendDripEmail", "on": {"ENGAGE": "engaged"}},
                "engaged": {"type": "final"},
            },
        },
        actions={
            "score": assign(lambda ctx, ev: {"score": ev["score"]}),
            "storeChannel": assign(lambda ctx, ev: {"acquisition": {"channel": ev["channel"]}}),
        },
        delays={"aDay": DAY_MS},
    )


V1_TO_V2 = Migration("onboarding", "1", "2", context=lambda ctx: {**ctx, "channel": None})
V2_TO_V3 = Migration(
    "onboarding", "2", "3",
    state={"dripped": "nurturing"},
    context=lambda ctx: {
        **{k: v for k, v in ctx.items() if k != "channel"},
        "acquisition": {"channel": ctx["channel"]},
    },
)

INDEXES = {"email": "email", "plan": "plan", "score": "score", "tags": "tags"}


def can_read(access) -> bool:
    owner = access.context.get("owner")
    return owner is None or owner == access.subject or access.claims.get("role") == "admin"


MAIL_LOG = os.environ.get("STATESYNC_TEST_MAIL_LOG")


async def record_mail(call) -> None:
    """The e-mail 'provider': one line per effect run, with its idempotency key."""
    with open(MAIL_LOG, "a") as out:  # noqa: ASYNC230 - a test double
        out.write(f"{call.name} {call.instance} {call.idempotency_key}\n")


EFFECTS = {name: record_mail for name in ("sendWelcomeEmail", "sendDripEmail", "lookUpChannel")}


def build(versions: tuple[str, ...] = ("1",), migrations: bool = True,
          indexes: dict[str, str] | None = None) -> App:
    """An app registering the given versions (the last is current) and the migrations
    between consecutive registered versions."""
    app = App()
    makers = {"1": v1, "2": v2, "3": v3}
    for label in versions:
        app.register("onboarding", makers[label](), version=label, allow_read=can_read,
                     allow_read_history=can_read,
                     indexes=INDEXES if indexes is None else indexes,
                     effects=EFFECTS if MAIL_LOG else None)
    if migrations:
        for m in (V1_TO_V2, V2_TO_V3):
            if m.from_version in versions and m.to_version in versions:
                app.add_migration(m)
    return app
