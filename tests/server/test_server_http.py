"""The HTTP API: same operations, authorization and error codes as the WebSocket."""

from __future__ import annotations

import httpx
import jwt
import pytest
from server_harness import ServerProcess, WsClient, mint


def auth(sub: str, **claims: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(sub, **claims)}"}


@pytest.fixture
async def http(server: ServerProcess):
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        yield client


async def test_create_send_get_and_log(http: httpx.AsyncClient, name: str) -> None:
    url = f"/v1/instances/doc/{name}"
    created = await http.post(url, json={"input": {"owner": "alice"}}, headers=auth("alice"))
    assert created.status_code == 201 and created.json()["seq"] == 0
    again = await http.post(url, json={"input": {"owner": "alice"}, "if_exists": "get"},
                            headers=auth("alice"))
    assert again.status_code == 200 and again.json()["existed"] is True
    ack = await http.post(url + "/events", json={"event": {"type": "EDIT", "body": "hi"},
                                                 "event_id": "h1"}, headers=auth("alice"))
    assert ack.status_code == 200 and ack.json()["seq"] == 1
    dup = await http.post(url + "/events", json={"event": {"type": "EDIT", "body": "hi"},
                                                 "event_id": "h1"}, headers=auth("alice"))
    assert dup.json()["duplicate"] is True and dup.json()["seq"] == 1
    state = (await http.get(url, headers=auth("alice"))).json()
    assert state["context"] == {"owner": "alice", "body": "hi"} and state["seq"] == 1
    log = (await http.get(url + "/events", params={"since": -1}, headers=auth("alice"))).json()
    assert [e["seq"] for e in log["entries"]] == [0, 1]
    assert log["entries"][1]["event"] == {"type": "EDIT", "body": "hi"}
    assert "s3cr3t" not in str(log)


async def test_send_with_state_answers_with_the_public_state_after_it(
        http: httpx.AsyncClient, name: str) -> None:
    url = f"/v1/instances/doc/{name}"
    await http.post(url, json={"input": {"owner": "alice"}}, headers=auth("alice"))
    plain = await http.post(url + "/events", json={"event": {"type": "EDIT", "body": "a"},
                                                   "event_id": "p1"}, headers=auth("alice"))
    assert "state" not in plain.json()
    ack = await http.post(url + "/events", json={"event": {"type": "EDIT", "body": "b"},
                                                 "event_id": "s1", "state": True},
                          headers=auth("alice"))
    body = ack.json()
    assert ack.status_code == 200 and body["seq"] == 2 and body["duplicate"] is False
    assert body["state"]["seq"] == 2 and body["state"]["context"] == {"owner": "alice", "body": "b"}
    assert "s3cr3t" not in ack.text  # public context only
    again = await http.post(url + "/events", json={"event": {"type": "EDIT", "body": "b"},
                                                   "event_id": "s1", "state": True},
                            headers=auth("alice"))
    assert again.json()["duplicate"] is True and again.json()["state"]["seq"] == 2


async def test_http_events_reach_websocket_subscribers(http: httpx.AsyncClient, alice: WsClient,
                                                       name: str) -> None:
    url = f"/v1/instances/counter/{name}"
    await http.post(url, json={}, headers=auth("script"))
    await alice.request({"type": "subscribe", "id": 1, "machine": "counter", "instance": name})
    await http.post(url + "/events", json={"event": {"type": "INC", "by": 5}, "event_id": "x"},
                    headers=auth("script"))
    assert (await alice.update(name, 1))["context"] == {"count": 5}


async def test_error_codes_and_statuses(http: httpx.AsyncClient, name: str) -> None:
    doc = f"/v1/instances/doc/{name}"
    cases = [
        (http.get(doc), 401, "unauthenticated"),
        (http.get(doc, headers={"Authorization": "Bearer " + mint("a", ttl=-5)}), 401,
         "unauthenticated"),
        (http.get(doc, headers={"Authorization": "Bearer " + jwt.encode(
            {"sub": "a", "exp": 2_000_000_000}, "other-secret-long-enough-for-hs256-0000")}), 401,
         "unauthenticated"),
        (http.get(doc, headers=auth("alice")), 404, "not-found"),
        (http.get(f"/v1/instances/nope/{name}", headers=auth("alice")), 404, "not-found"),
        (http.post(doc, json={"input": {"owner": "alice"}}, headers=auth("bob")), 403, "forbidden"),
        (http.post(doc, content=b"{nope", headers=auth("alice")), 400, "invalid-message"),
        (http.post(doc, content=b"x" * 70_000, headers=auth("alice")), 413, "too-large"),
    ]
    for request, status, code in cases:
        response = await request
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    await http.post(doc, json={"input": {"owner": "alice"}}, headers=auth("alice"))
    cases = [
        (http.post(doc, json={"input": {"owner": "alice"}}, headers=auth("alice")), 409,
         "already-exists"),
        (http.get(doc, headers=auth("bob")), 403, "forbidden"),
        (http.get(doc + "/events", headers=auth("bob")), 403, "forbidden"),
        (http.post(doc + "/events", json={"event": {"type": "EDIT", "body": 1}, "event_id": "e"},
                   headers=auth("alice")), 422, "invalid-event"),
        (http.post(doc + "/events", json={"event": {"type": "PUBLISH"}, "event_id": "e"},
                   headers=auth("alice")), 409, "event-not-accepted"),
        (http.post(doc + "/events", json={"event": {"type": "EDIT", "body": "x"}, "event_id": "e"},
                   headers=auth("bob")), 403, "forbidden"),
        (http.post(doc + "/events", json={"event": {"type": "EDIT"}}, headers=auth("alice")), 400,
         "invalid-message"),
    ]
    for request, status, code in cases:
        response = await request
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert (await http.get(doc, headers=auth("alice"))).json()["seq"] == 0


async def test_http_rate_limited(start_server) -> None:
    server = start_server("--rate-limit", "2")
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        statuses = [(await http.get("/v1/instances/counter/x", headers=auth("a"))).status_code
                    for _ in range(12)]
    assert 429 in statuses and 404 in statuses


async def test_anonymous_session(http: httpx.AsyncClient, server: ServerProcess, name: str) -> None:
    session = (await http.post("/v1/session")).json()
    assert session["sub"].startswith("anon:")
    client = await WsClient.connect(server, session["token"])
    created = await client.request({"type": "create", "id": 1, "machine": "counter",
                                    "instance": name})
    assert created["type"] == "created"
    await client.close()


async def test_session_tells_who_a_token_stands_for(http: httpx.AsyncClient) -> None:
    token = mint("alice")
    info = (await http.get("/v1/session", headers={"Authorization": f"Bearer {token}"})).json()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert info == {"sub": "alice", "exp": claims["exp"]}
    for headers in ({}, {"Authorization": "Bearer " + mint("alice", ttl=-5)}):
        answer = await http.get("/v1/session", headers=headers)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthenticated"
