"""Operator log lines and their formats (`statesync serve --log-level ... --log-format ...`).

One record per transition, timer fired, effect or service attempt, and rejected event, each
on a logger of its own under `statesync.` with its fields as `record.fields`:

    statesync.transitions  DEBUG    machine instance seq event_type origin state duration_ms
    statesync.rejections   DEBUG    machine instance event_type origin code duration_ms
    statesync.timers       DEBUG    machine instance seq timer_id event_type lateness_ms
    statesync.effects      DEBUG done, WARNING retry, ERROR failed:
                                    machine instance seq kind name attempt outcome duration_ms
                                    [error]
                           INFO an operator's retry or dismissal of failed work:
                                    machine instance seq kind name attempts action

Logs are a read path too (docs/security.md): no line carries a context, an event's payload,
creation input or a subject; only names, types, public state values, codes and timings.
Callers check `logger.isEnabledFor` first, so a disabled line costs one cached lookup.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

transitions = logging.getLogger("statesync.transitions")
rejections = logging.getLogger("statesync.rejections")
timers = logging.getLogger("statesync.timers")
effects = logging.getLogger("statesync.effects")

LEVELS = ("critical", "error", "warning", "info", "debug")
FORMATS = ("text", "json")
_MAX_TEXT = 200  # characters of a client-chosen string (an event type) kept in a line
_PLAIN = re.compile(r"[A-Za-z0-9_.:@~/#*+-]+")


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."


class _KeyValues:
    """`key=value ...`, rendered only when a handler formats the record."""

    __slots__ = ("fields",)

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return " ".join(f"{key}={_text(value)}" for key, value in self.fields.items()
                        if value is not None)


def _text(value: Any) -> str:
    """A field for a text line: plain tokens as they are, anything else as JSON (quoted and
    escaped: a client-chosen string cannot start a line of its own)."""
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int) or (isinstance(value, str) and _PLAIN.fullmatch(value)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def _emit(logger: logging.Logger, level: int, what: str, fields: dict[str, Any]) -> None:
    # makeRecord + handle: `logger.log` would also walk the stack for the caller's file and line
    record = logger.makeRecord(logger.name, level, __file__, 0, "%s %s", (what, _KeyValues(fields)),
                               None, extra={"what": what, "fields": fields})
    logger.handle(record)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def transition(machine: str, instance: str, seq: int, event_type: str, origin: str,
               state: Any, seconds: float) -> None:
    """An applied event, logged once its commit is durable (`seconds`: from its arrival)."""
    _emit(transitions, logging.DEBUG, "transition", {
        "machine": machine, "instance": instance, "seq": seq, "event_type": _clip(event_type),
        "origin": origin, "state": state, "duration_ms": _ms(seconds)})


def rejected(machine: str, instance: str, event_type: str, origin: str, code: str,
             seconds: float) -> None:
    """A create, send or upgrade answered with an error (nothing applied)."""
    _emit(rejections, logging.DEBUG, "rejected", {
        "machine": machine, "instance": instance, "event_type": _clip(event_type),
        "origin": origin, "code": code, "duration_ms": _ms(seconds)})


def timer_fired(machine: str, instance: str, seq: int, timer_id: str, event_type: str,
                lateness: float) -> None:
    """A timer handed its event to the instance (`seq`: the transition that started it)."""
    _emit(timers, logging.DEBUG, "timer fired", {
        "machine": machine, "instance": instance, "seq": seq, "timer_id": timer_id,
        "event_type": event_type, "lateness_ms": _ms(lateness)})


EFFECT_LEVELS = {"done": logging.DEBUG, "retry": logging.WARNING, "failed": logging.ERROR}
"""The level of an effect or service attempt by its outcome."""


def effect(outcome: str, machine: str, instance: str, seq: int, kind: str, name: str,
           attempt: int, seconds: float, error: str | None = None) -> None:
    """An effect or service attempt: `done`, `retry` (failed, tried again) or `failed` (its
    last attempt). `error` is the text the outbox row keeps (what `statesync effects` shows)."""
    _emit(effects, EFFECT_LEVELS[outcome], kind, {
        "machine": machine, "instance": instance, "seq": seq, "kind": kind, "name": name,
        "attempt": attempt, "outcome": outcome, "duration_ms": _ms(seconds),
        "error": None if error is None else _clip(error)})


def operator_action(action: str, machine: str, instance: str, seq: int, kind: str, name: str,
                    attempts: int) -> None:
    """An operator acted on failed work (`retried` or `dismissed`; `attempts`: the runs it
    had failed after)."""
    _emit(effects, logging.INFO, f"{kind} {action} by an operator", {
        "machine": machine, "instance": instance, "seq": seq, "kind": kind, "name": name,
        "attempts": attempts, "action": action})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time` (UTC, ISO 8601), `level`, `logger`, `message`, an
    operator line's fields at the top level (its `message` is what it is: `transition`...),
    and `exception` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        line: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.what if fields is not None else record.getMessage(),  # type: ignore[attr-defined]
        }
        if fields is not None:
            line.update((k, v) for k, v in fields.items() if v is not None)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


@functools.lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _iso(created: float) -> str:
    seconds = int(created)
    return f"{_second(seconds)}.{int((created - seconds) * 1000):03d}Z"


def configure(level: str = "info", log_format: str = "text") -> None:
    """Log to stderr: statesync's loggers at `level`, everything else (uvicorn, databases,
    `websockets`, which logs frame contents at debug) at `info` or above."""
    threshold = getattr(logging, level.upper())
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(threshold, logging.INFO))
    logging.getLogger("statesync").setLevel(threshold)
