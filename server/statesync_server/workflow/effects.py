"""Effects and invoked services: server-side async functions run from the outbox.

An effect is a named action with no implementation in the machine (`"actions": "sendEmail"`);
an invoked service is an `invoke: {"src": "chargeCard"}`. Both are implemented next to the
machine in the app:

    async def send_email(call: EffectCall) -> None:
        await mailer.send(to=call.params["to"], idempotency_key=call.idempotency_key)

    app.register("onboarding", machine, effects={"sendEmail": send_email},
                 services={"chargeCard": charge_card}, retry=Retry(max_attempts=5))

The runner starts a job only after the transition that produced it is committed (its outbox
row is part of that transaction), runs it at least once (again after a crash) with the same
`idempotency_key`, retries failures with exponential backoff up to `Retry.max_attempts`, and
bounds each run by `Retry.timeout`. A service's return value comes back to its instance as
`xstate.done.actor.<id>` (`output`), its final failure as `xstate.error.actor.<id>` (`error`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .. import logs
from ..effect_types import EffectCall, Retry
from ..store.store import dumps
from ..store.workrows import OutboxKey, key_text

if TYPE_CHECKING:
    from ..app import MachineSpec

log = logging.getLogger("statesync.effects")


@dataclass(slots=True)
class Job:
    """One pending outbox row of kind effect or service, as the runner holds it."""

    key: OutboxKey
    kind: str
    name: str
    target: str | None
    payload: dict[str, Any]
    attempts: int = 0
    next_at: float = 0.0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def machine(self) -> str:
        return self.key[0]

    @property
    def instance(self) -> str:
        return self.key[1]


class JobOwner(Protocol):
    """What the runner uses of the workflow runtime that owns it (workflow.py; passed in, never
    imported: the runtime imports this module)."""

    engine: Any

    def spec_for(self, machine: str) -> MachineSpec | None: ...

    def implementation(self, machine: str, kind: str, name: str) -> Any: ...

    async def job_succeeded(self, job: Job, result: Any) -> None: ...

    async def job_failed(self, job: Job, error: str) -> None: ...

    async def job_retrying(self, job: Job, error: str) -> None: ...


class EffectRunner:
    """Runs jobs (at most `concurrency` at a time) and reports outcomes to the workflow."""

    def __init__(self, workflow: JobOwner, *, concurrency: int = 1000) -> None:
        self.workflow = workflow
        self._slots = asyncio.Semaphore(concurrency)
        self.jobs: dict[OutboxKey, Job] = {}
        self._parked: set[OutboxKey] = set()
        """Jobs waiting on the clock (a retry's backoff, a start time not reached)."""

    @property
    def running(self) -> int:
        return len(self.jobs)

    @property
    def busy(self) -> int:
        """Jobs running or about to (not waiting on the clock)."""
        return sum(1 for key in self.jobs if key not in self._parked)

    async def _wait_until(self, job: Job, when: float) -> None:
        clock = self.workflow.engine.clock
        wait = when - clock.time()
        if wait <= 0:
            return
        self._parked.add(job.key)
        try:
            await clock.sleep(wait)
        finally:
            self._parked.discard(job.key)

    def start(self, job: Job) -> None:
        if job.key in self.jobs:
            return
        self.jobs[job.key] = job
        job.task = asyncio.create_task(self._run(job), name=f"statesync-{job.kind}-{key_text(job.key)}")

    def cancel(self, key: OutboxKey) -> None:
        """Stop a service whose state was left (its late result would be dropped anyway)."""
        job = self.jobs.pop(key, None)
        if job is not None and job.task is not None:
            job.task.cancel()

    async def stop(self) -> None:
        tasks = [job.task for job in self.jobs.values() if job.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.jobs.clear()

    async def _run(self, job: Job) -> None:
        try:
            await self._attempts(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("effect runner failed on %s", key_text(job.key))
        finally:
            if self.jobs.get(job.key) is job:
                del self.jobs[job.key]
                self._parked.discard(job.key)

    async def _attempts(self, job: Job) -> None:
        spec = self.workflow.spec_for(job.machine)
        retry = spec.retry if spec is not None else Retry()
        impl = self.workflow.implementation(job.machine, job.kind, job.name)
        clock = self.workflow.engine.clock
        await self._wait_until(job, job.next_at)
        while True:
            attempt = job.attempts + 1
            final = impl is None
            started = time.perf_counter()
            if impl is None:
                error = f"no {job.kind} implementation registered for {job.name!r}"
            else:
                try:
                    async with self._slots:
                        started = time.perf_counter()
                        result = await clock.timeout(self._call(impl, job, attempt), retry.timeout)
                    if job.kind == "service":
                        dumps(result)  # the output must be JSON, or it cannot be delivered
                except asyncio.CancelledError:
                    raise
                except TimeoutError:
                    error = f"timed out after {retry.timeout:g} s"
                except Exception as exc:  # noqa: BLE001 - any failure of user code is retried
                    error = f"{type(exc).__name__}: {exc}"
                else:
                    job.attempts = attempt
                    self._observe(job, attempt, started, None, False)
                    await self.workflow.job_succeeded(job, result)
                    return
            job.attempts = attempt
            final = final or attempt >= retry.max_attempts
            self._observe(job, attempt, started, error, final)
            if final:
                await self.workflow.job_failed(job, error)
                return
            delay = retry.delay(attempt, clock.jitter)
            job.next_at = clock.time() + delay
            await self.workflow.job_retrying(job, error)
            await self._wait_until(job, job.next_at)

    def _observe(self, job: Job, attempt: int, started: float, error: str | None,
                 final: bool) -> None:
        """Count an attempt and log its line: done, retry (at WARNING) or failed (ERROR)."""
        self.workflow.engine.metrics.attempt(job.machine, job.kind, job.name, error is None, final)
        outcome = "done" if error is None else "failed" if final else "retry"
        if logs.effects.isEnabledFor(logs.EFFECT_LEVELS[outcome]):
            logs.effect(outcome, job.machine, job.instance, job.key[2], job.kind, job.name,
                        attempt, time.perf_counter() - started, error)

    async def _call(self, impl: Any, job: Job, attempt: int) -> Any:
        payload = job.payload
        clock = self.workflow.engine.clock

        async def sleep(seconds: float) -> None:
            await self._wait_until(job, clock.time() + seconds)

        call = EffectCall(
            kind=job.kind, name=job.name, machine=job.machine, instance=job.instance,
            idempotency_key=key_text(job.key), attempt=attempt, params=payload.get("params"),
            input=payload.get("input"), invoke_id=job.target, event=payload.get("event"),
            context=payload.get("context"), sleep=sleep,
        )
        result = impl(call)
        if inspect.isawaitable(result):
            result = await result
        return result
