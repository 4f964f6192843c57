"""examples/build end to end: wants, an orchestrator, partitions and job runs as instances of
four machines talking through messages, on a real server process and a real warehouse
directory; including a SIGKILL of the server in the middle of a build."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from examples_harness import Caller, example, serve

from statesync_server.testing import ServerProcess

APP = example("build")
EVENTS = [{"user": "u1", "page": "/"}, {"user": "u2", "page": "/"}, {"user": "u1", "page": "/a"}]
USERS = [{"id": "u1", "name": "Ada"}, {"id": "u2", "name": "Grace"}]
REPORT = [{"name": "Ada", "views": 2}, {"name": "Grace", "views": 1}]


class Build:
    """A server of the example, its warehouse directory, and a user asking for partitions."""

    def __init__(self, server: ServerProcess, data: Path, user: Caller) -> None:
        self.server, self.data, self.user = server, data, user

    def land(self, source: str, date: str, rows: list[dict[str, Any]]) -> None:
        path = self.data / "landing" / source / f"{date}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".tmp").write_text(json.dumps(rows))
        path.with_suffix(".tmp").replace(path)

    def want(self, name: str, *partitions: str) -> None:
        created = self.user.create("want", name, {"partitions": list(partitions)})
        assert created.status_code == 201, created.text

    def settled(self, name: str) -> dict[str, Any]:
        """The want once the server has nothing left to do at this (virtual) time."""
        self.server.advance_blocking(seconds=0)
        return self.user.state("want", name)

    def built(self, asset: str, date: str) -> Any:
        return json.loads((self.data / "warehouse" / asset / f"{date}.json").read_text())

    def audit(self) -> list[dict[str, Any]]:
        path = self.data / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def story(self, machine: str, name: str) -> list[tuple[Any, ...]]:
        return [(e["origin"], e.get("subject"), e["event"]["type"])
                for e in self.user.log(machine, name)]


ENV = {"BUILD_FLAKY": "sessions@2026-12-02=1,sessions@2026-12-03=9"}


@pytest.fixture(scope="module")
def build_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    root = tmp_path_factory.mktemp("build")
    process = serve(APP, root / "build.db", BUILD_DATA_DIR=str(root / "data"), **ENV)
    yield process, root / "data"
    process.stop()


@pytest.fixture
def build(build_server, callers) -> Build:
    server, data = build_server
    return Build(server, data, callers(server, "ada"))


def test_a_want_builds_every_partition_it_needs_upstream_first(build: Build) -> None:
    day = "2026-12-01"
    build.land("events", day, EVENTS)
    build.land("users", day, USERS)
    build.want("w1", f"report@{day}")
    assert build.settled("w1")["value"] == "satisfied"
    assert build.built("report", day) == REPORT
    assert build.built("sessions", day) == {"u1": 2, "u2": 1}

    starts = [a["partition"] for a in build.audit() if a["partition"].endswith(day)]
    assert sorted(starts) == sorted(f"{a}@{day}" for a in ("events", "users", "sessions", "report"))
    assert starts.index(f"sessions@{day}") > starts.index(f"events@{day}")
    assert starts[-1] == f"report@{day}"

    # the whole story is in the event logs: who asked, which run reported, in order
    orchestrator = build.story("orchestrator", "main")
    assert ("instance", "want/w1", "WANT") in orchestrator
    reports = [s for s in orchestrator if s[2] == "RUN_SUCCEEDED" and s[1].endswith(day + "~1")]
    assert sorted(s[1] for s in reports) == sorted(
        f"run/{a}@{day}~1" for a in ("events", "users", "sessions", "report"))
    assert reports[-1][1] == f"run/report@{day}~1"
    assert build.story("run", f"report@{day}~1") == [
        ("instance", "orchestrator/main", "xstate.init"),
        ("service", "job#job", "xstate.done.actor.job"),
    ]
    assert [s[2] for s in build.story("partition", f"report@{day}")] == [
        "xstate.init", "BUILDING", "BUILT"]
    assert build.user.state("partition", f"report@{day}")["context"]["rows"] == 2
    assert build.user.state("want", "w1")["context"]["requester"] == "ada"

    # a later want of a built partition is answered without building anything again
    before = len(build.audit())
    build.want("w1-again", f"sessions@{day}")
    assert build.settled("w1-again")["value"] == "satisfied"
    assert len(build.audit()) == before


def test_a_failed_run_is_retried_by_a_new_run(build: Build) -> None:
    day = "2026-12-02"  # BUILD_FLAKY: the first run of sessions@2026-12-02 fails
    build.land("events", day, EVENTS)
    build.land("users", day, USERS)
    build.want("w2", f"report@{day}")
    assert build.settled("w2")["value"] == "requested"  # sessions failed: retried in 30 s
    build.server.advance_blocking(seconds=29)
    assert build.user.state("partition", f"sessions@{day}")["value"] == "retrying"
    build.server.advance_blocking(seconds=1)
    assert build.settled("w2")["value"] == "satisfied"
    assert build.built("report", day) == REPORT
    log = build.user.log("orchestrator", "main")
    story = [(e["origin"], e.get("subject"), e["event"]["type"]) for e in log]
    failed = story.index(("instance", f"run/sessions@{day}~1", "RUN_FAILED"))
    retried = next(i for i, (origin, _, kind) in enumerate(story)
                   if i > failed and (origin, kind) == ("timer", "RETRY"))
    assert log[retried]["at"] - log[failed]["at"] == pytest.approx(30, abs=1e-3)
    assert ("instance", f"run/sessions@{day}~2", "RUN_SUCCEEDED") in story[retried:]
    run = build.user.state("run", f"sessions@{day}~1")
    assert run["value"] == "failed" and "connection reset" in run["context"]["error"]
    assert [s[2] for s in build.story("partition", f"sessions@{day}")] == [
        "xstate.init", "BUILDING", "RETRYING", "BUILDING", "BUILT"]


def test_a_partition_that_keeps_failing_fails_its_want_and_blocks_what_needs_it(build: Build) -> None:
    day = "2026-12-03"  # BUILD_FLAKY: every run of sessions@2026-12-03 fails
    build.land("events", day, EVENTS)
    build.land("users", day, USERS)
    build.want("w3", f"report@{day}")
    build.server.advance_blocking(minutes=1)  # two retries, 30 s apart
    want = build.settled("w3")
    assert want["value"] == "failed"
    assert want["context"]["failed"] == f"sessions@{day}"
    assert "connection reset (attempt 3)" in want["context"]["error"]
    assert build.user.state("partition", f"sessions@{day}")["value"] == "failed"
    assert build.user.state("partition", f"report@{day}")["value"] == "blocked"
    runs = [a["attempt"] for a in build.audit() if a["partition"] == f"sessions@{day}"]
    assert runs == [1, 2, 3]
    assert not any(a["partition"] == f"report@{day}" for a in build.audit())


def test_only_the_build_itself_writes_its_entities(build: Build) -> None:
    user = build.user
    forged = user.send("orchestrator", "main", {"type": "RUN_SUCCEEDED",
                                                "partition": "report@2026-12-09", "rows": 1})
    assert forged.status_code in (403, 422), forged.text
    assert user.create("partition", "report@2026-12-09", {"asset": "report"}).status_code == 403
    assert user.create("run", "report@2026-12-09~1", {"partition": "x"}).status_code == 403
    bad = user.create("want", "w-bad", {"partitions": ["nope@2026-12-01"]})
    assert bad.status_code == 422 and "nope" in bad.json()["error"]["message"]
    for junk in ({"partitions": []}, None, 7, {"partitions": 7}, {"partitions": [1]},
                 {"partitions": ["report@2026-12-01"], "extra": 1}):
        assert user.create("want", "w-junk", junk).status_code == 422, junk
    assert user.get("partition", "report@2026-12-09").status_code == 404


def test_a_build_killed_mid_way_resumes_where_it_was(tmp_path: Path, callers) -> None:
    data, day = tmp_path / "data", "2026-12-05"
    server = serve(APP, tmp_path / "crash.db", BUILD_DATA_DIR=str(data), **ENV)
    try:
        build = Build(server, data, callers(server, "ada"))
        build.land("users", day, USERS)  # events have not landed: their sensor waits
        build.want("w5", f"report@{day}")
        server.advance_blocking(seconds=5)  # the sensor looks every second: still nothing
        assert build.user.state("partition", f"users@{day}")["value"] == "built"
        assert build.user.state("run", f"events@{day}~1")["value"] == "running"
        assert any(a["partition"] == f"events@{day}" for a in build.audit())

        server.kill()  # SIGKILL in the middle of the build: nothing shuts down cleanly
        server.start()  # same port, same database
        build.land("events", day, EVENTS)
        server.advance_blocking(seconds=1)  # the sensor, run again after the restart, finds them
        assert build.settled("w5")["value"] == "satisfied"
        assert build.built("report", day) == REPORT

        starts = Counter(a["partition"] for a in build.audit())
        # built before the crash: not built again; running at the crash: run again, same key
        assert starts == {f"users@{day}": 1, f"events@{day}": 2, f"sessions@{day}": 1,
                          f"report@{day}": 1}
        keys = {a["key"] for a in build.audit() if a["partition"] == f"events@{day}"}
        assert len(keys) == 1 and len({a["pid"] for a in build.audit()}) == 2
        partitions = build.user.state("orchestrator", "main")["context"]["partitions"]
        assert {p: e["attempts"] for p, e in partitions.items()} == {
            f"{a}@{day}": 1 for a in ("events", "users", "sessions", "report")}
        assert build.story("run", f"events@{day}~1") == [
            ("instance", "orchestrator/main", "xstate.init"),
            ("service", "job#job", "xstate.done.actor.job"),
        ]
    finally:
        server.stop()


def test_the_page_shows_a_days_partitions_live_and_asks_for_its_report(page, build: Build) -> None:
    from playwright.sync_api import expect

    day = "2026-12-07"
    build.land("events", day, EVENTS)
    build.land("users", day, USERS)
    page.goto(f"{build.server.url}/#token={build.user.token}&date={day}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=60_000)
    expect(page.locator("#date")).to_have_value(day)
    page.get_by_role("button", name="Build the report").click()
    rows = page.locator("#partitions tr")
    expect(rows).to_have_count(4, timeout=60_000)  # (live once the page's Pyodide is up)
    for asset in ("events", "users", "sessions", "report"):
        expect(page.locator(f'[data-partition="{asset}@{day}"]')).to_have_attribute(
            "data-status", "built", timeout=60_000)
    expect(page.locator(f'[data-partition="report@{day}"] td').nth(3)).to_have_text("2")
    assert build.built("report", day) == REPORT
