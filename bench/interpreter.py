"""Interpreter benchmark: statesync against pure-Python peers from PyPI and XState 5, in one run.

Three equivalent machines ("shapes") are built in every library:

1. ``flat``:     a -> b -> c -> a, all on the event NEXT.
2. ``nested``:   two 3-level compound trees x/x1/x11/{xa,xb} and y/y1/y11/{ya,yb};
                 SIDE moves between sibling leaves, DEEP jumps from leaf xb to leaf ya across
                 every parent, UP is handled by the ancestor ``y`` (from leaf yb) and re-enters
                 ``x`` through its initial states.
3. ``parallel``: a parallel state ``p`` with two regions that both react to TICK: ``light``
                 toggles off <-> lit; ``meter`` goes idle -> small when the guard ``count % 2 == 0``
                 holds, else idle -> big, and back to idle incrementing ``count`` (an assign).

"Transitions per second" counts external events processed (one macrostep each; in the parallel
shape one event takes a transition in each of the two regions). Each library fires events its
fastest documented way, with the event objects built before the clock starts; the state is read
after the timed loop and checked against the expected one (plus the counter), so a library
that silently does nothing fails loudly instead of winning.

XState 5 (tests/js/node_modules) runs the same configs in a Node process (bench/xstate_peer.js)
that times its own loop; its runs are interleaved with the Python ones. Two pairs are compared:

* ``statesync-send`` vs ``xstate-send``: what a live instance does per event. XState:
  ``actor.send(event)`` on a started actor. statesync: ``machine.take(snapshot, event)`` (the
  server engine's per-event call: one selection, None for an event no transition takes) and
  the new snapshot's ``value`` (XState computes its snapshot's value on every transition).
* ``statesync`` vs ``xstate-transition``: the pure functions, ``machine.transition(snapshot,
  event)`` and XState's ``transition(machine, snapshot, event)``.

Usage::

    python bench/interpreter.py                 # full run (~0.5 s per measurement)
    python bench/interpreter.py --quick         # smoke run
    python bench/interpreter.py --json out.json # also write the results
    python bench/interpreter.py --profile       # cProfile statesync's side on each shape
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

# Run from a checkout without installing: make sdk_py/ importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sdk_py"))

Leaves = frozenset[str]


# --------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Shape:
    """One benchmark machine, described independently of any library."""

    key: str
    cycle: tuple[str, ...]
    """Event types of one cycle; a cycle always ends in the initial configuration."""
    trace: tuple[Leaves, ...]
    """Active leaf states after each event of the first cycle."""
    counts: tuple[int, ...] | None
    """Context counter after each event of the first cycle (None: the shape has no counter)."""

    @property
    def initial(self) -> Leaves:
        """Active leaves at start (and after every whole cycle)."""
        return self.trace[-1]

    @property
    def count_per_cycle(self) -> int:
        """How much the counter grows over one cycle."""
        return self.counts[-1] if self.counts else 0


def _leaves(*names: str) -> Leaves:
    return frozenset(names)


SHAPES: tuple[Shape, ...] = (
    Shape("flat", ("NEXT",) * 3, (_leaves("b"), _leaves("c"), _leaves("a")), None),
    Shape(
        "nested",
        ("SIDE", "DEEP", "SIDE", "UP"),
        (_leaves("xb"), _leaves("ya"), _leaves("yb"), _leaves("xa")),
        None,
    ),
    Shape(
        "parallel",
        ("TICK",) * 4,
        (
            _leaves("lit", "small"),
            _leaves("off", "idle"),
            _leaves("lit", "big"),
            _leaves("off", "idle"),
        ),
        (0, 1, 1, 2),
    ),
)


class Case(Protocol):
    """One library running one shape: a live machine plus how to drive and inspect it."""

    def events(self, names: list[str]) -> list[Any]:
        """Library-specific event objects for ``names``, built before timing."""

    def run(self, events: list[Any]) -> float | None:
        """Fire every event, in order (this is the timed loop). Returns the seconds it took
        when the library times itself (in another process), else None."""

    def leaves(self) -> Leaves:
        """Names of the active atomic states."""

    def count(self) -> int | None:
        """The context counter, or None when the shape has none."""


# --------------------------------------------------------------------------- statesync

_STATESYNC_CONFIGS: dict[str, dict[str, Any]] = {
    "flat": {
        "id": "flat",
        "initial": "a",
        "states": {
            "a": {"on": {"NEXT": "b"}},
            "b": {"on": {"NEXT": "c"}},
            "c": {"on": {"NEXT": "a"}},
        },
    },
    "nested": {
        "id": "nested",
        "initial": "x",
        "states": {
            "x": {
                "initial": "x1",
                "states": {
                    "x1": {
                        "initial": "x11",
                        "states": {
                            "x11": {
                                "initial": "xa",
                                "states": {
                                    "xa": {"on": {"SIDE": "xb"}},
                                    "xb": {"on": {"DEEP": "#nested.y.y1.y11.ya"}},
                                },
                            }
                        },
                    }
                },
            },
            "y": {
                "initial": "y1",
                "on": {"UP": "x"},
                "states": {
                    "y1": {
                        "initial": "y11",
                        "states": {
                            "y11": {
                                "initial": "ya",
                                "states": {"ya": {"on": {"SIDE": "yb"}}, "yb": {}},
                            }
                        },
                    }
                },
            },
        },
    },
    "parallel": {
        "id": "parallel",
        "initial": "p",
        "context": {"count": 0},
        "states": {
            "p": {
                "type": "parallel",
                "states": {
                    "light": {
                        "initial": "off",
                        "states": {
                            "off": {"on": {"TICK": "lit"}},
                            "lit": {"on": {"TICK": "off"}},
                        },
                    },
                    "meter": {
                        "initial": "idle",
                        "states": {
                            "idle": {
                                "on": {
                                    "TICK": [
                                        {"target": "small", "guard": "isEven"},
                                        {"target": "big"},
                                    ]
                                }
                            },
                            "small": {
                                "on": {"TICK": {"target": "idle", "actions": "inc"}}
                            },
                            "big": {
                                "on": {"TICK": {"target": "idle", "actions": "inc"}}
                            },
                        },
                    },
                },
            }
        },
    },
}


def _value_leaves(value: Any) -> Leaves:
    """Leaf names of an XState StateValue (a string or a nested dict)."""
    if isinstance(value, str):
        return frozenset((value,))
    return frozenset().union(*(_value_leaves(v) for v in value.values()))


class StatesyncCase:
    """statesync: the pure ``machine.transition(snapshot, event)``; the snapshot is threaded."""

    def __init__(self, shape: Shape) -> None:
        from statesync import Machine, assign

        self.machine = Machine(
            _STATESYNC_CONFIGS[shape.key],
            actions={"inc": assign(lambda ctx, ev: {"count": ctx["count"] + 1})},
            guards={"isEven": lambda ctx, ev: ctx["count"] % 2 == 0},
        )
        self.snapshot, _ = self.machine.initial_transition()

    def events(self, names: list[str]) -> list[Any]:
        return [{"type": name} for name in names]

    def run(self, events: list[Any]) -> None:
        transition = self.machine.transition
        snapshot = self.snapshot
        for event in events:
            snapshot, _ = transition(snapshot, event)
        self.snapshot = snapshot

    def leaves(self) -> Leaves:
        return _value_leaves(self.snapshot.value)

    def count(self) -> int | None:
        return self.snapshot.context.get("count")


class StatesyncSendCase(StatesyncCase):
    """statesync as a live instance: ``machine.take(snapshot, event)`` (what the server's
    engine runs per event) and the new snapshot's ``value`` (persisted and broadcast)."""

    def run(self, events: list[Any]) -> None:
        take = self.machine.take
        snapshot = self.snapshot
        for event in events:
            taken = take(snapshot, event)
            if taken is not None:
                snapshot = taken[0]
                snapshot.value  # noqa: B018 - computed as XState computes its snapshot's value
        self.snapshot = snapshot


# --------------------------------------------------------------------------- XState (Node)

_PEER_SCRIPT = Path(__file__).resolve().parent / "xstate_peer.js"


class _Node:
    """The one Node process running bench/xstate_peer.js (started on first use)."""

    process: subprocess.Popen[str] | None = None

    @classmethod
    def ask(cls, command: dict[str, Any]) -> dict[str, Any]:
        if cls.process is None:
            node = shutil.which("node")
            if node is None:
                raise BenchmarkError("the XState peer needs node on PATH")
            cls.process = subprocess.Popen(
                [node, str(_PEER_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            atexit.register(cls.close)
        assert cls.process.stdin is not None and cls.process.stdout is not None
        cls.process.stdin.write(json.dumps(command) + "\n")
        cls.process.stdin.flush()
        answer = json.loads(cls.process.stdout.readline() or '{"error": "node exited"}')
        if "error" in answer:
            raise BenchmarkError(f"xstate_peer.js: {answer['error']}")
        return answer

    @classmethod
    def close(cls) -> None:
        if cls.process is not None:
            assert cls.process.stdin is not None
            cls.process.stdin.close()
            cls.process.wait(timeout=10)
            cls.process = None


class XStateCase:
    """XState 5 in Node: ``actor.send(event)`` (mode ``send``) or the pure
    ``transition(machine, snapshot, event)`` (mode ``transition``), timed inside Node."""

    opened = 0

    def __init__(self, shape: Shape, mode: str) -> None:
        XStateCase.opened += 1
        self.id = XStateCase.opened
        self.state = _Node.ask(
            {"open": self.id, "config": _STATESYNC_CONFIGS[shape.key], "mode": mode}
        )

    def events(self, names: list[str]) -> list[Any]:
        return names

    def run(self, events: list[Any]) -> float:
        self.state = _Node.ask({"run": self.id, "events": events})
        return float(self.state["seconds"])

    def leaves(self) -> Leaves:
        return _value_leaves(self.state["value"])

    def count(self) -> int | None:
        return self.state["count"]


# --------------------------------------------------------------------------- transitions


class _TransitionsModel:
    """Model object for ``transitions``: carries the counter, guard and action."""

    count = 0

    def is_even(self) -> bool:
        return self.count % 2 == 0

    def inc(self) -> None:
        self.count += 1


def _tree(name: str, *path: str, leaves: tuple[str, str]) -> dict[str, Any]:
    """A chain of compound states ``name/path[0]/...`` whose innermost holds ``leaves``."""
    if not path:
        return {"name": name, "initial": leaves[0], "children": list(leaves)}
    return {"name": name, "initial": path[0], "children": [_tree(*path, leaves=leaves)]}


class TransitionsCase:
    """transitions 0.9: ``Machine`` for the flat shape, ``HierarchicalMachine`` otherwise.

    Events are fired with the documented convenience trigger ``model.NEXT()`` (a touch faster
    than ``model.trigger("NEXT")``), the bound methods looked up before timing. The transition
    action is a ``before`` callback. Defaults otherwise (auto transitions, no queue, no locks).
    """

    def __init__(self, shape: Shape) -> None:
        from transitions import Machine
        from transitions.extensions import HierarchicalMachine

        self.model = _TransitionsModel()
        self.has_count = shape.key == "parallel"
        if shape.key == "flat":
            t = [["NEXT", "a", "b"], ["NEXT", "b", "c"], ["NEXT", "c", "a"]]
            Machine(
                model=self.model, states=["a", "b", "c"], transitions=t, initial="a"
            )
        elif shape.key == "nested":
            states = [
                _tree("x", "x1", "x11", leaves=("xa", "xb")),
                _tree("y", "y1", "y11", leaves=("ya", "yb")),
            ]
            t = [
                ["SIDE", "x_x1_x11_xa", "x_x1_x11_xb"],
                ["DEEP", "x_x1_x11_xb", "y_y1_y11_ya"],
                ["SIDE", "y_y1_y11_ya", "y_y1_y11_yb"],
                ["UP", "y", "x"],
            ]
            HierarchicalMachine(
                model=self.model, states=states, transitions=t, initial="x"
            )
        else:
            states = [
                {
                    "name": "p",
                    "parallel": [
                        {"name": "light", "initial": "off", "children": ["off", "lit"]},
                        {
                            "name": "meter",
                            "initial": "idle",
                            "children": ["idle", "small", "big"],
                        },
                    ],
                }
            ]
            t = [
                {"trigger": "TICK", "source": "p_light_off", "dest": "p_light_lit"},
                {"trigger": "TICK", "source": "p_light_lit", "dest": "p_light_off"},
                {
                    "trigger": "TICK",
                    "source": "p_meter_idle",
                    "dest": "p_meter_small",
                    "conditions": "is_even",
                },
                {"trigger": "TICK", "source": "p_meter_idle", "dest": "p_meter_big"},
                {
                    "trigger": "TICK",
                    "source": "p_meter_small",
                    "dest": "p_meter_idle",
                    "before": "inc",
                },
                {
                    "trigger": "TICK",
                    "source": "p_meter_big",
                    "dest": "p_meter_idle",
                    "before": "inc",
                },
            ]
            HierarchicalMachine(
                model=self.model, states=states, transitions=t, initial="p"
            )

    def events(self, names: list[str]) -> list[Any]:
        return [getattr(self.model, name) for name in names]

    def run(self, events: list[Any]) -> None:
        for trigger in events:
            trigger()

    def leaves(self) -> Leaves:
        state = self.model.state
        names = state if isinstance(state, list) else [state]
        return frozenset(name.rsplit("_", 1)[-1] for name in names)

    def count(self) -> int | None:
        return self.model.count if self.has_count else None


# --------------------------------------------------------------------------- python-statemachine


def _psm_classes() -> dict[str, type]:
    """The three shapes as python-statemachine ``StateChart`` classes.

    ``StateChart`` is the 3.x statechart class (SCXML semantics, like ours). Its legacy
    subclass ``StateMachine`` (atomic configuration update, errors raised) measured ~10% faster
    here; we keep ``StateChart`` and its defaults. State names must be unique machine-wide.
    """
    from statemachine import State, StateChart

    class Flat(StateChart):
        a = State(initial=True)
        b = State()
        c = State()
        NEXT = a.to(b) | b.to(c) | c.to(a)

    class Nested(StateChart):
        class x(State.Compound):
            class x1(State.Compound):
                class x11(State.Compound):
                    xa = State(initial=True)
                    xb = State()
                    SIDE = xa.to(xb)

        class y(State.Compound):
            class y1(State.Compound):
                class y11(State.Compound):
                    ya = State(initial=True)
                    yb = State()
                    SIDE = ya.to(yb)

        DEEP = x.x1.x11.xb.to(y.y1.y11.ya)
        UP = y.to(x)

    class Parallel(StateChart):
        class p(State.Parallel):
            class light(State.Compound):
                off = State(initial=True)
                lit = State()
                TICK = off.to(lit) | lit.to(off)

            class meter(State.Compound):
                idle = State(initial=True)
                small = State()
                big = State()
                TICK = (
                    idle.to(small, cond="is_even")
                    | idle.to(big)
                    | small.to(idle, on="inc")
                    | big.to(idle, on="inc")
                )

        count = 0

        def is_even(self) -> bool:
            return self.count % 2 == 0

        def inc(self) -> None:
            self.count += 1

    return {"flat": Flat, "nested": Nested, "parallel": Parallel}


class PythonStatemachineCase:
    """python-statemachine 3.x: events fired by calling the bound event (``sm.NEXT()``),
    looked up before timing (same cost as ``sm.send("NEXT")``)."""

    def __init__(self, shape: Shape) -> None:
        self.sm = _psm_classes()[shape.key]()
        self.has_count = shape.key == "parallel"

    def events(self, names: list[str]) -> list[Any]:
        return [getattr(self.sm, name) for name in names]

    def run(self, events: list[Any]) -> None:
        for event in events:
            event()

    def leaves(self) -> Leaves:
        return frozenset(s.id for s in self.sm.configuration if not s.states)

    def count(self) -> int | None:
        return self.sm.count if self.has_count else None


# --------------------------------------------------------------------------- sismic

_SISMIC_YAML: dict[str, str] = {
    "flat": """
statechart:
  name: flat
  root state:
    name: root
    initial: a
    states:
      - {name: a, transitions: [{target: b, event: NEXT}]}
      - {name: b, transitions: [{target: c, event: NEXT}]}
      - {name: c, transitions: [{target: a, event: NEXT}]}
""",
    "nested": """
statechart:
  name: nested
  root state:
    name: root
    initial: x
    states:
      - name: x
        initial: x1
        states:
          - name: x1
            initial: x11
            states:
              - name: x11
                initial: xa
                states:
                  - {name: xa, transitions: [{target: xb, event: SIDE}]}
                  - {name: xb, transitions: [{target: ya, event: DEEP}]}
      - name: y
        initial: y1
        transitions: [{target: x, event: UP}]
        states:
          - name: y1
            initial: y11
            states:
              - name: y11
                initial: ya
                states:
                  - {name: ya, transitions: [{target: yb, event: SIDE}]}
                  - {name: yb}
""",
    # sismic treats two enabled transitions in one state as non-determinism (an error), so the
    # fallback of the guard needs the complementary guard: one more guard evaluation than the
    # others do on idle -> big.
    "parallel": """
statechart:
  name: parallel
  preamble: count = 0
  root state:
    name: root
    initial: p
    states:
      - name: p
        parallel states:
          - name: light
            initial: "off"
            states:
              - {name: "off", transitions: [{target: lit, event: TICK}]}
              - {name: lit, transitions: [{target: "off", event: TICK}]}
          - name: meter
            initial: idle
            states:
              - name: idle
                transitions:
                  - {target: small, event: TICK, guard: count % 2 == 0}
                  - {target: big, event: TICK, guard: count % 2 != 0}
              - {name: small, transitions: [{target: idle, event: TICK, action: count += 1}]}
              - {name: big, transitions: [{target: idle, event: TICK, action: count += 1}]}
""",
}


class SismicCase:
    """sismic: ``interpreter.queue(event)`` then ``interpreter.execute_once()`` per event, with
    ``Event`` objects built before timing. Defaults kept: the ``PythonEvaluator`` (guards and
    actions are code strings), contracts checked, simulated clock."""

    def __init__(self, shape: Shape) -> None:
        from sismic.interpreter import Interpreter
        from sismic.io import import_from_yaml

        self.statechart = import_from_yaml(_SISMIC_YAML[shape.key])
        self.interpreter = Interpreter(self.statechart)
        self.interpreter.execute_once()  # enter the initial configuration
        self.has_count = shape.key == "parallel"

    def events(self, names: list[str]) -> list[Any]:
        from sismic.model import Event

        return [Event(name) for name in names]

    def run(self, events: list[Any]) -> None:
        queue = self.interpreter.queue
        execute_once = self.interpreter.execute_once
        for event in events:
            queue(event)
            execute_once()

    def leaves(self) -> Leaves:
        children_for = self.statechart.children_for
        return frozenset(
            s for s in self.interpreter.configuration if not children_for(s)
        )

    def count(self) -> int | None:
        return self.interpreter.context["count"] if self.has_count else None


LIBRARIES: dict[str, Callable[[Shape], Case]] = {
    "statesync": StatesyncCase,
    "statesync-send": StatesyncSendCase,
    "xstate-send": lambda shape: XStateCase(shape, "send"),
    "xstate-transition": lambda shape: XStateCase(shape, "transition"),
    "transitions": TransitionsCase,
    "python-statemachine": PythonStatemachineCase,
    "sismic": SismicCase,
}


# --------------------------------------------------------------------------- measuring


class BenchmarkError(AssertionError):
    """A library did not end in the expected state: its numbers would be meaningless."""


@dataclass
class Result:
    """One library on one shape: the median rate and every run behind it."""

    shape: str
    library: str
    tps: float
    """Median transitions (events) per second."""
    runs: list[float]
    events_per_run: int


def _check(
    case: Case, shape: Shape, leaves: Leaves, count: int | None, where: str, lib: str
) -> None:
    got_leaves, got_count = case.leaves(), case.count()
    if got_leaves != leaves or got_count != count:
        raise BenchmarkError(
            f"{lib} / {shape.key} {where}: expected {sorted(leaves)} count={count}, "
            f"got {sorted(got_leaves)} count={got_count}"
        )


class Bench:
    """Drives one ``Case``: checks the first cycle step by step, then times whole cycles."""

    def __init__(self, library: str, shape: Shape) -> None:
        self.library, self.shape = library, shape
        self.case = LIBRARIES[library](shape)
        self.cycles = 0
        _check(self.case, shape, shape.initial, self._count(), "at start", library)
        for i, name in enumerate(shape.cycle):
            self.case.run(self.case.events([name]))
            count = shape.counts[i] if shape.counts else None
            _check(
                self.case,
                shape,
                shape.trace[i],
                count,
                f"after event {i + 1} ({name})",
                library,
            )
        self.cycles = 1

    def _count(self) -> int | None:
        return self.cycles * self.shape.count_per_cycle if self.shape.counts else None

    def timed(self, cycles: int) -> float:
        """Fire ``cycles`` whole cycles; return the seconds taken; verify the end state."""
        events = self.case.events(list(self.shape.cycle) * cycles)
        gc.collect()
        start = time.perf_counter()
        measured = self.case.run(events)
        elapsed = time.perf_counter() - start if measured is None else measured
        self.cycles += cycles
        _check(
            self.case,
            self.shape,
            self.shape.initial,
            self._count(),
            "after the timed loop",
            self.library,
        )
        return elapsed

    def calibrate(self, seconds: float) -> int:
        """Warm up, doubling the work until it takes a tenth of ``seconds``; return the number
        of cycles that takes about ``seconds``."""
        cycles = 8
        while (elapsed := self.timed(cycles)) < seconds / 10:
            cycles *= 2
        return max(1, round(cycles * seconds / elapsed))

    def result(self, runs: list[float], cycles: int) -> Result:
        return Result(
            self.shape.key,
            self.library,
            statistics.median(runs),
            runs,
            cycles * len(self.shape.cycle),
        )


def measure_shape(
    shape: Shape, libs: list[str], seconds: float, repeats: int
) -> list[Result]:
    """Time every library on ``shape``. Repeats are interleaved round-robin across libraries,
    so a burst of load from other processes hits all of them alike, not one."""
    benches = [Bench(lib, shape) for lib in libs]
    cycles = [bench.calibrate(seconds) for bench in benches]
    runs: list[list[float]] = [[] for _ in benches]
    for _ in range(repeats):
        for bench, n, out in zip(benches, cycles, runs):
            out.append(n * len(shape.cycle) / bench.timed(n))
    return [bench.result(r, n) for bench, r, n in zip(benches, runs, cycles)]


# --------------------------------------------------------------------------- reporting


OURS_FOR: dict[str, str] = {"xstate-send": "statesync-send", "xstate-transition": "statesync"}
"""The statesync row each peer is compared with (the others: ``statesync``)."""
PYTHON_PEERS = ("transitions", "python-statemachine", "sismic")
XSTATE_SEND_TARGET = 1.5
"""statesync-send / xstate-send on every shape (issue 24)."""


def _targets(results: list[Result]) -> dict[str, dict[str, Any]]:
    """Per shape: statesync vs the fastest Python peer, vs 3x sismic, and statesync-send vs
    1.5x XState's actor.send (the pure transitions' ratio is reported beside it)."""
    out: dict[str, dict[str, Any]] = {}
    for shape in SHAPES:
        rows = {r.library: r.tps for r in results if r.shape == shape.key}
        entry: dict[str, Any] = {}
        if "statesync" in rows:
            ours = rows["statesync"]
            peers = {lib: rows[lib] for lib in PYTHON_PEERS if lib in rows}
            if peers:
                fastest = max(peers, key=peers.__getitem__)
                entry["fastest_peer"] = fastest
                entry["beats_fastest_peer"] = ours >= peers[fastest]
            if "sismic" in peers:
                entry["vs_sismic"] = ours / peers["sismic"]
                entry["3x_sismic"] = ours >= 3 * peers["sismic"]
            if "xstate-transition" in rows:
                entry["vs_xstate_transition"] = ours / rows["xstate-transition"]
        if "statesync-send" in rows and "xstate-send" in rows:
            entry["vs_xstate_send"] = rows["statesync-send"] / rows["xstate-send"]
            entry["1.5x_xstate_send"] = entry["vs_xstate_send"] >= XSTATE_SEND_TARGET
        if entry:
            out[shape.key] = entry
    return out


def _table(results: list[Result]) -> str:
    tps = {(r.shape, r.library): r.tps for r in results}
    lines = [
        f"{'shape':<10} {'library':<20} {'transitions/s':>14} {'statesync/peer':>15}"
    ]
    lines.append("-" * len(lines[0]))
    for r in results:
        ours = tps.get((r.shape, OURS_FOR.get(r.library, "statesync")))
        ratio = (
            f"{ours / r.tps:.2f}x"
            if ours is not None and not r.library.startswith("statesync")
            else "-"
        )
        lines.append(f"{r.shape:<10} {r.library:<20} {r.tps:>14,.0f} {ratio:>15}")
    return "\n".join(lines)


TARGET_KEYS = ("beats_fastest_peer", "3x_sismic", "1.5x_xstate_send")


def _targets_text(targets: dict[str, dict[str, Any]]) -> str:
    lines = ["Targets:"]
    for shape, t in targets.items():
        parts = []
        if "beats_fastest_peer" in t:
            parts.append(
                f">= fastest peer ({t['fastest_peer']}): {'PASS' if t['beats_fastest_peer'] else 'FAIL'}"
            )
        if "3x_sismic" in t:
            parts.append(
                f">= 3x sismic ({t['vs_sismic']:.1f}x): {'PASS' if t['3x_sismic'] else 'FAIL'}"
            )
        if "1.5x_xstate_send" in t:
            parts.append(
                f"send >= {XSTATE_SEND_TARGET}x XState actor.send ({t['vs_xstate_send']:.2f}x): "
                f"{'PASS' if t['1.5x_xstate_send'] else 'FAIL'}"
            )
        if "vs_xstate_transition" in t:
            parts.append(f"vs XState transition() {t['vs_xstate_transition']:.2f}x")
        lines.append(f"  {shape:<10} " + "; ".join(parts))
    every = [v for t in targets.values() for k, v in t.items() if k in TARGET_KEYS]
    lines.append(f"  all targets met: {'yes' if every and all(every) else 'no'}")
    return "\n".join(lines)


def profile(shapes: tuple[Shape, ...], seconds: float, top: int = 15) -> None:
    """cProfile statesync's timed loop on each shape and print the hottest functions."""
    for shape in shapes:
        bench = Bench("statesync", shape)
        cycles = bench.calibrate(seconds)
        profiler = cProfile.Profile()
        profiler.enable()
        bench.timed(cycles)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime")
        stats.print_stats(top)
        print(f"=== statesync / {shape.key}: {cycles * len(shape.cycle)} events ===")
        print(out.getvalue().split("\n", 4)[-1].strip("\n"))  # drop the pstats preamble
        print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="short run (smoke test), numbers are noisy"
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument(
        "--libs", default=",".join(LIBRARIES), help="comma-separated libraries to run"
    )
    parser.add_argument(
        "--shapes",
        default=",".join(s.key for s in SHAPES),
        help="comma-separated shapes",
    )
    parser.add_argument(
        "--seconds", type=float, help="target seconds per measurement (default 0.5)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="measurements per case; the median is reported (default 5)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile statesync instead of comparing"
    )
    args = parser.parse_args(argv)

    libs = [lib for lib in args.libs.split(",") if lib]
    shapes = tuple(s for s in SHAPES if s.key in args.shapes.split(","))
    unknown = set(libs) - set(LIBRARIES)
    if unknown or not shapes:
        parser.error(
            f"unknown libraries {sorted(unknown)}"
            if unknown
            else "no known shape selected"
        )
    seconds = args.seconds or (0.02 if args.quick else 0.5)
    repeats = args.repeats or (1 if args.quick else 5)

    if args.profile:
        profile(shapes, seconds)
        return 0

    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{repeats} x ~{seconds}s per measurement, median reported"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5:
        print(
            f"warning: load average {load:.1f}: other processes compete for the CPU, numbers are noisy"
        )
    results = [
        r for shape in shapes for r in measure_shape(shape, libs, seconds, repeats)
    ]
    targets = _targets(results)
    print(_table(results))
    print(_targets_text(targets))

    if args.json:
        payload = {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "quick": args.quick,
            "seconds": seconds,
            "repeats": repeats,
            "load_average": load,
            "results": [asdict(r) for r in results],
            "targets": targets,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
