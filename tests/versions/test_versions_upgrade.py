"""Versions and live upgrades, in-process on a real SQLite file: the onboarding story."""

from __future__ import annotations

import pytest
from onboarding import V1_TO_V2, build, v1, v2, v3
from sqlalchemy import select
from statesync_server import App, ErrorCode, Migration, Op, StatesyncError
from statesync_server.engine.results import UpgradeResult
from statesync_server.migrations import plan_upgrade
from statesync import Machine
from statesync_server import Engine, Store
from statesync_server.workflow.clock import ManualClock
from statesync_server.store.schema import events, instances, timers
from statesync_server.engine.versions import (
    StartupError,
    config_hash,
    upgrade_instances,
    upgrade_version,
)

ME = {"sub": "alice"}


async def create(engine, name: str, **input) -> None:
    await engine.run(Op("create", "onboarding", name, ME, input={"email": f"{name}@x", **input}))


async def send(engine, name: str, event_id: str, **event) -> int:
    result = await engine.run(Op("send", "onboarding", name, ME, event=event, event_id=event_id))
    return result.seq


async def state(engine, name: str):
    return await engine.run(Op("get", "onboarding", name, ME))


async def stored(engine, name: str):
    async with engine.store.engine.connect() as conn:
        row = (await conn.execute(select(instances.c.version, instances.c.seq).where(
            instances.c.machine == "onboarding", instances.c.name == name))).one()
        log = (await conn.execute(select(events.c.event, events.c.origin).where(
            events.c.machine == "onboarding", events.c.instance == name
        ).order_by(events.c.seq))).all()
    return row.version, row.seq, log


async def everyone_at_every_state(engine) -> None:
    """v1 instances: before the welcome e-mail, waiting a day, dripped, engaged (done)."""
    for name in ("before", "waiting", "dripped", "engaged"):
        await create(engine, name)
    for name in ("waiting", "dripped", "engaged"):
        await send(engine, name, "c", type="CONFIRM")
    for name in ("dripped", "engaged"):  # (or the day's timer)
        await send(engine, name, "t", type="DRIP_NOW")
    await send(engine, "engaged", "e", type="ENGAGE")


def test_config_hash_is_stable_and_sensitive() -> None:
    assert config_hash(v1()) == config_hash(v1())
    assert config_hash(v1()) != config_hash(v2())


async def test_onboarding_story_upgrade_all_v1_instances(open_engine) -> None:
    engine = await open_engine(build(("1",)))
    await everyone_at_every_state(engine)
    assert (await state(engine, "waiting")).value == "welcomed"

    engine = await open_engine(build(("1", "2")))
    # Several versions at once: v1 instances keep running v1 until upgraded, new ones take v2.
    await create(engine, "newcomer")
    await send(engine, "newcomer", "c", type="CONFIRM")
    assert (await state(engine, "newcomer")).value == "lookingUpChannel"
    assert (await stored(engine, "newcomer"))[0] == "2"
    assert (await stored(engine, "before"))[0] == "1"

    before = {n: await state(engine, n) for n in ("before", "waiting", "dripped", "engaged")}
    report = await upgrade_version(engine, "onboarding", "1")
    assert report.upgraded == ["before", "dripped", "engaged", "waiting"] and not report.failed

    for name, old in before.items():
        version, seq, log = await stored(engine, name)
        assert (version, seq) == ("2", old.seq + 1)
        event, origin = log[-1]
        assert origin == "upgrade" and '"statesync.upgrade"' in event
        now = await state(engine, name)
        assert now.value == old.value and now.context["channel"] is None

    # Before the welcome e-mail: the new step. After it: they keep going.
    await send(engine, "before", "c", type="CONFIRM")
    assert (await state(engine, "before")).value == "lookingUpChannel"
    await send(engine, "before", "ch", type="CHANNEL", channel="podcast")
    after = await state(engine, "before")
    assert after.value == "welcomed" and after.context["channel"] == "podcast"
    await send(engine, "waiting", "t", type="DRIP_NOW")
    assert (await state(engine, "waiting")).value == "dripped"

    # Upgrading again is a no-op.
    again = await engine.run(Op("upgrade", "onboarding", "waiting", ME))
    assert isinstance(again, UpgradeResult) and not again.upgraded


def test_upgrade_plan_sends_no_second_welcome_and_keeps_the_pending_timer() -> None:
    app = build(("1", "2"))
    old = v1()
    snapshot, _ = old.initial_transition({"email": "w@x"})
    snapshot, actions = old.transition(snapshot, {"type": "CONFIRM"})
    assert [a.type for a in actions] == ["sendWelcomeEmail", "xstate.raise"]
    plan = plan_upgrade(app, "onboarding", "1", app.version_spec("onboarding", "1").machine.restore(
        snapshot.to_dict()), "2")
    # Neither the welcome e-mail again, nor a cancel + restart of the day's timer (same id):
    # the pending timer keeps its due time and fires once.
    assert plan.actions == []
    assert plan.snapshot.value == "welcomed" and plan.snapshot.context["channel"] is None


def test_upgrade_plan_cancels_old_timers_and_starts_new_ones() -> None:
    from statesync import Machine

    def machine(delay: int) -> Machine:
        return Machine({"id": "m", "initial": "waiting", "states": {
            "waiting": {"entry": "hello", "after": {str(delay): "late"}}, "late": {}}})

    app = App()
    app.register("m", machine(1000), version="a")
    app.register("m", machine(2000), version="b")
    app.add_migration(Migration("m", "a", "b"))
    snapshot, _ = app.version_spec("m", "a").machine.initial_transition()
    plan = plan_upgrade(app, "m", "a", snapshot, "b")
    assert [(a.type, a.params.get("id")) for a in plan.actions] == [
        ("xstate.cancel", "xstate.after.1000.m.waiting"),
        ("xstate.raise", "xstate.after.2000.m.waiting"),
    ]  # and no second "hello"


async def test_chained_upgrade_v1_to_v3(open_engine) -> None:
    engine = await open_engine(build(("1",)))
    await everyone_at_every_state(engine)
    engine = await open_engine(build(("1", "2", "3")))
    report = await upgrade_version(engine, "onboarding", "1")
    assert len(report.upgraded) == 4 and not report.failed
    dripped = await state(engine, "dripped")
    assert dripped.value == "nurturing"
    assert dripped.context["acquisition"] == {"channel": None} and "channel" not in dripped.context
    version, _seq, log = await stored(engine, "dripped")
    assert version == "3"
    assert '"path":["1","2","3"]' in log[-1].event  # one transition for the whole chain
    assert (await state(engine, "engaged")).done
    await send(engine, "dripped", "e", type="ENGAGE")
    assert (await state(engine, "dripped")).done


async def test_refused_upgrade_without_a_path(open_engine) -> None:
    engine = await open_engine(build(("1",)))
    await create(engine, "x")
    app = build(("1", "2", "3"), migrations=False)
    app.add_migration(V1_TO_V2)
    engine = await open_engine(app)
    op = Op("upgrade", "onboarding", "x", ME)
    with pytest.raises(StatesyncError) as caught:
        await engine.run(op)
    assert caught.value.code == ErrorCode.NO_UPGRADE_PATH
    assert caught.value.message == (
        "no migration path for 'onboarding' from version 1 to 3 (reachable from 1: 2)")
    assert (await stored(engine, "x"))[:2] == ("1", 0)  # nothing applied
    op = Op("upgrade", "onboarding", "x", ME)
    op.version = "2"
    assert (await engine.run(op)).upgraded  # the part that has a path works


async def test_start_refused_when_a_version_changed_under_its_label(open_engine) -> None:
    from app_v1_changed import app as changed

    engine = await open_engine(build(("1",)))
    await create(engine, "x")
    with pytest.raises(StartupError, match=r"machine 'onboarding' version '1' has changed"):
        await open_engine(changed)


async def test_start_refused_when_instances_are_at_an_unregistered_version(open_engine) -> None:
    engine = await open_engine(build(("1",)))
    await create(engine, "x")
    await create(engine, "y")
    with pytest.raises(StartupError) as caught:
        await open_engine(build(("2",)))
    assert ("2 instance(s) of machine 'onboarding' are at version '1', which is no longer "
            "registered") in str(caught.value)


async def test_start_refused_for_a_migration_that_loses_a_state(open_engine) -> None:
    app = build(("2", "3"), migrations=False)
    app.add_migration(Migration("onboarding", "2", "3"))  # `dripped` has no place in v3
    with pytest.raises(StartupError, match=r"state 'dripped' is kept at 'dripped', which "
                                           r"version 3 does not have"):
        await open_engine(app)


def test_register_several_versions() -> None:
    app = App()
    app.register("m", v1(), version="1")
    app.register("m", v2(), version="2")
    app.register("m", v3(), version="3", current=False)
    assert app.spec("m").version == "2"
    assert sorted(app.versions["m"]) == ["1", "2", "3"]
    with pytest.raises(ValueError, match="already registered"):
        app.register("m", v1(), version="1")


async def test_upgrade_the_instances_an_index_query_matches(open_engine) -> None:
    from statesync_server.engine.versions import upgrade_request

    engine = await open_engine(build(("1",)))
    for i in range(6):
        await create(engine, f"p{i}", plan="pro" if i % 2 else "free")
    engine = await open_engine(build(("1", "2")))
    report = await upgrade_request(engine, "onboarding",
                                   where={"index": "plan", "op": "eq", "value": "pro"})
    assert report.upgraded == ["p1", "p3", "p5"]
    assert [(await stored(engine, f"p{i}"))[0] for i in range(6)] == ["1", "2"] * 3


def test_migration_maps_parallel_regions_and_history() -> None:
    from statesync import Machine

    old = Machine({"id": "doc", "type": "parallel", "states": {
        "edit": {"initial": "draft", "states": {
            "draft": {"on": {"SUBMIT": "review"}}, "review": {},
            "hist": {"type": "history", "history": "shallow"}}},
        "sync": {"initial": "idle", "states": {"idle": {"on": {"GO": "busy"}}, "busy": {}}},
    }})
    new = Machine({"id": "doc", "type": "parallel", "states": {
        "edit": {"initial": "draft", "states": {
            "draft": {}, "reviewing": {"initial": "queued", "states": {"queued": {}, "open": {}}},
            "hist": {"type": "history", "history": "shallow"}}},
        "sync": {"initial": "idle", "states": {"idle": {}, "running": {}}},
    }})
    snapshot, _ = old.initial_transition()
    snapshot, _ = old.transition(snapshot, {"type": "SUBMIT"})
    snapshot, _ = old.transition(snapshot, {"type": "GO"})
    data = {**snapshot.to_dict(), "historyValue": {"doc.edit.hist": ["doc.edit.review"]}}
    migration = Migration("doc", "1", "2", state={"edit.review": "edit.reviewing",
                                                  "sync.busy": "sync.running"})
    migration.check(old, new)
    moved = migration.apply(data, old, new)
    assert moved["value"] == {"edit": {"reviewing": "queued"}, "sync": "running"}
    assert moved["historyValue"] == {"doc.edit.hist": ["doc.edit.reviewing"]}
    assert new.restore(moved).value == moved["value"]

    broken = Migration("doc", "1", "2", state={"edit.review": "edit.reviewing"})
    with pytest.raises(ValueError, match="'sync.busy' is kept at 'sync.busy'"):
        broken.check(old, new)


async def test_clients_cannot_send_the_upgrade_event(open_engine) -> None:
    engine = await open_engine(build(("1",)))
    await create(engine, "spoof")
    with pytest.raises(StatesyncError) as caught:
        await send(engine, "spoof", "u", type="statesync.upgrade", to="9")
    assert caught.value.code == ErrorCode.INVALID_EVENT


async def test_events_are_validated_by_the_instance_version(open_engine) -> None:
    from pydantic import BaseModel
    from statesync import Machine

    class Old(BaseModel):
        n: int

    def machine(event: str) -> Machine:
        return Machine({"id": "e", "initial": "a", "context": {"n": 0},
                        "states": {"a": {"on": {event: {"actions": "keep"}}}}},
                       actions={"keep": lambda ctx, ev: None})

    app = App()
    app.register("e", machine("OLD"), version="1", events={"OLD": Old})
    engine = await open_engine(app)
    await engine.run(Op("create", "e", "old", ME))
    app = App()
    app.register("e", machine("OLD"), version="1", events={"OLD": Old})
    app.register("e", machine("NEW"), version="2", events={"NEW": None})
    engine = await open_engine(app)
    await engine.run(Op("create", "e", "new", ME))
    ok = await engine.run(Op("send", "e", "old", ME, event={"type": "OLD", "n": "3"}, event_id="1"))
    assert ok.seq == 1
    for name, event in (("old", {"type": "OLD", "n": "x"}), ("new", {"type": "OLD", "n": 1})):
        with pytest.raises(StatesyncError) as caught:
            await engine.run(Op("send", "e", name, ME, event=event, event_id="2"))
        assert caught.value.code == ErrorCode.INVALID_EVENT


def _subscription(grace_state: str) -> Machine:
    return Machine({"id": "sub", "initial": "active", "context": {"status": "active"},
                    "states": {"active": {"on": {"PAYMENT_FAILED": grace_state}},
                               grace_state: {"after": {"graceEnds": "cancelled"}},
                               "cancelled": {"type": "final"}}},
                   delays={"graceEnds": 7 * 86_400_000})


async def test_a_renamed_state_keeps_its_timer_and_the_migration_reads_the_old_state(
        db_url: str) -> None:
    """v2 renames `past_due` to `grace`: the 7-day grace period is not restarted by the
    upgrade two days in, and `Migration.context` sees the old state to fix a stored status."""
    seen: list[object] = []

    def context(ctx, value):
        seen.append(value)
        return {**ctx, "status": "grace" if value == "past_due" else ctx["status"]}

    app = App()
    app.register("sub", _subscription("past_due"), version="1")
    app.register("sub", _subscription("grace"), version="2", current=False)
    app.add_migration(Migration("sub", "1", "2", state={"past_due": "grace"}, context=context))
    clock = ManualClock(start=1_000_000.0)
    engine = Engine(app, Store(db_url), clock=clock)
    await engine.start()
    try:
        await engine.run(Op("create", "sub", "s", ME))
        await engine.run(Op("send", "sub", "s", ME, event={"type": "PAYMENT_FAILED"},
                            event_id="p"))
        clock.set(1_000_000.0 + 2 * 86400)  # two days into the grace period
        report = await upgrade_instances(engine, "sub", ["s"], "2")
        assert report.upgraded == ["s"], report
        async with engine.store.engine.connect() as conn:
            rows = (await conn.execute(select(timers.c.timer_id, timers.c.due))).all()
        assert [(r.timer_id, r.due) for r in rows] == [
            ("xstate.after.graceEnds.sub.grace", 1_000_000.0 + 7 * 86400)]  # not restarted
        upgraded = await engine.run(Op("get", "sub", "s", ME))
        assert upgraded.value == "grace" and upgraded.context == {"status": "grace"}
        assert seen == ["past_due"]
    finally:
        await engine.stop()
