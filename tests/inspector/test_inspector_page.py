"""The inspector page in Debian's Chromium against real servers: every example machine drawn,
collapsing, live highlighting, the seq slider against the history API, a failing effect.
Screenshots go to artifacts/inspector/."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ARTIFACTS, REPO, WORKSHOP
from helpers import failed_job, fresh, send, wait_for
from statesync_server.auth import ADMIN_CLAIM
from statesync_server.testing import ServerProcess

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect

EXAMPLES = sorted(REPO.glob("examples/*/app.py"))


PAGE_ERRORS: list[str] = []
"""Uncaught errors of every inspector page opened (each test checks none happened)."""


@pytest.fixture(autouse=True)
def no_page_errors() -> Iterator[None]:
    PAGE_ERRORS.clear()
    yield
    assert PAGE_ERRORS == []


def sign_in(browser: Browser, server: ServerProcess, width: int = 1600) -> Page:
    page = browser.new_context(viewport={"width": width, "height": 1000}).new_page()
    page.on("pageerror", lambda error: PAGE_ERRORS.append(str(error)))
    page.set_default_timeout(30_000)
    response = page.goto(f"{server.url}/statesync/inspect")
    assert response is not None and response.status == 401  # a navigation carries no token
    page.fill("#token", server.mint("ops", **{ADMIN_CLAIM: True}))
    page.click("#signin-form button")
    expect(page.locator("#app")).to_be_visible()
    return page


def admin(server: ServerProcess) -> httpx.Client:
    token = server.mint("ops", **{ADMIN_CLAIM: True})
    return httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"},
                        timeout=30)


def drawn_states(page: Page) -> set[str]:
    return set(page.eval_on_selector_all("#machine-diagram [data-state-id]",
                                         "nodes => nodes.map(n => n.dataset.stateId)"))


def drawn_edges(page: Page, container: str = "#machine-diagram") -> list[tuple[str, str, str]]:
    return sorted(tuple(e) for e in page.eval_on_selector_all(
        f"{container} [data-edge-id]",
        "edges => edges.map(e => [e.dataset.source, e.dataset.target, e.dataset.label])"))


def open_machine(page: Page, machine: str) -> None:
    page.evaluate("name => { location.hash = '#/m/' + encodeURIComponent(name) }", machine)
    expect(page.locator("#machine-title")).to_have_text(machine)
    page.wait_for_selector("#machine-diagram svg")


@pytest.fixture(scope="module")
def workshop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The browser tests' server: SQLite only (the admin routes run on every backend)."""
    server = ServerProcess(WORKSHOP, tmp_path_factory.mktemp("browser") / "inspect.db").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def inspector_page(workshop: ServerProcess, statesync_browser: Browser) -> Iterator[Page]:
    page = sign_in(statesync_browser, workshop)
    yield page
    page.context.close()


@pytest.mark.parametrize("app", [*EXAMPLES, WORKSHOP], ids=lambda p: p.parent.name)
def test_every_state_of_every_machine_is_drawn(app: Path, statesync_browser: Browser,
                                               tmp_path: Path) -> None:
    server = ServerProcess(app, tmp_path / "inspect.db").start()
    try:
        with admin(server) as client:
            machines = client.get("/v1/admin/machines").json()["machines"]
        page = sign_in(statesync_browser, server, width=2400)  # whole charts in the screenshots
        for machine in machines:
            chart = next(v for v in machine["versions"] if v["current"])["chart"]
            open_machine(page, machine["name"])
            assert drawn_states(page) == {n["id"] for n in chart["nodes"]}
            assert drawn_edges(page) == sorted(
                (e["source"], e["target"], e["label"]) for e in chart["edges"])
            for node in chart["nodes"]:
                if node["initial"]:
                    assert page.locator(f'[data-initial-of="{node["id"]}"]').count() == 1
            finals = {n["id"] for n in chart["nodes"] if n["type"] == "final"}
            assert finals == set(page.eval_on_selector_all(
                '#machine-diagram [data-state-type="final"]', "ns => ns.map(n => n.dataset.stateId)"))
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = machine["name"].replace(".", "_")
            page.locator("#machine-diagram svg").screenshot(
                path=ARTIFACTS / f"{app.parent.name}-{name}.png")
        page.context.close()
    finally:
        server.stop()


def test_collapsing_a_compound_state_hides_its_children_and_keeps_its_transitions(
        inspector_page: Page) -> None:
    page = inspector_page
    open_machine(page, "job")
    expanded = drawn_states(page)
    running = {s for s in expanded if s.startswith("job.running.")}
    assert {"job.running.build.compiling", "job.running.checks.test", "job.running.hist"} <= running
    page.click('[data-toggle="job.running"]')
    page.wait_for_selector('[data-state-id="job.running"][data-collapsed="true"]')
    assert drawn_states(page) == expanded - running
    assert drawn_edges(page) == sorted([
        ("job.failed", "job.queued", "RETRY"),
        ("job.paused", "job.running", "RESUME"),  # to running.hist, now inside the fold
        ("job.queued", "job.expired", "after 1h"),
        ("job.queued", "job.running", "START"),
        ("job.running", "job.failed", "FAIL [hasReason]"),
        ("job.running", "job.paused", "PAUSE"),
    ])
    page.locator("#machine-diagram svg").screenshot(path=ARTIFACTS / "job-collapsed.png")
    page.click('[data-toggle="job.running"]')
    page.wait_for_selector('[data-state-id="job.running.build.compiling"]')
    assert drawn_states(page) == expanded


def _active(page: Page) -> set[str]:
    return set(page.eval_on_selector_all("#instance-diagram [data-active]",
                                         "ns => ns.map(n => n.dataset.stateId)"))


def test_the_highlight_follows_events_sent_by_another_client(
        inspector_page: Page, as_user, capsys) -> None:
    page = inspector_page
    owner, job = fresh("live-owner"), fresh("live")
    assert as_user(owner, "POST", f"/v1/instances/job/{job}",
                   json={"input": {"owner": owner}}).status_code == 201
    page.evaluate("name => { location.hash = '#/i/job/' + name }", job)
    page.wait_for_selector('#instance-diagram [data-state-id="job.queued"][data-active]')
    assert _active(page) == {"job.queued"}
    latencies = []
    for event, expected in [
        ({"type": "START"}, {"job.running", "job.running.build", "job.running.checks",
                             "job.running.build.compiling", "job.running.checks.lint"}),
        ({"type": "LINTED"}, {"job.running", "job.running.build", "job.running.checks",
                              "job.running.build.compiling", "job.running.checks.test"}),
        ({"type": "PAUSE"}, {"job.paused"}),
    ]:
        sent = time.monotonic()
        send(as_user, owner, job, event)
        wait_for(lambda expected=expected: _active(page) == expected, f"{event} highlighted", 10)
        latencies.append(time.monotonic() - sent)
    page.screenshot(path=ARTIFACTS / "instance-live.png", full_page=True)
    with capsys.disabled():
        print(f"\ninspector highlight after another client's event: "
              f"{', '.join(f'{s * 1000:.0f} ms' for s in latencies)}")


def test_the_slider_shows_exactly_the_history_api_snapshot(inspector_page: Page, workshop,
                                                           as_user, as_admin) -> None:
    page = inspector_page
    owner, job = failed_job(as_user, as_admin)
    page.evaluate("name => { location.hash = '#/i/job/' + name }", job)
    page.wait_for_selector('#snapshot[data-seq="3"]')
    chart = next(m for m in as_admin("GET", "/v1/admin/machines")["machines"]
                 if m["name"] == "job")["versions"][0]["chart"]
    by_path = {n["path"]: n["id"] for n in chart["nodes"]}
    for seq in [1, 0, 2, 3]:
        page.locator("#seq").fill(str(seq))
        page.wait_for_selector(f'#snapshot[data-seq="{seq}"]')
        page.wait_for_selector(f'#instance-diagram[data-seq="{seq}"]')
        shown = json.loads(page.locator("#snapshot").text_content())
        assert shown == as_admin("GET", f"/v1/admin/instances/job/{job}/at/{seq}")["snapshot"]
        public = as_user(owner, "GET", f"/v1/instances/job/{job}/at/{seq}").json()
        assert (shown["value"], shown["tags"]) == (public["value"], public["tags"])
        assert {k: v for k, v in shown["context"].items() if k != "secret"} == public["context"]
        value = shown["value"]
        paths = [value] if isinstance(value, str) else [
            f"running.{region}.{leaf}" for region, leaf in value["running"].items()]
        expected = {by_path[".".join(p.split(".")[:i + 1])]
                              for p in paths for i in range(len(p.split(".")))}
        assert _active(page) == expected
        if seq == 2:
            diff = page.eval_on_selector_all("#diff tbody tr", "rs => rs.map(r => r.cells[0].innerText)")
            assert "context.steps" in diff and "value.running.build" in diff
            page.screenshot(path=ARTIFACTS / "instance-slider-seq2.png", full_page=True)
    assert page.locator("#follow").is_checked()


def test_a_failing_effect_shows_its_error_and_attempts(inspector_page: Page, as_user,
                                                       as_admin) -> None:
    page = inspector_page
    owner, job = failed_job(as_user, as_admin)
    key = f"job/{job}/3/0"
    failure = page.locator(f'#failures li.fail-effect[data-key="{key}"]')
    expect(failure).to_contain_text(f"ProviderDown: provider unavailable for {owner}")
    expect(failure).to_contain_text("2 attempts")
    page.locator(f'#failures li.fail-effect[data-key="{key}"] a').click()
    row = page.locator(f'#effects tr[data-key="{key}"]')
    expect(row.locator(".attempts")).to_have_text("2")
    expect(row).to_contain_text("failed")
    expect(row.locator(".error")).to_have_text(f"ProviderDown: provider unavailable for {owner}")
    expect(page.locator("#messages-out")).to_contain_text(f"board/{owner}")
    expect(page.locator(f'#failures li.fail-instance a[href="#/i/job/{job}"]')).to_be_visible()
    page.screenshot(path=ARTIFACTS / "instance-failed-effect.png", full_page=True)


def test_send_and_upgrade_forms_act_as_admin(inspector_page: Page, as_user, as_admin) -> None:
    page = inspector_page
    _owner, job = failed_job(as_user, as_admin)
    page.evaluate("name => { location.hash = '#/i/job/' + name }", job)
    page.wait_for_selector('#snapshot[data-seq="3"]')
    page.fill("#send-form textarea", '{"type": "RETRY"}')
    page.click("#send-form button")
    expect(page.locator("#send-result")).to_have_text("applied at seq 4")
    page.wait_for_selector('#instance-diagram [data-state-id="job.queued"][data-active]')
    log = as_admin("GET", f"/v1/admin/instances/job/{job}/log", params={"since": 3})["entries"]
    assert [(e["origin"], e["subject"]) for e in log] == [("admin", "ops")]
    page.click("#upgrade-form button")
    expect(page.locator("#upgrade-result")).to_have_text("already at v1")


def test_the_cli_svg_has_the_inspectors_layout(inspector_page: Page) -> None:
    import subprocess
    import sys
    import xml.etree.ElementTree as ET

    done = subprocess.run([sys.executable, "-m", "statesync_server", "diagram", str(WORKSHOP),
                           "job", "--format", "svg"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    svg = "{http://www.w3.org/2000/svg}"
    cli = {}
    for group in ET.fromstring(done.stdout).iter(f"{svg}g"):
        shape = group.find(f"{svg}rect") if group.find(f"{svg}rect") is not None else \
            group.find(f"{svg}circle")
        if "data-state-id" in group.attrib and shape is not None:
            cli[group.attrib["data-state-id"]] = {k: float(v) for k, v in shape.attrib.items()
                                                  if k in ("x", "y", "width", "height", "cx", "cy")}
    page = inspector_page
    open_machine(page, "job")
    shown = page.eval_on_selector_all("#machine-diagram [data-state-id]", """groups =>
        Object.fromEntries(groups.map(g => {
          const shape = g.querySelector(':scope > rect, :scope > circle');
          const keys = ['x', 'y', 'width', 'height', 'cx', 'cy'].filter(k => shape.hasAttribute(k));
          return [g.dataset.stateId, Object.fromEntries(keys.map(k => [k, Number(shape.getAttribute(k))]))];
        }))""")
    assert shown == cli and len(cli) == 14


def test_instances_are_searched_with_counts_per_state(inspector_page: Page, as_user) -> None:
    page = inspector_page
    owner = fresh("searched")
    for name, events in [("a", []), ("b", [{"type": "START"}]), ("c", [{"type": "START"}])]:
        assert as_user(owner, "POST", f"/v1/instances/job/{owner}-{name}",
                       json={"input": {"owner": owner}}).status_code == 201
        for event in events:
            send(as_user, owner, f"{owner}-{name}", event)
    open_machine(page, "job")
    page.fill('#search [name="prefix"]', owner)
    page.click("#search button")
    expect(page.locator("#instances tbody tr")).to_have_count(3)
    expect(page.locator('#counts [data-count="running.build.compiling"]')).to_have_text(
        "running.build.compiling: 2")
    expect(page.locator('#counts [data-count="queued"]')).to_have_text("queued: 1")
    page.fill('#search [name="state"]', "queued")
    page.click("#search button")
    expect(page.locator("#instances tbody tr")).to_have_count(1)
    expect(page.locator("#instances tbody")).to_contain_text(f"{owner}-a")
    page.screenshot(path=ARTIFACTS / "machine-search.png", full_page=True)
    page.fill('#search [name="state"]', "")


def test_a_failed_effect_is_retried_and_dismissed_from_the_page(inspector_page: Page, as_user,
                                                                as_admin) -> None:
    page = inspector_page
    _owner, job = failed_job(as_user, as_admin)
    key = f"job/{job}/3/0"
    effects = f"/v1/admin/instances/job/{job}/effects"
    before = as_admin("GET", effects)["effects"][0]
    page.locator(f'#failures li.fail-effect[data-key="{key}"] a').click()
    row = page.locator(f'#effects tr[data-key="{key}"]')
    row.locator('[data-work-action="retry"]').click()  # the provider is still down: fails again
    wait_for(lambda: as_admin("GET", effects)["effects"][0]["updated_at"] > before["updated_at"]
             and as_admin("GET", effects)["effects"][0]["status"] == "failed", what="the retry")
    banner = page.locator(f'#failures li.fail-effect[data-key="{key}"]')
    banner.locator('[data-work-action="dismiss"]').click()
    expect(banner).to_have_count(0)  # off the failures banner
    assert as_admin("GET", effects)["effects"][0]["status"] == "dismissed"
    expect(row).to_contain_text("dismissed")
    expect(row.locator("[data-work-action]")).to_have_count(0)


def test_a_wide_chart_scrolls_to_the_active_state_and_fits_the_pane(
        workshop: ServerProcess, statesync_browser: Browser, as_user, as_admin) -> None:
    _owner, job = failed_job(as_user, as_admin)  # in `failed`, far from the chart's start
    page = sign_in(statesync_browser, workshop, width=520)
    page.evaluate("name => { location.hash = '#/i/job/' + name }", job)
    page.wait_for_selector('#instance-diagram [data-state-id="job.failed"][data-active="true"]')
    pane = page.locator("#instance-diagram")
    sizes = pane.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert sizes[0] > sizes[1] * 1.2, sizes  # wider than the pane: part of it is out of view
    inside = """el => {
        const view = el.getBoundingClientRect();
        const box = el.querySelector('[data-state-id="job.failed"]').getBoundingClientRect();
        return box.left >= view.left && box.right <= view.right && box.top >= view.top &&
               box.bottom <= view.bottom;
    }"""
    assert pane.evaluate(inside)  # scrolled to it
    page.click('button.fit[data-diagram="instance-diagram"]')
    width = pane.evaluate("el => [el.querySelector('svg').getBoundingClientRect().width, el.clientWidth]")
    assert width[0] <= width[1], width
    assert pane.evaluate(inside)
    page.context.close()
