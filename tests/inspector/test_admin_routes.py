"""The admin HTTP routes (docs/inspector.md) on a real server: what they answer an operator,
and that nothing answers anyone else."""

from __future__ import annotations

import time

import httpx
import pytest
from helpers import failed_job, fresh, send
from statesync_server.auth import ADMIN_CLAIM
from statesync_server.testing import ServerProcess

JOB = "/v1/admin/instances/job/{job}"
ROUTES = [
    ("GET", "/v1/admin/machines", None),
    ("GET", "/v1/admin/failures", None),
    ("GET", "/v1/admin/instances/job", None),
    ("GET", "/v1/admin/instances/job?state=failed", None),
    ("GET", "/v1/admin/instances/job?index=owner&value=x", None),
    ("GET", JOB, None),
    ("GET", JOB + "/at/0", None),
    ("GET", JOB + "/log", None),
    ("GET", JOB + "/timers", None),
    ("GET", JOB + "/effects", None),
    ("GET", JOB + "/messages", None),
    ("POST", JOB + "/events", {"event": {"type": "RETRY"}}),
    ("POST", JOB + "/upgrade", {}),
    ("GET", "/statesync/inspect", None),
    ("GET", "/statesync/inspect/anything/below", None),
    ("POST", "/statesync/inspect/x", {}),
]


@pytest.fixture(scope="module")
def failed(workshop: ServerProcess, http: httpx.Client, admin_token: str) -> tuple[str, str]:
    def as_user(sub: str, method: str, path: str, **kw: object) -> httpx.Response:
        return http.request(method, path, headers={"authorization": f"Bearer {workshop.mint(sub)}"},
                            **kw)

    def as_admin(method: str, path: str, **kw: object) -> object:
        response = http.request(method, path, headers={"authorization": f"Bearer {admin_token}"},
                                **kw)
        assert response.is_success, response.text
        return response.json()

    return failed_job(as_user, as_admin)


def _credentials(workshop: ServerProcess, http: httpx.Client, owner: str) -> dict[str, dict]:
    anonymous = http.post("/v1/session").json()["token"]
    return {
        "no token": ({}, 401),
        "not a bearer": ({"authorization": "Basic b3BzOm9wcw=="}, 401),
        "garbage": ({"authorization": "Bearer not.a.jwt"}, 401),
        "wrong key": ({"authorization": "Bearer " + _foreign_admin()}, 401),
        "expired admin": ({"authorization": "Bearer "
                           + workshop.mint("ops", ttl=-10, **{ADMIN_CLAIM: True})}, 401),
        "owner": ({"authorization": f"Bearer {workshop.mint(owner)}"}, 403),
        "admin: 'true' text": ({"authorization": "Bearer "
                                + workshop.mint(owner, **{ADMIN_CLAIM: "true"})}, 403),
        "plain admin claim": ({"authorization": f"Bearer {workshop.mint(owner, admin=True)}"}, 403),
        "anonymous session": ({"authorization": f"Bearer {anonymous}"}, 403),
    }


def _foreign_admin() -> str:
    from statesync_server.testing import mint_token

    return mint_token("another-server-secret-0123456789abcdef", "ops", **{ADMIN_CLAIM: True})


def test_every_admin_route_refuses_everyone_but_an_admin(
        workshop: ServerProcess, http: httpx.Client, failed: tuple[str, str]) -> None:
    owner, job = failed
    before = http.get(f"/v1/admin/instances/job/{job}/log",
                      headers={"authorization": "Bearer " + workshop.mint("ops", **{ADMIN_CLAIM: True})})
    for name, (headers, status) in _credentials(workshop, http, owner).items():
        for method, path, body in ROUTES:
            response = http.request(method, path.format(job=job), headers=headers, json=body)
            assert response.status_code == status, (name, method, path, response.text)
            error = response.json()["error"] if "json" in response.headers["content-type"] else None
            if error is not None:
                assert error["code"] == ("unauthenticated" if status == 401 else "forbidden")
                assert set(response.json()) == {"error"}
            assert job not in response.text and owner not in response.text
    after = http.get(f"/v1/admin/instances/job/{job}/log",
                     headers={"authorization": "Bearer " + workshop.mint("ops", **{ADMIN_CLAIM: True})})
    assert before.json() == after.json()  # the refused POSTs changed nothing


def test_machines_with_versions_definitions_and_charts(as_admin, failed) -> None:
    machines = {m["name"]: m for m in as_admin("GET", "/v1/admin/machines")["machines"]}
    assert {"job", "board"} <= set(machines)
    job = machines["job"]
    assert job["current_version"] == "1" and job["instances"] >= 1
    version = job["versions"][0]
    assert version["current"] and version["effects"] == ["notify"]
    assert version["indexes"] == {"owner": "owner"}
    assert version["config"]["states"]["running"]["type"] == "parallel"
    nodes = {n["id"]: n for n in version["chart"]["nodes"]}
    assert nodes["job.running"]["type"] == "parallel"
    assert nodes["job.running.build"]["initial"] == "job.running.build.compiling"
    assert nodes["job.running.hist"]["history"] == "deep"
    assert nodes["job.expired"]["type"] == "final"
    labels = {(e["source"], e["target"]): e["label"] for e in version["chart"]["edges"]}
    assert labels[("job.queued", "job.expired")] == "after 1h"
    assert labels[("job.running", "job.failed")] == "FAIL [hasReason]"
    assert labels[("job.paused", "job.running.hist")] == "RESUME"


def test_search_by_prefix_state_status_and_index_with_counts(as_admin, as_user) -> None:
    owner = fresh("searcher")
    names = [f"{owner}-a", f"{owner}-b", f"{owner}-c"]
    for name in names:
        assert as_user(owner, "POST", f"/v1/instances/job/{name}",
                       json={"input": {"owner": owner}}).status_code == 201
    send(as_user, owner, names[1], {"type": "START"})
    send(as_user, owner, names[2], {"type": "START"})
    send(as_user, owner, names[2], {"type": "LINTED"})

    found = as_admin("GET", "/v1/admin/instances/job", params={"prefix": owner})
    assert [i["instance"] for i in found["items"]] == names and found["total"] == 3
    assert found["counts"]["state"] == {
        "queued": 1, "running": 2, "running.build": 2, "running.build.compiling": 2,
        "running.checks": 2, "running.checks.lint": 1, "running.checks.test": 1}
    assert found["counts"]["version"] == {"1": 3} and found["counts"]["status"] == {"active": 3}

    in_test = as_admin("GET", "/v1/admin/instances/job",
                       params={"prefix": owner, "state": "running.checks.test"})
    assert [i["instance"] for i in in_test["items"]] == [names[2]]
    running = as_admin("GET", "/v1/admin/instances/job", params={"prefix": owner, "state": "running"})
    assert running["total"] == 2
    by_index = as_admin("GET", "/v1/admin/instances/job",
                        params={"index": "owner", "op": "eq", "value": owner, "state": "queued"})
    assert [i["instance"] for i in by_index["items"]] == [names[0]]
    paged = as_admin("GET", "/v1/admin/instances/job", params={"prefix": owner, "limit": 2})
    assert [i["instance"] for i in paged["items"]] == names[:2] and paged["next"] == names[1]
    rest = as_admin("GET", "/v1/admin/instances/job",
                    params={"prefix": owner, "limit": 2, "after": paged["next"]})
    assert [i["instance"] for i in rest["items"]] == names[2:] and rest["next"] is None


def test_full_snapshot_at_every_seq_matches_the_history_api(as_admin, as_user, failed) -> None:
    owner, job = failed
    log = as_admin("GET", f"/v1/admin/instances/job/{job}/log")["entries"]
    assert [e["seq"] for e in log] == [0, 1, 2, 3]
    assert [(e["origin"], e["subject"], e["event"]["type"]) for e in log] == [
        ("client", owner, "xstate.init"), ("client", owner, "START"),
        ("client", owner, "COMPILED"), ("client", owner, "FAIL")]
    assert log[3]["event"]["reason"] == "disk full" and log[3]["states"] == ["failed"]
    previous = None
    for entry in log:
        full = as_admin("GET", f"/v1/admin/instances/job/{job}/at/{entry['seq']}")
        public = as_user(owner, "GET", f"/v1/instances/job/{job}/at/{entry['seq']}").json()
        snapshot = full["snapshot"]
        assert snapshot["value"] == public["value"] == entry["value"]
        assert snapshot["tags"] == public["tags"]
        assert snapshot["context"]["secret"] == "s3cret" and "secret" not in public["context"]
        assert {k: v for k, v in snapshot["context"].items() if k != "secret"} == public["context"]
        if previous is None:
            assert full["diff"] is None
        else:
            changed = any(c["path"].split(".")[0] == "value" for c in full["diff"])
            assert changed == (previous["value"] != snapshot["value"])
        previous = snapshot
    last = as_admin("GET", f"/v1/admin/instances/job/{job}/at/3")
    assert {"path": "context.reason", "op": "replace", "before": None,
            "after": "disk full"} in last["diff"]
    missing = as_user(owner, "GET", f"/v1/admin/instances/job/{job}/at/99")
    assert missing.status_code == 403


def test_effects_messages_and_failures(as_admin, failed) -> None:
    owner, job = failed
    effects = as_admin("GET", f"/v1/admin/instances/job/{job}/effects")["effects"]
    assert [(e["name"], e["status"], e["attempts"]) for e in effects] == [("notify", "failed", 2)]
    assert effects[0]["error"] == f"ProviderDown: provider unavailable for {owner}"
    assert effects[0]["key"] == f"job/{job}/3/0"
    out = as_admin("GET", f"/v1/admin/instances/job/{job}/messages")["out"]
    assert [(m["name"], m["target"], m["payload"]["event"]) for m in out] == [
        ("board", owner, {"type": "JOB_FAILED", "reason": "disk full"})]
    incoming = as_admin("GET", f"/v1/admin/instances/board/{owner}/messages")["in"]
    assert [(m["machine"], m["instance"], m["status"]) for m in incoming] == [("job", job, "done")]
    board_log = as_admin("GET", f"/v1/admin/instances/board/{owner}/log")["entries"]
    assert (board_log[-1]["origin"], board_log[-1]["subject"]) == ("instance", f"job/{job}")

    failures = as_admin("GET", "/v1/admin/failures")
    assert any(e["key"] == f"job/{job}/3/0" and e["attempts"] == 2 for e in failures["effects"])
    stuck = [i for i in failures["instances"] if i["instance"] == job]
    assert stuck and stuck[0]["tags"] == ["needs-attention"]
    overview = as_admin("GET", f"/v1/admin/instances/job/{job}")
    assert overview["snapshot"]["context"]["secret"] == "s3cret"
    assert overview["effects"] == effects and overview["messages"]["out"] == out


def test_pending_timers_with_due_times(as_admin, as_user) -> None:
    owner, job = fresh("timer-owner"), fresh("timed")
    before = time.time()
    assert as_user(owner, "POST", f"/v1/instances/job/{job}",
                   json={"input": {"owner": owner}}).status_code == 201
    timers = as_admin("GET", f"/v1/admin/instances/job/{job}/timers")["timers"]
    assert len(timers) == 1 and timers[0]["event"]["type"].startswith("xstate.after.3600000")
    assert before + 3600 <= timers[0]["due"] <= time.time() + 3600
    assert timers[0]["late"] is False and timers[0]["seq"] == 0
    send(as_user, owner, job, {"type": "START"})  # leaving `queued` cancels it
    assert as_admin("GET", f"/v1/admin/instances/job/{job}/timers")["timers"] == []


def test_an_admin_sends_events_the_app_would_refuse_and_upgrades(as_admin, as_user, failed) -> None:
    owner, job = failed
    assert as_user("mallory", "POST", f"/v1/instances/job/{job}/events",
                   json={"event": {"type": "RETRY"}, "event_id": "m1"}).status_code == 403
    sent = as_admin("POST", f"/v1/admin/instances/job/{job}/events",
                    json={"event": {"type": "RETRY"}, "event_id": "ops-retry-1"})
    assert sent["seq"] == 4 and sent["duplicate"] is False
    again = as_admin("POST", f"/v1/admin/instances/job/{job}/events",
                     json={"event": {"type": "RETRY"}, "event_id": "ops-retry-1"})
    assert again["duplicate"] is True and again["seq"] == 4
    entry = as_admin("GET", f"/v1/admin/instances/job/{job}/log", params={"since": 3})["entries"]
    assert [(e["origin"], e["subject"], e["value"]) for e in entry] == [("admin", "ops", "queued")]
    public = as_user(owner, "GET", f"/v1/instances/job/{job}/events", params={"since": 3}).json()
    assert [(e["origin"], e["subject"]) for e in public["entries"]] == [("admin", None)]
    upgraded = as_admin("POST", f"/v1/admin/instances/job/{job}/upgrade", json={})
    assert upgraded == {"machine": "job", "instance": job, "version": "1", "upgraded": False}


def test_admin_input_errors_are_structured(http: httpx.Client, admin_token: str, failed) -> None:
    _owner, job = failed
    headers = {"authorization": f"Bearer {admin_token}"}
    cases = [
        ("GET", "/v1/admin/instances/nope", None, 404, "not-found"),
        ("GET", f"/v1/admin/instances/job/{job}/at/-1", None, 400, "invalid-message"),
        ("GET", f"/v1/admin/instances/job/{job}/at/999", None, 404, "not-found"),
        ("GET", "/v1/admin/instances/job/missing-one", None, 404, "not-found"),
        ("GET", "/v1/admin/instances/job?index=nope&value=1", None, 404, "not-found"),
        ("POST", f"/v1/admin/instances/job/{job}/events", {"event": {"type": "xstate.after.1"}},
         422, "invalid-event"),
        ("POST", f"/v1/admin/instances/job/{job}/events", {"event": {"type": "LINKED"}},
         409, "event-not-accepted"),
        ("POST", f"/v1/admin/instances/job/{job}/events", {"nope": 1}, 400, "invalid-message"),
        ("POST", f"/v1/admin/instances/job/{job}/upgrade", {"to_version": "9"}, 404, "not-found"),
    ]
    for method, path, body, status, code in cases:
        response = http.request(method, path, headers=headers, json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), path


def test_the_inspector_page_is_a_shell_answered_200_only_to_an_admin(
        http: httpx.Client, admin_token: str) -> None:
    page = http.get("/statesync/inspect", headers={"authorization": f"Bearer {admin_token}"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    anonymous = http.get("/statesync/inspect")
    assert anonymous.status_code == 401 and anonymous.text == page.text  # no data either way
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    for asset in ("inspector.js", "statechart.js", "durations.js", "inspector.css", "elk.bundled.js"):
        assert http.get(f"/statesync/inspector-assets/{asset}").status_code == 200
    assert http.get("/statesync/inspector-assets/..%2Fauth.py").status_code == 404
    assert http.get("/statesync/inspector-assets/index.html").status_code == 404
    below = http.get("/statesync/inspect/nothing", headers={"authorization": f"Bearer {admin_token}"})
    assert below.status_code == 404
