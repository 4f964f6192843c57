"""Dependency-aware builds of daily data partitions, as data build systems do them.

Run it:   BUILD_DATA_DIR=build-data statesync serve examples/build/app.py
          (README.md walks through a build, a retry and a crash in the middle of one)

A *want* asks for partitions (`report@2026-12-01`); the orchestrator starts a job *run* for
each partition once everything it is built from is built, retries failed runs, and answers
the want. Wants, the orchestrator, partitions and runs are all instances, of four machines
(machines.py) that talk only through messages, so the whole build is in their event logs
and carries on where it was after a crash.
"""

from __future__ import annotations

from pathlib import Path

from graph import split
from jobs import JOB_TIMEOUT_S, run_job
from machines import ORCHESTRATOR, orchestrator_machine, partition_machine, run_machine, want_machine
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from statesync_server import Access, App, ErrorCode, Index, Retry, StatesyncError


class WantInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partitions: list[str] = Field(min_length=1, max_length=100)


def _valid_want(access: Access) -> bool:
    """A want's input names partitions of known assets (a structured error otherwise)."""
    try:
        for partition in WantInput.model_validate((access.event or {}).get("input")).partitions:
            split(partition)
    except (ValidationError, ValueError) as exc:
        raise StatesyncError(ErrorCode.INVALID_EVENT, f"want input: {exc}".splitlines()[0]) from None
    return True


def _from(access: Access, *machines: str) -> bool:
    """The write is a message from an instance of one of `machines`."""
    return access.origin == "instance" and access.sender is not None and access.sender[0] in machines


def may_write_want(access: Access) -> bool:
    """Anyone signed in asks for partitions; only the orchestrator answers."""
    if access.creating:
        return access.origin == "client" and _valid_want(access)
    return _from(access, "orchestrator")


def may_write_orchestrator(access: Access) -> bool:
    """Wants start it and ask it for partitions; runs report to it. No client writes."""
    if access.creating:
        return _from(access, "want") and access.instance == ORCHESTRATOR
    kind = (access.event or {}).get("type")
    return _from(access, "want") if kind == "WANT" else _from(access, "run")


def by_orchestrator(access: Access) -> bool:
    """Partitions and runs are created and told only by the orchestrator."""
    return access.sender == ("orchestrator", ORCHESTRATOR)


def may_read(access: Access) -> bool:
    """Builds are no secret among signed-in users (an operator's view)."""
    return access.subject is not None


app = App(static_dir=Path(__file__).parent / "static")
app.register("want", want_machine, allow_read=may_read, allow_write=may_write_want, events={})
app.register("orchestrator", orchestrator_machine, allow_read=may_read,
             allow_write=may_write_orchestrator, events={},
             public_context=lambda ctx: {"partitions": ctx["partitions"], "wants": ctx["wants"]})
app.register("partition", partition_machine, allow_read=may_read, allow_write=by_orchestrator,
             events={}, indexes={"date": Index("date", public=True)})
app.register("run", run_machine, allow_read=may_read, allow_write=by_orchestrator, events={},
             services={"job": run_job},
             # one attempt per run: retries are new runs, decided by the orchestrator and logged
             retry=Retry(max_attempts=1, timeout=JOB_TIMEOUT_S))
