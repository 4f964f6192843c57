"""The built-in user-settings machine: per-user key/value settings with no server code.

The server registers it as `statesync.settings`; each user gets one instance per namespace,
named by `settings_instance(namespace, subject)`, readable and writable only by that subject.

Events: `SET {key, value}`, `SET_MANY {values}`, `RESET {keys?}` (without `keys`: all).
Context: `{"values": {...}}`; defaults live in the client, so changing them needs no migration.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .actions import assign
from .machine import Machine

SETTINGS_MACHINE = "statesync.settings"

# Lengths checked apart: MicroPython's `re` (the light runtime) reads `{1,64}` as text.
_NAME_CHARS = re.compile(r"^[A-Za-z0-9_.:@-]+$")  # no `~`: `a~b~1` is a child's name form


def _usable(name: str, longest: int) -> bool:
    return len(name) <= longest and _NAME_CHARS.match(name) is not None


def settings_instance(namespace: str, subject: str) -> str:
    """The instance name holding `subject`'s settings in `namespace`: `namespace~subject`
    (a subject with characters not allowed in names, or starting with `h-`, is replaced by
    `h-` and its SHA-256)."""
    if not _usable(namespace, 64):
        raise ValueError(f"a settings namespace is 1-64 of A-Z a-z 0-9 _ . : @ -: {namespace!r}")
    return f"{namespace}~{subject_key(subject)}"


def subject_key(subject: str) -> str:
    """`subject` itself when usable in an instance name and not itself of the hashed form
    (`h-...`), else `h-` and its SHA-256: two subjects never share a key."""
    if _usable(subject, 128) and not subject.startswith("h-"):
        return subject
    return "h-" + hashlib.sha256(subject.encode()).hexdigest()


def owns_settings(instance: str, subject: str | None) -> bool:
    """Whether `instance` is one of `subject`'s settings instances."""
    namespace, sep, key = instance.partition("~")
    return bool(sep and subject and _usable(namespace, 64) and key == subject_key(subject))


def _set(context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    return {"values": {**context["values"], event["key"]: event["value"]}}


def _set_many(context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    return {"values": {**context["values"], **event["values"]}}


def _reset(context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    keys = event.get("keys")
    if keys is None:
        return {"values": {}}
    return {"values": {k: v for k, v in context["values"].items() if k not in keys}}


settings_machine = Machine(
    {
        "id": "settings",
        "initial": "ready",
        "context": lambda input: {"values": dict((input or {}).get("values") or {})},
        "states": {
            "ready": {
                "on": {
                    "SET": {"actions": "set"},
                    "SET_MANY": {"actions": "setMany"},
                    "RESET": {"actions": "reset"},
                },
            },
        },
    },
    actions={"set": assign(_set), "setMany": assign(_set_many), "reset": assign(_reset)},
)
