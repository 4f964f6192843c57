"""Built-in user settings with anonymous sessions: no server code, private to each user."""

from __future__ import annotations


import pytest
from statesync import AnonymousSession, ClientError, Rejected
from statesync.settings import SETTINGS_MACHINE, settings_instance

from statesync_server.testing import ServerProcess, get_state


async def test_settings_with_an_anonymous_session(statesync_server: ServerProcess,
                                                  make_client) -> None:
    saved: list[dict] = []
    session = AnonymousSession(statesync_server.url, on_token=saved.append)
    client = make_client(statesync_server.url, token=session)
    prefs = await client.settings("ui", {"theme": "light", "size": 12})
    assert client.subject.startswith("anon:") and saved[0]["sub"] == client.subject
    assert prefs.values == {"theme": "light", "size": 12}

    changes: list[dict] = []
    prefs.subscribe(changes.append)
    done = prefs.set("theme", "dark")
    assert prefs["theme"] == "dark" and not prefs.saved  # shown at once
    await done
    await prefs.update({"size": 14, "lang": "fr"})
    await prefs.instance.wait_for(lambda s: s.pending == 0, timeout=5)
    assert prefs.values == {"theme": "dark", "size": 14, "lang": "fr"}
    assert changes[0]["theme"] == "dark"

    # The same session on another device (e.g. a second tab) sees the stored values.
    other = make_client(statesync_server.url,
                        token=AnonymousSession(statesync_server.url, token=saved[0]["token"]))
    again = await other.settings("ui", {"theme": "light", "size": 12})
    assert again.values == {"theme": "dark", "size": 14, "lang": "fr"}
    await prefs.reset(["size"])
    await again.instance.wait_for(lambda s: "size" not in s.context["values"], timeout=5)
    assert again["size"] == 12
    await again.reset()
    await prefs.instance.wait_for(lambda s: s.context["values"] == {}, timeout=5)
    assert prefs.values == {"theme": "light", "size": 12}


async def test_anonymous_session_renewal_keeps_the_subject(statesync_server: ServerProcess,
                                                          make_client) -> None:
    session = AnonymousSession(statesync_server.url, margin=10**6)  # renew on every call
    first = await session()
    subject = make_client(statesync_server.url, token=first)
    await subject.connect()
    renewed = make_client(statesync_server.url, token=session)
    await renewed.connect()
    assert renewed.subject == subject.subject


async def test_settings_are_private_to_their_subject(statesync_server: ServerProcess,
                                                     make_client) -> None:
    alice = make_client(statesync_server.url, token=statesync_server.mint("alice"))
    await (await alice.settings("ui", {})).set("secret", 1)
    mallory = make_client(statesync_server.url, token=statesync_server.mint("mallory"))
    with pytest.raises(ClientError) as denied:
        await mallory.instance(SETTINGS_MACHINE, settings_instance("ui", "alice"))
    assert denied.value.code == "forbidden"
    with pytest.raises(ClientError) as denied:
        await mallory.instance(SETTINGS_MACHINE, settings_instance("ui", "alice"), create={})
    assert denied.value.code == "forbidden"
    token = statesync_server.mint("alice")
    state = get_state(statesync_server, SETTINGS_MACHINE, settings_instance("ui", "alice"),
                      token=token)
    assert state["context"] == {"values": {"secret": 1}}


async def test_settings_events_are_validated(statesync_server: ServerProcess,
                                             make_client) -> None:
    client = make_client(statesync_server.url, token=statesync_server.mint("bob"))
    prefs = await client.settings("ui")
    with pytest.raises(Rejected) as rejected:
        await prefs.instance.send({"type": "SET", "value": 1})  # no key
    assert rejected.value.code == "invalid-event"
    assert prefs.values == {}
