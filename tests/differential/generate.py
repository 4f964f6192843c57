"""Random, valid statecharts and random step sequences, for the differential tests.

A generated machine uses only the vocabulary of ``vocab.py``. It can have nested compound and
parallel states, shallow and deep history (with or without a default target), final states with
``onDone`` and root ``output``, guarded transitions and guard arrays, wildcard events,
``always`` (guarded; a rare endless loop is fine, both sides must then report an error),
``after`` with numeric and named delays, raised and delayed events with cancel, ``reenter``,
relative / child / ``#id`` targets, multiple targets into parallel regions, tags, and entry /
exit / transition effects named after where they are (``en_b``, ``ex_b``, ``t3``) so that the
recorded effect order shows exactly what ran.

Validity: every compound state has an ``initial`` that is not a history node, every target
exists, history and final states only live in compound states, and multiple targets always go
to distinct regions of one parallel state.

The generator is written once against a tiny ``Chooser`` interface and used two ways:

- ``cases()``: a hypothesis strategy (shrinks a failing case to a small one);
- ``random_cases(n, seed)``: ``n`` cases from a seeded ``random.Random``: deterministic and
  fast, for the big batches that go to node in a single call.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

MACHINE_ID = "m"
EVENTS = ["A", "B", "C", "D.x", "D.y"]
EVENT_KEYS = ["A", "B", "C", "D.x", "D.*", "*", "R"]
RAISED = "R"  # the only event actions raise; its handlers (and `*`) never raise
DELAYS = ["50", "100", "short", "long"]
ADVANCES = [0, 30, 50, 100, 200]
TAGS = ["t1", "t2", "t3"]
MAX_NODES = 14


class Chooser(Protocol):
    """The random choices the generator makes."""

    def int(self, lo: int, hi: int) -> int: ...

    def pick(self, options: Sequence[T]) -> T: ...


class RandomChooser:
    """Choices from a seeded ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]


class HypothesisChooser:
    """Choices drawn from hypothesis (so failures shrink)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def int(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def pick(self, options: Sequence[T]) -> T:
        return options[self.draw(st.integers(0, len(options) - 1))]


def _chance(c: Chooser, percent: int) -> bool:
    """True with about ``percent`` % probability (shrinks towards False)."""
    return c.int(0, 99) >= 100 - percent


@dataclass(eq=False)
class Node:
    """A state node of the generated tree."""

    name: str
    kind: str  # atomic | compound | parallel | final | history
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> list[str]:
        return [] if self.parent is None else [*self.parent.path, self.name]

    @property
    def ref(self) -> str:
        """The absolute ``#id`` reference (default ids are ``m.path.to.state``)."""
        return "#" + ".".join([MACHINE_ID, *self.path])

    def descendants(self) -> list[Node]:
        out: list[Node] = []
        for child in self.children:
            out.append(child)
            out.extend(child.descendants())
        return out

    def is_ancestor_of(self, other: Node) -> bool:
        node = other.parent
        while node is not None:
            if node is self:
                return True
            node = node.parent
        return False


# --- the tree ---------------------------------------------------------------------------------


def _name(n: int) -> str:
    letters = string.ascii_lowercase
    return letters[n] if n < 26 else letters[n // 26 - 1] + letters[n % 26]


def _build_tree(c: Chooser) -> Node:
    root = Node(MACHINE_ID, "parallel" if _chance(c, 20) else "compound")
    made = [0]

    def add(parent: Node, kind: str) -> Node:
        node = Node(_name(made[0]), kind, parent)
        made[0] += 1
        parent.children.append(node)
        return node

    def fill(node: Node, depth: int) -> None:
        room = depth < 3 and made[0] < MAX_NODES - 3
        if node.kind == "parallel":
            for _ in range(c.int(2, 3)):
                region = add(node, "compound" if room and _chance(c, 70) else "atomic")
                if region.kind == "compound":
                    fill(region, depth + 1)
            return
        for _ in range(c.int(1, 3)):
            kind = "atomic"
            if room and made[0] < MAX_NODES - 3:
                kind = c.pick(["atomic", "atomic", "atomic", "compound", "parallel"])
            child = add(node, kind)
            if kind != "atomic":
                fill(child, depth + 1)
        if _chance(c, 35):
            add(node, "final")
        if node.parent is not None and _chance(c, 30):
            add(node, "history").config["history"] = c.pick(["shallow", "deep"])

    fill(root, 0)
    return root


# --- transitions ------------------------------------------------------------------------------


V5_IMPLEMENTATIONS = {"guards": {"alias": "even", "alias2": "alias", "big": {"type": "gt", "params": {"n": 1}}}}
"""Guard implementations of ``v5`` cases: an alias, an alias of an alias, a guard object."""


class _Gen:
    """Decorates a tree with actions and transitions. With ``v5`` it also uses ``emit``,
    ``log``, ``enqueue_actions`` programs, ``meta`` and guard aliases (``V5_IMPLEMENTATIONS``)."""

    def __init__(self, c: Chooser, root: Node, v5: bool = False) -> None:
        self.c = c
        self.root = root
        self.nodes = root.descendants()
        self.counter = 0
        self.v5 = v5

    def effect(self) -> str:
        self.counter += 1
        return f"t{self.counter}"

    def guard(self) -> Any:
        c = self.c
        options: list[Any] = [
            "even", "odd", "flag", {"type": "gt", "params": {"n": c.int(0, 3)}},
            {"not": "flag"}, {"and": ["even", "flag"]}, {"or": ["odd", {"not": "flag"}]}, "lt:3",
        ]
        states = [n for n in self.nodes if n.kind != "history"]
        if states:
            options.append({"stateIn": c.pick(states).ref})
        if self.v5:
            options += ["alias", "alias2", "big", {"type": "big", "params": {"n": 9}}]
        return c.pick(options)

    def program(self, depth: int = 0) -> list[Any]:
        """An ``enqueue_actions`` program (vocab.py): queued actions, checks, computed repeats."""
        c = self.c
        items: list[Any] = []
        for _ in range(c.int(1, 3)):
            kind = c.int(0, 9)
            if kind < 3:
                items.append(c.pick(["inc", "dbl", "peek", "push:q", self.effect(), {"type": "add", "params": {"n": 2}}]))
            elif kind < 5 and depth < 2:
                items.append({"if": self.guard(), "then": self.program(depth + 1),
                              **({"else": self.program(depth + 1)} if _chance(c, 50) else {})})
            elif kind < 6:
                items.append({"emit": {"type": c.pick(["E1", "E2"]), "n": c.int(0, 3)}})
            elif kind < 7:
                items.append({"assign": {"count": c.int(0, 4)}})
            elif kind < 8:
                items.append({"log": c.pick(["l1", "l2"])})
            elif kind < 9 and depth < 2:
                items.append({"repeat": [c.pick(["push:r", self.effect(), "emitCount:E3"])]})
            else:
                items.append(c.pick(["raiseDelayed:B:50:rb", "cancel:rb", {"raise": "B", "delay": 100, "id": "rq"}]))
        return items

    def actions(self, *, may_raise: bool = True, may_send: bool = True) -> list[Any]:
        c = self.c
        actions: list[Any] = [self.effect()]
        for _ in range(c.int(0, 2)):
            options: list[Any] = ["inc", "inc", "peek", "setv", "push:x", "dbl",
                                  "raiseDelayed:B:50:rb", "cancel:rb"]
            if may_raise:
                options.append(f"raise:{RAISED}")
            if self.v5:
                options += ["emit:E0", "emitCount:E1", "log:l0", {"enqueue": self.program()},
                            "sendSelfDelayed:B:50:sb", "cancel:sb"]
                if may_raise and may_send:
                    # to itself after the macrostep, from `on` and `after` transitions only: R's
                    # handlers never send, and an onDone that sent R could loop through the
                    # mailbox for ever (XState has no limit there)
                    options += ["sendSelf:R", "sendInternal:R"]
            actions.insert(c.int(0, len(actions)), c.pick(options))
        return actions

    def target_ref(self, source: Node, target: Node) -> str:
        """A reference to ``target``, in a relative form when one applies."""
        style = self.c.int(0, 2)
        if style > 0 and source.parent is not None and target.parent is source.parent:
            return target.name
        if style > 0 and source.is_ancestor_of(target):
            return "." + ".".join(target.path[len(source.path):])
        return target.ref

    def multi_target(self) -> list[str] | None:
        parallels = [n for n in [self.root, *self.nodes] if n.kind == "parallel"]
        if not parallels:
            return None
        par = self.c.pick(parallels)
        first = self.c.int(0, len(par.children) - 1)
        second = (first + self.c.int(1, len(par.children) - 1)) % len(par.children)
        refs = []
        for region in (par.children[first], par.children[second]):
            options = [region, *[d for d in region.descendants() if d.kind != "history"]]
            refs.append(self.c.pick(options).ref)
        return refs

    def transition(self, source: Node, *, guarded: bool | None = None,
                   targeted: bool = True, may_raise: bool = True, may_send: bool = True) -> dict[str, Any]:
        c = self.c
        t: dict[str, Any] = {}
        kind = c.int(0, 9) if targeted else 9
        if kind < 6 and self.nodes:
            t["target"] = self.target_ref(source, c.pick(self.nodes))
        elif kind < 7:
            multi = self.multi_target()
            if multi:
                t["target"] = multi
        if "target" in t and _chance(c, 15):
            t["reenter"] = True
        if guarded or (guarded is None and _chance(c, 35)):
            t["guard"] = self.guard()
        t["actions"] = self.actions(may_raise=may_raise, may_send=may_send)
        return t

    def transitions(self, source: Node, *, may_raise: bool = True) -> Any:
        """One transition, or a guard array of two."""
        if _chance(self.c, 25):
            return [self.transition(source, guarded=True, may_raise=may_raise),
                    self.transition(source, may_raise=may_raise)]
        return self.transition(source, may_raise=may_raise)

    def always(self, source: Node) -> dict[str, Any]:
        """A guarded eventless transition that usually settles."""
        c = self.c
        if _chance(c, 50):  # targetless counter: runs until count reaches 3
            return {"guard": "lt:3", "actions": ["inc", self.effect()]}
        t = {"guard": c.pick(["odd", {"and": ["odd", "flag"]}]), "actions": ["inc", self.effect()]}
        t["target"] = self.target_ref(source, c.pick(self.nodes))
        return t

    def decorate(self, node: Node) -> None:
        c, cfg = self.c, node.config
        if node.kind == "history":
            siblings = [s for s in node.parent.children if s.kind != "history"]
            if _chance(c, 50):
                cfg["target"] = c.pick(siblings).name
            return
        if _chance(c, 60):
            cfg["entry"] = [f"en_{node.name}"] + (["inc"] if _chance(c, 15) else [])
        if _chance(c, 60):
            cfg["exit"] = [f"ex_{node.name}"]
        if _chance(c, 20):
            cfg["tags"] = sorted({c.pick(TAGS) for _ in range(c.int(1, 2))})
        if self.v5 and _chance(c, 20):
            cfg["meta"] = c.pick([{"name": node.name}, [node.name], None])
        if node.kind == "final":
            return
        keys: list[str] = []
        for _ in range(c.int(0, 3)):
            key = c.pick(EVENT_KEYS)
            if key not in keys:
                keys.append(key)
        if keys:
            cfg["on"] = {k: self.transitions(node, may_raise=k not in ("*", RAISED))
                         for k in keys}
        if _chance(c, 12):
            cfg["always"] = self.always(node)
        if _chance(c, 18):
            delays: list[str] = []
            for _ in range(c.int(1, 2)):
                d = c.pick(DELAYS)
                if d not in delays:
                    delays.append(d)
            cfg["after"] = {d: self.transitions(node) for d in delays}
        if node.kind in ("compound", "parallel") and node.parent is not None and _chance(c, 50):
            cfg["onDone"] = self.transition(node, guarded=False, may_send=False)


def _emit(node: Node, c: Chooser) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    if node.kind in ("parallel", "final", "history"):
        cfg["type"] = node.kind
    if node.kind == "compound":
        candidates = [ch for ch in node.children if ch.kind != "history"]
        if not _chance(c, 10):
            candidates = [ch for ch in candidates if ch.kind != "final"] or candidates
        cfg["initial"] = c.pick(candidates).name
    cfg.update(node.config)
    if node.children:
        cfg["states"] = {ch.name: _emit(ch, c) for ch in node.children}
    return cfg


def gen_machine(c: Chooser, v5: bool = False) -> dict[str, Any]:
    """A random valid machine config (pure JSON, vocabulary names only)."""
    root = _build_tree(c)
    gen = _Gen(c, root, v5)
    for node in [root, *gen.nodes]:
        gen.decorate(node)
    config: dict[str, Any] = {"id": MACHINE_ID, "context": {"count": c.int(0, 3)}}
    config.update(_emit(root, c))
    if any(ch.kind == "final" for ch in root.children) and _chance(c, 50):
        config["output"] = c.pick([{"n": 1}, "$context"])
    return config


def gen_steps(c: Chooser) -> list[dict[str, Any]]:
    """A random sequence of events (with ``flag`` / ``value`` payloads) and clock advances."""
    out: list[dict[str, Any]] = []
    for _ in range(c.int(1, 10)):
        if _chance(c, 25):
            out.append({"advance": c.pick(ADVANCES)})
        else:
            event: dict[str, Any] = {"type": c.pick(EVENTS)}
            if _chance(c, 50):
                event["flag"] = True
            if _chance(c, 25):
                event["value"] = c.int(0, 9)
            out.append(event)
    return out


def gen_case(c: Chooser, v5: bool = False) -> dict[str, Any]:
    """A differential case: a random machine and a random step sequence (``v5``: with
    emit, log, enqueue_actions, meta, guard aliases, send_to itself (now and delayed) and two
    events asked with ``can`` after every step; half of them built with setup)."""
    if not v5:
        return {"config": gen_machine(c), "steps": gen_steps(c)}
    case = {"config": gen_machine(c, v5=True), "steps": gen_steps(c), "implementations": V5_IMPLEMENTATIONS,
            "can": [{"type": c.pick(EVENTS), **({"flag": True} if _chance(c, 50) else {})} for _ in range(2)]}
    if _chance(c, 50):
        case["build"] = "setup"
    return case


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    """Hypothesis strategy for a differential case."""
    return gen_case(HypothesisChooser(draw))


def random_cases(n: int, seed: int = 0, v5: bool = False) -> list[dict[str, Any]]:
    """``n`` cases, the same ones for the same ``seed``."""
    rng = random.Random(seed)
    out = []
    for index in range(n):
        case = gen_case(RandomChooser(rng), v5)
        case["name"] = f"generated{' v5' if v5 else ''} seed={seed} #{index}"
        out.append(case)
    return out
