"""Rows of durable timers and the outbox that join a commit (see `Store.commit`).

A `SideWrite` rides on an `InstanceWrite` (field `workflow`): what one instance's batch of
transitions starts, cancels, fires and finishes. Its statements run in the same transaction as
the snapshot and the log rows, so a timer or an outbox row exists exactly when the transition
that made it is committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, update

from .schema import outbox, timers

OutboxKey = tuple[str, str, int, int]
"""(machine, instance, seq, idx): the transition and the action's index in it."""


def key_text(key: OutboxKey) -> str:
    """The idempotency key handed to an effect implementation: `machine/instance/seq/idx`."""
    return f"{key[0]}/{key[1]}/{key[2]}/{key[3]}"


@dataclass(slots=True)
class SideWrite:
    """Timer and outbox changes of one write, netted (a timer started then cancelled in the
    same batch writes nothing)."""

    timer_ops: dict[tuple[str, str, str], dict[str, Any] | None] = field(default_factory=dict)
    """(machine, instance, timer_id) -> the row to insert, or None to delete."""
    outbox_new: list[dict[str, Any]] = field(default_factory=list)
    outbox_set: list[dict[str, Any]] = field(default_factory=list)
    """Status changes: {key, status, error, attempts?, next_at?} (only pending rows change, and
    the `running` rows of child instances)."""

    def __bool__(self) -> bool:
        return bool(self.timer_ops or self.outbox_new or self.outbox_set)


_INSERT_TIMER = insert(timers)
_INSERT_OUTBOX = insert(outbox)
_DELETE_TIMER = delete(timers).where(
    timers.c.machine == bindparam("k_machine"),
    timers.c.instance == bindparam("k_instance"),
    timers.c.timer_id == bindparam("k_timer"),
)

_WHERE_PENDING = and_(
    outbox.c.machine == bindparam("k_machine"),
    outbox.c.instance == bindparam("k_instance"),
    outbox.c.seq == bindparam("k_seq"),
    outbox.c.idx == bindparam("k_idx"),
    or_(outbox.c.status == "pending", outbox.c.status == "running"),  # running: children.py
)
_FINISH = update(outbox).where(_WHERE_PENDING).values(
    status=bindparam("v_status"), error=bindparam("v_error"), updated_at=bindparam("v_at"),
    attempts=func.coalesce(bindparam("v_attempts"), outbox.c.attempts),
)
_RETRY = update(outbox).where(_WHERE_PENDING).values(
    attempts=bindparam("v_attempts"), next_at=bindparam("v_next_at"),
    error=bindparam("v_error"), updated_at=bindparam("v_at"),
)


def statements(sides: list[SideWrite], now: float,
               owner: str | None = None) -> list[tuple[Any, list[dict[str, Any]]]]:
    """(statement, rows) pairs for a batch: timer deletes, timer inserts, outbox inserts,
    outbox updates, in that order (rows of different instances never collide). New timer
    and outbox rows belong to `owner` (the committing process in cluster mode)."""
    deletes, inserts, new, finish, retry = [], [], [], [], []
    for side in sides:
        for (machine, instance, timer_id), row in side.timer_ops.items():
            deletes.append({"k_machine": machine, "k_instance": instance, "k_timer": timer_id})
            if row is not None:
                inserts.append({**row, "owner": owner})
        new.extend({**row, "owner": owner} for row in side.outbox_new)
        for change in side.outbox_set:
            machine, instance, seq, idx = change["key"]
            where = {"k_machine": machine, "k_instance": instance, "k_seq": seq, "k_idx": idx,
                     "v_error": change.get("error"), "v_at": now}
            if change["status"] == "pending":
                retry.append({**where, "v_attempts": change["attempts"],
                              "v_next_at": change["next_at"]})
            else:
                finish.append({**where, "v_status": change["status"],
                               "v_attempts": change.get("attempts")})
    out: list[tuple[Any, list[dict[str, Any]]]] = []
    if deletes:
        out.append((_DELETE_TIMER, deletes))
    if inserts:
        out.append((_INSERT_TIMER, inserts))
    if new:
        out.append((_INSERT_OUTBOX, new))
    if finish:
        out.append((_FINISH, finish))
    if retry:
        out.append((_RETRY, retry))
    return out
