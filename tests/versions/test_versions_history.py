"""The state as of any seq: checkpoints plus replay, across upgrades (in-process, real SQLite)."""

from __future__ import annotations

import pytest
from onboarding import build
from sqlalchemy import select
from statesync_server import ErrorCode, Op, StatesyncError
from statesync_server.engine.history import CHECKPOINT_EVERY, snapshot_at
from statesync_server.store.schema import checkpoints

ME = {"sub": "alice"}


async def test_snapshot_at_every_seq_across_checkpoints_and_an_upgrade(open_engine) -> None:
    engine = await open_engine(build(("1",)))
    await engine.run(Op("create", "onboarding", "h", ME, input={"email": "h@x"}))
    expected = {0: ("signedUp", 0, "1")}
    seq = 0
    for n in range(1, 160):
        seq = (await engine.run(Op("send", "onboarding", "h", ME, event_id=f"a{n}",
                                   event={"type": "SCORE", "score": n}))).seq
        expected[seq] = ("signedUp", n, "1")
    engine = await open_engine(build(("1", "2")))
    seq = (await engine.run(Op("upgrade", "onboarding", "h", ME))).seq
    expected[seq] = ("signedUp", 159, "2")
    seq = (await engine.run(Op("send", "onboarding", "h", ME, event_id="c",
                               event={"type": "CONFIRM"}))).seq
    expected[seq] = ("lookingUpChannel", 159, "2")
    for n in range(160, 260):
        seq = (await engine.run(Op("send", "onboarding", "h", ME, event_id=f"b{n}",
                                   event={"type": "CHANNEL", "channel": "ads"} if n == 160 else
                                   {"type": "SCORE", "score": n}))).seq
        expected[seq] = ("welcomed", 159 if n == 160 else n, "2")
    assert seq > 2 * CHECKPOINT_EVERY

    async with engine.store.engine.connect() as conn:
        kept = [r.seq for r in await conn.execute(
            select(checkpoints.c.seq).where(checkpoints.c.instance == "h")
            .order_by(checkpoints.c.seq))]
    assert kept == [0, 100, 160, 200]  # creation, every 100, the upgrade

    for at, (value, score, version) in expected.items():
        past = await snapshot_at(engine.app, engine.store, "onboarding", "h", at)
        assert (past.snapshot.value, past.snapshot.context["score"], past.version) == (
            value, score, version), at
    past = await snapshot_at(engine.app, engine.store, "onboarding", "h", 161)
    assert past.snapshot.context["channel"] is None and past.event == {"type": "CONFIRM"}

    with pytest.raises(StatesyncError) as caught:
        await snapshot_at(engine.app, engine.store, "onboarding", "h", seq + 1)
    assert caught.value.code == ErrorCode.NOT_FOUND
