"""Validation errors name the invalid fields (`fields`: path and message), for forms: the
server's HTTP and WebSocket answers, and the client's `ClientError` / `Rejected`."""

from __future__ import annotations

import httpx
import pytest
from statesync import ClientError, Rejected

from statesync_server.testing import ServerProcess

TOO_SHORT = "String should have at least 1 character"


async def test_validation_errors_carry_field_paths(statesync_server: ServerProcess,
                                                   statesync_token, make_client,
                                                   name: str) -> None:
    token = statesync_token("alice")
    client = make_client(statesync_server.url, token=token)
    with pytest.raises(ClientError) as refused:
        await client.instance("checked", name, create={"owner": ""})
    assert refused.value.code == "invalid-event"
    assert refused.value.fields == [{"path": ["owner"], "message": TOO_SHORT}]

    journal = await client.instance("checked", name, create={"owner": "alice"})
    with pytest.raises(Rejected) as rejected:
        await journal.send({"type": "ADD", "item": ""})
    assert rejected.value.fields == [{"path": ["item"], "message": TOO_SHORT}]
    assert rejected.value.message == f"ADD: item: {TOO_SHORT}"

    async with httpx.AsyncClient(base_url=statesync_server.url,
                                 headers={"authorization": f"Bearer {token}"}) as http:
        answer = await http.post(f"/v1/instances/checked/{name}/events",
                                 json={"event": {"type": "ADD"}, "event_id": "e-1"})
        assert answer.status_code == 422
        assert answer.json()["error"]["fields"] == [{"path": ["item"], "message": "Field required"}]
        missing = await http.get(f"/v1/instances/checked/{name}-none")
        assert "fields" not in missing.json()["error"]  # only validation errors have them
