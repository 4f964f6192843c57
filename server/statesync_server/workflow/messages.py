"""Messages between instances: `send_to` and `create_instance` actions, delivered from the
outbox exactly once and in send order per (sender, receiver) pair.

A message row is committed with the sender's transition. The receiver applies it through
its ordered queue like any event, and the same transaction marks the row delivered (or
failed / ignored), so a crash either happened before (the row is still pending and is
delivered after the restart) or after (it is not delivered again). The event id
`msg:<sender key>` in the receiver's log is a second guard against double application.
Each pair has one delivery loop that sends the next message only once the previous one is
settled, which keeps the pair's order even across failures. In cluster mode the loop first
looks in the outbox for the pair's older messages committed through other processes.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from typing import Protocol

from .effects import Job

log = logging.getLogger("statesync.messages")

Pair = tuple[str, str, str, str]
"""(sender machine, sender instance, target machine, target instance)."""


class Deliverer(Protocol):
    """What the messenger uses of the workflow runtime that owns it (workflow.py; passed in,
    never imported: the runtime imports this module)."""

    @property
    def clustered(self) -> bool: ...

    async def earlier_messages(self, job: Job) -> list[Job]: ...

    async def deliver_message(self, job: Job) -> bool: ...


class Messenger:
    def __init__(self, workflow: Deliverer) -> None:
        self.workflow = workflow
        self._queues: dict[Pair, list[Job]] = {}
        self._tasks: dict[Pair, asyncio.Task[None]] = {}
        self._queued: set[tuple[str, str, int, int]] = set()

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def enqueue(self, job: Job) -> None:
        """Deliver `job` after every earlier message of the same pair (the queue is kept in
        send order: the sender's seq, then the action's index)."""
        if job.key in self._queued:
            return
        self._queued.add(job.key)
        pair = (job.machine, job.instance, job.name, job.target or "")
        bisect.insort(self._queues.setdefault(pair, []), job, key=_send_order)
        if pair not in self._tasks:
            self._tasks[pair] = asyncio.create_task(self._run(pair), name="statesync-messages")

    def _take_earlier(self, queue: list[Job], earlier: list[Job]) -> bool:
        """Cluster mode: queue the pair's older pending messages that other processes own (or
        owned), so the pair's order holds whichever process committed each one; delivering
        one twice is harmless (the receiver's event id dedups it)."""
        new = [job for job in earlier if job.key not in self._queued]
        for job in new:
            self._queued.add(job.key)
            bisect.insort(queue, job, key=_send_order)
        return bool(new)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, pair: Pair) -> None:
        queue = self._queues[pair]
        failures = 0
        try:
            while queue:
                job = queue[0]
                if self.workflow.clustered:
                    earlier = await self.workflow.earlier_messages(job)
                    # older ones were queued meanwhile (taken over from a stopped process)
                    if self._take_earlier(queue, earlier) or queue[0] is not job:
                        continue
                if await self.workflow.deliver_message(job):
                    queue.remove(job)
                    self._queued.discard(job.key)
                    failures = 0
                else:
                    failures += 1
                    await asyncio.sleep(min(0.05 * 2**failures, 5.0))
        finally:
            del self._tasks[pair]
            if not queue:
                del self._queues[pair]


def _send_order(job: Job) -> tuple[int, int]:
    return job.key[2], job.key[3]
