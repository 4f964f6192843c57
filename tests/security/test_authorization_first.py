"""Authorization comes before any answer that reveals something (docs/security.md):
resent event ids, creating an instance that exists, settings instance names, and errors
raised by application code."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from leak_harness import Http, RecordingWs, ServerProcess, mint, secret, start_secret_server
from statesync.settings import SETTINGS_MACHINE


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_secret_server(tmp_path_factory.mktemp("authz") / "authz.db")
    yield process
    process.stop()


@pytest.fixture
def subjects() -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    return {"owner": f"alice-{run}", "reader": f"rita-{run}", "nobody": f"bob-{run}"}


@pytest.fixture
async def ws(server: ServerProcess, subjects: dict[str, str]) -> AsyncIterator[Any]:
    opened: list[RecordingWs] = []

    async def connect(who: str) -> RecordingWs:
        opened.append(await RecordingWs.open(server, mint(subjects.get(who, who))))
        return opened[-1]

    yield connect
    for client in opened:
        await client.close()


async def _vault(owner: RecordingWs, owner_sub: str, readers: list[str],
                 **data: Any) -> str:
    name = f"vault-{uuid.uuid4().hex}"
    reply = await owner.call({"type": "create", "machine": "vault", "instance": name,
                              "input": {"owner": owner_sub, "readers": readers, **data}})
    assert reply["type"] == "created", reply
    return name


NOTE = {"type": "NOTE", "text": "hello", "label": ""}


# --- resent event ids ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["reader", "nobody"])
async def test_a_resent_event_id_is_authorized_like_a_new_event(
        server: ServerProcess, ws: Any, subjects: dict[str, str], who: str) -> None:
    owner = await ws("owner")
    name = await _vault(owner, subjects["owner"], [subjects["reader"]])
    event_id = str(uuid.uuid4())
    assert (await owner.send_event("vault", name, NOTE, event_id))["seq"] == 1

    other = await ws(who)
    reply = await other.send_event("vault", name, NOTE, event_id)
    assert (reply["type"], reply.get("code")) == ("reject", "forbidden"), reply
    again = await owner.send_event("vault", name, NOTE, event_id)
    assert (again["type"], again["seq"], again["duplicate"]) == ("ack", 1, True)

    http = Http(server, mint(subjects[who]))
    status, body = await http.post(f"/v1/instances/vault/{name}/events",
                                   {"event": NOTE, "event_id": event_id})
    await http.close()
    assert (status, body["error"]["code"]) == (403, "forbidden"), body


async def test_a_resent_event_id_is_authorized_after_a_restart(
        server: ServerProcess, subjects: dict[str, str]) -> None:
    owner = await RecordingWs.open(server, mint(subjects["owner"]))
    name = await _vault(owner, subjects["owner"], [subjects["reader"]])
    event_id = str(uuid.uuid4())
    assert (await owner.send_event("vault", name, NOTE, event_id))["seq"] == 1
    await owner.close()

    server.restart()  # the id is no longer in memory, only in the database

    for who in ("reader", "nobody"):
        other = await RecordingWs.open(server, mint(subjects[who]))
        reply = await other.send_event("vault", name, NOTE, event_id)
        await other.close()
        assert (reply["type"], reply.get("code")) == ("reject", "forbidden"), (who, reply)
    owner = await RecordingWs.open(server, mint(subjects["owner"]))
    again = await owner.send_event("vault", name, NOTE, event_id)
    await owner.close()
    assert (again["type"], again["seq"], again["duplicate"]) == ("ack", 1, True)


# --- creating what exists ------------------------------------------------------------------


def _without(name: str, text: str) -> str:
    return text.replace(name, "<name>")


@pytest.mark.parametrize("if_exists", ["error", "get"])
@pytest.mark.parametrize("input_owner", ["owner", "nobody"])
async def test_creating_an_unreadable_instance_answers_as_if_not_allowed_to_create(
        server: ServerProcess, ws: Any, subjects: dict[str, str], if_exists: str,
        input_owner: str) -> None:
    owner = await ws("owner")
    existing = await _vault(owner, subjects["owner"], [])
    fresh = f"vault-{uuid.uuid4().hex}"
    nobody = await ws("nobody")
    data = {"owner": subjects[input_owner]}

    async def create(name: str, input: dict[str, Any]) -> tuple[str, str]:
        reply = await nobody.call({"type": "create", "machine": "vault", "instance": name,
                                   "input": input, "if_exists": if_exists})
        assert reply["type"] == "error", reply
        return reply["code"], _without(name, reply["message"])

    # The reference: a new instance nobody may create (someone else's).
    expected = await create(fresh, {"owner": subjects["owner"]})
    assert expected[0] == "forbidden" and "not allowed to create" in expected[1]
    assert await create(existing, data) == expected

    http = Http(server, mint(subjects["nobody"]))
    answers = []
    for name, body in ((f"vault-{uuid.uuid4().hex}", {"owner": subjects["owner"]}),
                       (existing, data)):
        status, reply = await http.post(f"/v1/instances/vault/{name}",
                                        {"input": body, "if_exists": if_exists})
        answers.append((status, reply["error"]["code"], _without(name, reply["error"]["message"])))
    await http.close()
    assert answers[0] == answers[1] and answers[0][:2] == (403, "forbidden"), answers


async def test_a_reader_creating_an_existing_instance_learns_it_exists(
        ws: Any, subjects: dict[str, str]) -> None:
    owner = await ws("owner")
    name = await _vault(owner, subjects["owner"], [subjects["reader"]])
    reader = await ws("reader")
    reply = await reader.call({"type": "create", "machine": "vault", "instance": name,
                               "input": {"owner": subjects["reader"]}})
    assert (reply["type"], reply.get("code")) == ("error", "already-exists"), reply
    reply = await reader.call({"type": "create", "machine": "vault", "instance": name,
                               "input": {}, "if_exists": "get"})
    assert (reply["type"], reply["existed"]) == ("created", True), reply


# --- settings instance names -----------------------------------------------------------------


async def test_a_subject_shaped_like_a_hash_cannot_read_someone_elses_settings(
        server: ServerProcess, ws: Any) -> None:
    carol = f"carol smith {uuid.uuid4().hex[:6]}"  # a space: the name holds a hash of it
    impostor = "h-" + hashlib.sha256(carol.encode()).hexdigest()
    instance = "ui~" + impostor
    marker = secret("settings")

    owner = await ws(carol)
    reply = await owner.call({"type": "create", "machine": SETTINGS_MACHINE,
                              "instance": instance, "input": {}})
    assert reply["type"] == "created", reply
    ack = await owner.send_event(SETTINGS_MACHINE, instance,
                                 {"type": "SET", "key": "token", "value": marker},
                                 str(uuid.uuid4()))
    assert ack["type"] == "ack", ack

    intruder = await ws(impostor)
    for message in ({"type": "get"}, {"type": "subscribe"}, {"type": "subscribe", "since": -1},
                    {"type": "create", "input": {}, "if_exists": "get"}):
        reply = await intruder.call({**message, "machine": SETTINGS_MACHINE,
                                     "instance": instance})
        assert (reply["type"], reply.get("code")) == ("error", "forbidden"), (message, reply)
    reply = await intruder.send_event(SETTINGS_MACHINE, instance,
                                      {"type": "SET", "key": "token", "value": "mine"},
                                      str(uuid.uuid4()))
    assert (reply["type"], reply.get("code")) == ("reject", "forbidden"), reply
    http = Http(server, mint(impostor), intruder.ws.sink[0])
    base = f"/v1/instances/{SETTINGS_MACHINE}/{instance}"
    for path in (base, base + "/events", base + "/at/0", base + "/at/1"):
        status, body = await http.get(path)
        assert status == 403, (path, body)
    await http.close()
    assert not intruder.ws.sink[0].found([marker])


# --- errors from application code ------------------------------------------------------------


@pytest.mark.parametrize("event,private", [
    pytest.param({"type": "BOOM"}, "card", id="action-raises-KeyError(card)"),
    pytest.param({"type": "TRAP"}, "pin", id="guard-raises-ValueError(pin)"),
])
async def test_an_error_in_application_code_carries_no_application_data(
        server: ServerProcess, ws: Any, subjects: dict[str, str], event: dict[str, str],
        private: str) -> None:
    values = {"card": secret("card"), "pin": secret("pin")}
    owner = await ws("owner")
    name = await _vault(owner, subjects["owner"], [], **values)
    reply = await owner.send_event("vault", name, event, str(uuid.uuid4()))
    assert reply["type"] == "reject" and reply["code"] in ("internal", "invalid-event"), reply
    assert "error in application code" in reply["message"]
    assert values[private] not in reply["message"], reply

    http = Http(server, mint(subjects["owner"]))
    status, body = await http.post(f"/v1/instances/vault/{name}/events",
                                   {"event": event, "event_id": str(uuid.uuid4())})
    await http.close()
    assert status in (422, 500) and values[private] not in str(body), body


async def test_an_error_creating_an_instance_carries_no_application_data(
        server: ServerProcess, ws: Any, subjects: dict[str, str]) -> None:
    marker = secret("explode")
    owner = await ws("owner")
    reply = await owner.call({"type": "create", "machine": "vault",
                              "instance": f"vault-{uuid.uuid4().hex}",
                              "input": {"owner": subjects["owner"], "explode": marker}})
    assert reply["type"] == "error" and reply["code"] in ("internal", "invalid-event"), reply
    assert marker not in reply["message"], reply
