"""`statesync types app.py`: TypeScript types of an app's machines for `@statesync/web`.

Per machine: the events clients may send (from the Pydantic event models' JSON Schema, else
the event names of the machine config), the state value (from the state node tree), the tags
the public context (from `context_model`, else unknown) and the creation input (from
`input_model`; none when not declared). The output augments the SDK's
`Machines` registry, so `client.instance("order", ...)` is typed by the machine's name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from statesync.definition import StateNode

from ..app import App, MachineSpec, whole_context
from ..builtin import register_builtins

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_RESERVED = ("xstate.", "statesync.")  # event types clients may not send
EMPTY_OBJECT = "Record<string, never>"
NAMESPACE = "Schemas"
"""The `$defs` aliases live in this namespace of the generated file: inside the augmentation a
bare name would find the SDK's own exports first (`Item`, `State`, ...)."""
_TAKEN = frozenset({"Record", "any", "bigint", "boolean", "never", "null", "number", "object",
                    "string", "symbol", "undefined", "unknown", "void"})  # names the output uses


def ts_key(name: str) -> str:
    """A property name as TypeScript writes it (quoted unless an identifier)."""
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def union(parts: Iterable[str]) -> str:
    """`A | B` of the distinct parts in order (`never` for none)."""
    unique = list(dict.fromkeys(parts))
    if "unknown" in unique:
        return "unknown"
    return " | ".join(unique) if unique else "never"


def _grouped(ts: str) -> str:
    """`ts` parenthesized when it is a union or intersection (before `[]`)."""
    depth, quoted, escaped = 0, False, False
    for index, char in enumerate(ts):
        if quoted:
            quoted = escaped or char != '"'
            escaped = not escaped and char == "\\"
            continue
        quoted = char == '"'
        depth += char in "{[(<"
        depth -= char in "}])>"
        if depth == 0 and ts.startswith((" | ", " & "), index):
            return f"({ts})"
    return ts


class SchemaTranslator:
    """JSON Schema (as Pydantic writes it) -> TypeScript. Each `$defs` entry becomes a named
    alias in `aliases`, referred to as `Schemas.<name>` (shared by every schema translated; a
    name taken by another schema gets a numeric suffix), so recursive models stay finite."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self._sources: dict[str, Any] = {}

    def translate(self, schema: Any) -> str:
        """The TypeScript type of a whole schema, its `$defs` registered as aliases."""
        return self._type(schema, self._register_defs(schema))

    def object_fields(self, schema: Mapping[str, Any]) -> list[str]:
        """The fields of an object schema (`a: A`, `b?: B`; extra ones only when the schema
        allows them), its `$defs` as aliases; `type` is left out (it is the event's)."""
        properties = {k: v for k, v in (schema.get("properties") or {}).items() if k != "type"}
        return self._fields({"additionalProperties": False, **schema, "properties": properties},
                            self._register_defs(schema))

    def _register_defs(self, schema: Any) -> dict[str, str]:
        names: dict[str, str] = {}
        defs = schema.get("$defs", {}) if isinstance(schema, Mapping) else {}
        for name, definition in sorted(defs.items()):
            names[name] = self._alias_name(name, definition)
        for name, definition in sorted(defs.items()):
            if names[name] not in self.aliases:
                self.aliases[names[name]] = ""  # reserved before recursing
                self.aliases[names[name]] = self._type(definition, names)
        return names

    def _alias_name(self, name: str, definition: Any) -> str:
        base = re.sub(r"[^A-Za-z0-9_$]", "_", name)
        if base[:1].isdigit() or base in _TAKEN:
            base = "_" + base
        candidate, counter = base, 1
        while candidate in self._sources and self._sources[candidate] != definition:
            counter += 1
            candidate = f"{base}_{counter}"
        self._sources[candidate] = definition
        return candidate

    def _type(self, schema: Any, names: Mapping[str, str]) -> str:
        if schema is True or schema == {}:
            return "unknown"
        if schema is False:
            return "never"
        if not isinstance(schema, Mapping):
            raise TypeError(f"not a JSON Schema: {schema!r}")
        if "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/$defs/") or ref[8:] not in names:
                raise ValueError(f"unsupported $ref {ref!r}")
            return f"{NAMESPACE}.{names[ref[8:]]}"
        if "const" in schema:
            return json.dumps(schema["const"])
        if "enum" in schema:
            return union(json.dumps(value) for value in schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return union(self._type(option, names) for option in schema[key])
        if "allOf" in schema:
            parts = [_grouped(self._type(part, names)) for part in schema["allOf"]]
            return " & ".join(dict.fromkeys(parts)) or "unknown"
        kind = schema.get("type")
        if isinstance(kind, list):
            return union(self._type({**schema, "type": one}, names) for one in kind)
        return self._typed(kind, schema, names)

    def _typed(self, kind: str | None, schema: Mapping[str, Any], names: Mapping[str, str]) -> str:
        if kind in ("integer", "number"):
            return "number"
        if kind in ("string", "boolean", "null"):
            return kind
        if kind == "array":
            return self._array(schema, names)
        if kind == "object" or "properties" in schema:
            return self._object(schema, names)
        return "unknown"

    def _array(self, schema: Mapping[str, Any], names: Mapping[str, str]) -> str:
        items = schema.get("items", True)
        if "prefixItems" in schema:
            parts = [self._type(item, names) for item in schema["prefixItems"]]
            if items is not False and schema.get("maxItems") != len(parts):
                parts.append(f"...{_grouped(self._type(items, names))}[]")
            return f"[{', '.join(parts)}]"
        return f"{_grouped(self._type(items, names))}[]"

    def _object(self, schema: Mapping[str, Any], names: Mapping[str, str]) -> str:
        fields = self._fields(schema, names)
        if len(fields) == 1 and fields[0].startswith("[key: string]: "):
            return f"Record<string, {fields[0][15:]}>"
        return "{ " + "; ".join(fields) + " }" if fields else EMPTY_OBJECT

    def _fields(self, schema: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        fields = [f"{ts_key(name)}{'' if name in required else '?'}: {self._type(value, names)}"
                  for name, value in properties.items()]
        extra = schema.get("additionalProperties", not properties)
        if extra is not False:
            # an index signature must admit every field's type: typed only when alone
            value = "unknown" if fields or extra is True else self._type(extra, names)
            fields.append(f"[key: string]: {value}")
        return fields


def state_value_type(node: StateNode) -> str:
    """The TypeScript type of the state values a node can have (XState's StateValue): a child's
    name for a compound state's atomic child, `{child: value}` otherwise, every region for a
    parallel state, `{}` for an atomic state (as a region) or a machine without states."""
    children = node.children
    if node.is_atomic or not children:
        return EMPTY_OBJECT
    if node.type == "parallel":
        return "{ " + "; ".join(f"{ts_key(c.key)}: {state_value_type(c)}" for c in children) + " }"
    return union(json.dumps(child.key) if child.is_atomic
                 else f"{{ {ts_key(child.key)}: {state_value_type(child)} }}" for child in children)


def tags_type(root: StateNode) -> str:
    """The union of every tag of the machine (`never` when it has none)."""
    tags: set[str] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        tags.update(node.tags)
        pending.extend(node.states.values())
    return union(json.dumps(tag) for tag in sorted(tags))


def config_event_types(root: StateNode) -> list[str]:
    """The event types the machine's `on` handlers name (wildcards included), sorted, without
    the reserved ones (timers, done events)."""
    found: set[str] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        found.update((node.config.get("on") or {}).keys())
        pending.extend(node.states.values())
    return sorted(t for t in found if not t.startswith(_RESERVED))


def _event_from_descriptor(descriptor: str) -> str:
    if descriptor == "*":
        kind = "string"
    elif descriptor.endswith(".*"):
        kind = f"`{descriptor[:-2]}.${{string}}` | {json.dumps(descriptor[:-2])}"
    else:
        kind = json.dumps(descriptor)
    return f"{{ type: {kind}; [field: string]: unknown }}"


def event_types(spec: MachineSpec, translator: SchemaTranslator) -> list[str]:
    """One TypeScript object type per event clients may send, sorted by type."""
    if spec.events is None:
        return [_event_from_descriptor(d) for d in config_event_types(spec.machine.root)]
    events = []
    for kind, model in sorted(spec.events.items()):
        fields = [] if model is None else translator.object_fields(model.model_json_schema())
        events.append("{ " + "; ".join([f"type: {json.dumps(kind)}", *fields]) + " }")
    return events


def context_type(spec: MachineSpec, translator: SchemaTranslator) -> str:
    """The public context: `context_model`'s serialized shape if declared, else unknown (a
    record when the whole context is public)."""
    if spec.context_model is not None:
        return translator.translate(spec.context_model.model_json_schema(mode="serialization"))
    return "Record<string, unknown>" if spec.public_context is whole_context else "unknown"


def input_field(spec: MachineSpec, translator: SchemaTranslator) -> str:
    """The `input` line (`create`'s type) from `input_model`, or nothing: without one any
    input goes, loosely typed."""
    if spec.input_model is None:
        return ""
    return f"      input: {translator.translate(spec.input_model.model_json_schema())};\n"


def generate(app: App, source: str = "app.py") -> str:
    """The `.d.ts` text for every machine of `app` (the built-in ones included), sorted."""
    register_builtins(app)
    translator = SchemaTranslator()
    entries = []
    for name, spec in sorted(app.machines.items()):
        events = event_types(spec, translator)
        event = "never" if not events else "\n" + "".join(f"        | {e}\n" for e in events)
        entries.append(
            f"    {json.dumps(name)}: {{\n"
            f"      event:{' ' if not events else ''}{event.rstrip()};\n"
            f"      value: {state_value_type(spec.machine.root)};\n"
            f"      tags: {tags_type(spec.machine.root)};\n"
            f"      context: {context_type(spec, translator)};\n"
            f"{input_field(spec, translator)}"
            f"    }};\n"
        )
    aliases = "".join(f"  export type {name} = {ts};\n"
                      for name, ts in sorted(translator.aliases.items()))
    if aliases:
        aliases = f"declare namespace {NAMESPACE} {{\n{aliases}}}\n\n"
    return (
        f"// Generated by `statesync types {source}`: the app's machines for @statesync/web.\n"
        "// Do not edit; run the command again when the machines change.\n"
        "export {};\n\n"
        f"{aliases}"
        'declare module "@statesync/web" {\n'
        "  interface Machines {\n"
        f"{''.join(entries)}"
        "  }\n"
        "}\n"
    )
