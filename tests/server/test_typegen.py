"""`statesync types`: JSON Schema -> TypeScript, state value types, and the generated module
checked by `tsc` (a wrong event is refused)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field
from statesync import Machine
from statesync_server import App
from statesync_server.cli.typegen import (
    SchemaTranslator,
    generate,
    state_value_type,
    tags_type,
)

REPO = Path(__file__).resolve().parents[2]
TSC = REPO / "sdk_web" / "node_modules" / ".bin" / "tsc"


def ts(schema: Any) -> str:
    return SchemaTranslator().translate(schema)


@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": "string"}, "string"),
    ({"type": "integer"}, "number"),
    ({"type": ["string", "null"]}, "string | null"),
    ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "number | null"),
    ({"enum": ["a", "b", 3]}, '"a" | "b" | 3'),
    ({"const": "x", "type": "string"}, '"x"'),
    ({"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
     "(string | null)[]"),
    ({"type": "array", "items": {"enum": ["a | b", "{"]}}, '("a | b" | "{")[]'),
    ({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
      "minItems": 2, "maxItems": 2}, "[number, string]"),
    ({"type": "array", "prefixItems": [{"type": "integer"}]}, "[number, ...unknown[]]"),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, "Record<string, number>"),
    ({"type": "object"}, "Record<string, unknown>"),
    ({"type": "object", "properties": {"a": {"type": "string"}, "my-b": {"type": "boolean"}},
      "required": ["a"]}, '{ a: string; "my-b"?: boolean }'),
    ({"type": "object", "properties": {"a": {}}, "additionalProperties": True},
     "{ a?: unknown; [key: string]: unknown }"),
    ({"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}]}, "{ a?: string }"),
    ({"anyOf": [{"type": "string"}, {}]}, "unknown"),
    (True, "unknown"),
    (False, "never"),
])
def test_json_schema_to_typescript(schema: Any, expected: str) -> None:
    assert ts(schema) == expected


class Item(BaseModel):
    name: str
    qty: int = 1
    children: list[Item] = []


class Order(BaseModel):
    items: list[Item]
    kind: Literal["pickup", "delivery"]
    note: str | None = None
    tip: float = Field(default=0, ge=0)


def test_pydantic_models_become_aliases_recursive_ones_too() -> None:
    translator = SchemaTranslator()
    fields = translator.object_fields(Order.model_json_schema())
    assert fields == ["items: Schemas.Item[]", 'kind: "pickup" | "delivery"', "note?: string | null",
                      "tip?: number"]
    assert translator.aliases == {
        "Item": "{ name: string; qty?: number; children?: Schemas.Item[] }"}


def test_an_alias_name_taken_by_another_schema_gets_a_suffix() -> None:
    translator = SchemaTranslator()
    first = translator.translate({"$defs": {"A": {"type": "string"}}, "$ref": "#/$defs/A"})
    second = translator.translate({"$defs": {"A": {"type": "integer"}}, "$ref": "#/$defs/A"})
    assert (first, second) == ("Schemas.A", "Schemas.A_2")
    assert translator.aliases == {"A": "string", "A_2": "number"}
    assert translator.translate({"$defs": {"Record": {}}, "$ref": "#/$defs/Record"}) == "Schemas._Record"


NESTED = Machine({
    "id": "nested",
    "initial": "idle",
    "states": {
        "idle": {"tags": ["quiet"], "on": {"GO": "busy"}},
        "busy": {
            "type": "parallel",
            "states": {
                "upload": {"initial": "sending", "states": {"sending": {"tags": "busy"},
                                                             "sent": {"type": "final"}}},
                "log": {},
            },
        },
        "editing": {"initial": "draft", "states": {"draft": {}, "hist": {"type": "history"}}},
        "done": {"type": "final"},
    },
})


def test_state_value_type_follows_xstate_values() -> None:
    assert state_value_type(NESTED.root) == (
        '"idle" | { busy: { upload: "sending" | "sent"; log: Record<string, never> } }'
        ' | { editing: "draft" } | "done"')
    assert state_value_type(Machine({"id": "empty"}).root) == "Record<string, never>"
    assert tags_type(NESTED.root) == '"busy" | "quiet"'
    snapshot, _ = NESTED.initial_transition()
    snapshot, _ = NESTED.transition(snapshot, {"type": "GO"})
    assert snapshot.value == {"busy": {"upload": "sending", "log": {}}}


class Context(BaseModel):
    title: str
    orders: list[Order]


class Opening(BaseModel):
    title: str
    budget: int = 0


def _app() -> App:
    app = App()
    app.register("shop.orders", NESTED, context_model=Context, input_model=Opening,
                 events={"PLACE": Order, "CANCEL": None})
    app.register("nested", NESTED, public_context=lambda context: context)
    return app


def test_generated_module_is_sorted_and_deterministic() -> None:
    text = generate(_app(), source="app.py")
    assert text == generate(_app(), source="app.py")
    assert text.startswith("// Generated by `statesync types app.py`")
    assert text.index('"nested": {') < text.index('"shop.orders": {') < text.index(
        '"statesync.settings": {')
    assert '| { type: "CANCEL" }\n        | { type: "PLACE"; items: Schemas.Item[];' in text
    assert "event:\n        | { type: \"GO\"; [field: string]: unknown };" in text  # from the config
    assert "context: { title: string; orders: Schemas.Order[] };" in text
    assert "context: unknown;" in text  # a projection of undeclared shape
    assert "context: { values: Record<string, unknown> };" in text  # the built-in settings
    assert "input: { title: string; budget?: number };" in text  # from input_model
    assert text.count("input:") == 1  # none declared: a missing field, loosely typed


USAGE_TS = """
import { connect, type Machines } from "@statesync/web";

type Shop = Machines["shop.orders"];
export const place: Shop["event"] = { type: "PLACE", kind: "pickup", items: [{ name: "tea" }] };
export const value: Shop["value"] = { busy: { upload: "sent", log: {} } };
export const tag: Shop["tags"] = "quiet";
export const title: string = ({} as Shop["context"]).orders[0].items[0].children![0].name;
// @ts-expect-error: no such event
export const wrong: Shop["event"] = { type: "SHIP" };
// @ts-expect-error: kind is "pickup" | "delivery"
export const badKind: Shop["event"] = { type: "PLACE", kind: "drone", items: [] };
// @ts-expect-error: no such state
export const badValue: Shop["value"] = "sleeping";
export const setting: Machines["statesync.settings"]["event"] = { type: "SET", key: "theme" };

export async function typedHandle(): Promise<number> {
  const client = await connect();
  const order = await client.instance("shop.orders", "o-1", { create: { title: "Tea" } });
  // @ts-expect-error: the handle's events are the machine's
  await order.send({ type: "SHIP" });
  // @ts-expect-error: the creation input is the machine's input_model
  await client.instance("shop.orders", "o-2", { create: { budget: 3 } });
  await client.instance("nested", "n-1", { create: { anything: true } });  // no input_model
  // @ts-expect-error: a machine name the app does not register
  await client.instance("shop.order", "o-1");
  return (await order.send("CANCEL")) + order.state.context.orders.length;
}
"""


@pytest.mark.skipif(not TSC.exists(), reason="needs sdk_web/node_modules (cd sdk_web && npm ci)")
def test_tsc_accepts_the_generated_types_and_refuses_a_wrong_event(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "from test_typegen import _app\napp = _app()\n")
    subprocess.run([sys.executable, "-m", "statesync_server", "types", "app.py", "-o",
                    "machines.d.ts"], cwd=tmp_path, check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(
                       [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])})
    (tmp_path / "usage.ts").write_text(USAGE_TS)
    config = {"compilerOptions": {"strict": True, "noEmit": True, "target": "es2022",
                                  "module": "nodenext", "moduleResolution": "nodenext",
                                  "lib": ["es2022", "dom"],
                                  "paths": {"@statesync/web": [str(REPO / "sdk_web")]}},
              "files": ["machines.d.ts", "usage.ts"]}
    (tmp_path / "tsconfig.json").write_text(json.dumps(config))
    done = subprocess.run([str(TSC), "-p", str(tmp_path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr

    (tmp_path / "usage.ts").write_text(USAGE_TS.replace("// @ts-expect-error: no such event\n",
                                                        ""))
    done = subprocess.run([str(TSC), "-p", str(tmp_path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode != 0 and '"SHIP"' in done.stdout, done.stdout
