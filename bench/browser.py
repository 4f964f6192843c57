"""Browser client benchmark: the light runtime (MicroPython) and Pyodide in Debian's Chromium
against a real server, quiet and with CPU-burning processes beside it.

    python bench/browser.py --quick --burn 0,2   # the documented run (docs/performance.md)
    python bench/browser.py                      # more runs and sends (several minutes)
    python bench/browser.py --runtime light      # one runtime only (light, pyodide, both)
    python bench/browser.py --url URL            # a running server of the example app

For each runtime (a server of examples/settings_page started with STATESYNC_BROWSER_RUNTIME
auto, which gives the example's machines MicroPython, or pyodide) and each `--burn` count of
busy-looping processes (0: quiet; 2: as many as this machine has cores, users' devices are
loaded too), two pages of the same origin. The example page (a settings form and a React todo
list, both re-rendered on every change) measures what a user of it sees; a bare page (a JSON
document the server serves, where nothing runs but the SDK) measures the SDK's own path, with
no page rendering competing for the main thread.

On the example page, in a fresh browser profile:
  cold page load -> first state shown (empty HTTP cache), the server's state fetched over HTTP
  while the runtime boots; the bytes transferred (page and worker, compressed as sent); a click
  made at once after the first state -> its effect shown (confirmed over HTTP before the
  runtime is up, else optimistic); page load -> handover to the Python client (optimistic from
  then on); the runtime's start and its imports, in the worker; the longest main-thread task
  until the handover (PerformanceObserver "longtask": none means none of 50 ms or more) and the
  longest script in a long animation frame;
  warm: the same, reloaded (HTTP cache; the SharedWorker outlives the page where Chromium gives
  it an extended lifetime, so its runtime is found booted);
  a second tab of the same origin: page load -> handover (runtime and connection already there);
  revisit: the browser started again on the same profile (HTTP cache, a new worker: Pyodide
  restores its memory snapshot) -> first state, handover, bytes;
  send() -> optimistic state shown while the page renders each change: after each cold and warm
  load, and in a row (after the bare page's, in the same fresh context).
On the bare page: the SDK's import -> handover, cold and warm, the longest main-thread task in
it, and the longest SDK script in a long animation frame; send() -> optimistic state through the
worker (main -> worker -> main), one at a time: after each cold and warm load, and in a row in a
fresh context; settings.set() -> shown (applied in the page at once), one at a time and in a
burst; send() -> resolved (the server's ack: a loopback round trip, durable commit included);
and the platform's floor for the optimistic path, in the same run: a message echoed by a bare
SharedWorker.
Targets (issue 25, light runtime, quiet machine): cold transfer <= 1 MB, warm <= 100 KB,
optimistic <= 1 s after a cold navigation and <= 300 ms warm, send() -> optimistic < 5 ms p95
after boot, longest main-thread task < 50 ms; first state < 3 s cold (issue 6). The load
average is printed before and after each measurement: the timings mean little on a busy
machine, the ratios in one run more.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "examples" / "settings_page" / "app.py"
CHROMIUM = os.environ.get("STATESYNC_CHROMIUM", "/usr/lib/chromium/chromium")
READY_MS = 60_000

# Runs in the page (a function body taking `client`, `todo`, `sends`): send() through the worker,
# a todo item toggled `sends` times, one at a time; milliseconds from send() to the subscriber.
TOGGLES_JS = """
  await todo.send({ type: "ADD", text: "toggled" });
  const id = todo.state.context.items.at(-1).id;
  let shown;
  const off = todo.subscribe((state) => shown?.(state));
  const worker = [];
  for (let i = 0; i < sends; i++) {
    const done = !todo.state.context.items.find((item) => item.id === id).done;
    const applied = new Promise((resolve) => (shown = (state) => {
      if (state.context.items.find((item) => item.id === id).done === done) resolve();
    }));
    const t0 = performance.now();
    const saved = todo.send({ type: "TOGGLE", id });
    await applied;
    worker.push(performance.now() - t0);
    await saved;
  }
  off();
"""
# After a page load's handover: a second client on the page's runtime (the same Python client).
LOAD_SENDS_JS = """async (sends) => {
  const { connect } = await import("/statesync/sdk/statesync.js");
  const client = await connect();
  const todo = await client.instance("todo", client.status.subject, { create: {} });
  await client.ready;
  """ + TOGGLES_JS + """
  await client.close();
  return worker;
}"""
# The bare page: import the SDK, connect and open the user's todo list, wait for the handover.
BARE_BOOT_JS = """async () => {
  performance.mark("sdk-import");
  const { connect } = await import("/statesync/sdk/statesync.js");
  const client = await connect();
  await client.instance("todo", client.status.subject, { create: {} });
  await client.ready;
  window.bareClient = client;  // kept open, as a page's would be
}"""
BARE_PATH = "/statesync/manifest.json"  # any document of the origin: a JSON one shows as text

# A second client on the page's runtime, timing send() through the worker and on user settings.
SENDS_JS = """async ({sends, burst}) => {
  const { connect } = await import("/statesync/sdk/statesync.js");
  const client = await connect();
  const settings = await client.settings("bench", { n: -1 });
  const todo = await client.instance("todo", client.status.subject, { create: {} });
  await client.ready;
  """ + TOGGLES_JS + """
  let notified = 0;
  settings.instance.subscribe(() => { notified = performance.now(); });
  const optimistic = [], acked = [];
  for (let i = 0; i < sends; i++) {
    const t0 = performance.now();
    const saved = settings.set("n", i);
    optimistic.push(notified - t0);
    if (settings.values.n !== i) throw new Error("the optimistic state is missing");
    await saved;
    acked.push(performance.now() - t0);
  }
  const bursts = [], promises = [];
  const t0 = performance.now();
  for (let i = 0; i < burst; i++) {
    const t = performance.now();
    promises.push(settings.set("n", sends + i));
    bursts.push(notified - t);
  }
  await Promise.all(promises);
  const burstTotal = performance.now() - t0;
  await client.close();
  return { worker, optimistic, acked, bursts, burstTotal };
}"""

# The platform's floor for the path above: a message to a bare SharedWorker that echoes it, one
# at a time (a 5 ms pause between, as a send waits for its ack): milliseconds per round trip.
ECHO_JS = """async (count) => {
  const source = "onconnect = (e) => { const port = e.ports[0]; "
               + "port.onmessage = (m) => port.postMessage(m.data); };";
  const worker = new SharedWorker(URL.createObjectURL(new Blob([source])));
  worker.port.start();
  const times = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await new Promise((resolve) => {
      worker.port.onmessage = resolve;
      worker.port.postMessage({ id: i, op: "send", args: { hid: 1, event: '{"type": "TOGGLE"}' } });
    });
    times.push(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  worker.port.close();
  return times;
}"""

# Right after the first state (the runtime still booting, on a cold load): one click (an ADD)
# and the time until the page's handle shows it, confirmed over HTTP or optimistic.
CLICK_JS = """async () => {
  const { connect } = await import("/statesync/sdk/statesync.js");
  const client = await connect();
  const todo = await client.instance("todo", client.status.subject, { create: {} });
  const before = performance.getEntriesByName("statesync:live").length > 0;
  const count = todo.state.context.items.length;
  const t0 = performance.now();
  const shown = new Promise((resolve) => {
    const off = todo.subscribe((state) => {
      if (state.context.items.length > count) { off(); resolve(); }
    });
  });
  todo.send({ type: "ADD", text: "click" });
  await shown;
  return { ms: performance.now() - t0, beforeLive: !before };
}"""
# Bytes the page and its worker transferred (compressed as sent; HTTP cache hits count 0).
TRANSFER_JS = """async () => {
  const { loadRuntime } = await import("/statesync/sdk/statesync.js");
  const info = await loadRuntime();
  const page = performance.getEntriesByType("resource")
    .reduce((sum, entry) => sum + entry.transferSize, 0)
    + (performance.getEntriesByType("navigation")[0]?.transferSize ?? 0);
  return { page, worker: info.downloaded, runtime: info.runtime };
}"""

HANDOVER = "handover to the Python client (optimistic ready)"  # from page load
LIVE_JS = "() => performance.getEntriesByName('statesync:live').length > 0"
# Installed before the page's scripts: the main thread's long tasks and long-frame scripts.
OBSERVE_JS = """
window.longTasks = [];
new PerformanceObserver((list) => longTasks.push(...list.getEntries()))
  .observe({ type: "longtask", buffered: true });
window.sdkScripts = [];
new PerformanceObserver((list) => {
  for (const frame of list.getEntries()) {
    sdkScripts.push(...frame.scripts.filter((s) => s.sourceURL.includes("/statesync/sdk/")
                                                  && !s.sourceURL.includes("/vendor/")));
  }
}).observe({ type: "long-animation-frame", buffered: true });
"""
MARKS_JS = """async () => {
  await new Promise((resolve) => setTimeout(resolve, 200));  // observers report late
  const get = (name) => performance.getEntriesByName(name)[0];
  const live = get("statesync:live").startTime;
  const before = longTasks.filter((t) => t.startTime < live);
  const { loadRuntime } = await import("/statesync/sdk/statesync.js");
  const info = await loadRuntime();
  return { firstState: get("statesync:first-state").startTime, live,
           pyodide: get("statesync:pyodide")?.duration, core: get("statesync:core")?.duration,
           longest: Math.max(0, ...before.map((t) => t.duration)),
           sdkLongest: Math.max(0, ...sdkScripts.map((s) => s.duration)),
           boots: info.boots, downloaded: info.downloaded, snapshot: info.timings.snapshot,
           warmUp: info.timings.warmUp,
           // a runtime booted before this page (found in the worker) is measured from 0
           booted: get("statesync:pyodide").startTime > 0 };
}"""


BARE_MARKS_JS = """async () => {
  await new Promise((resolve) => setTimeout(resolve, 200));  // observers report late
  const since = performance.getEntriesByName("sdk-import")[0].startTime;
  const live = performance.getEntriesByName("statesync:live")[0].startTime;
  const during = longTasks.filter((t) => t.startTime + t.duration > since && t.startTime < live);
  return { live: live - since, longest: Math.max(0, ...during.map((t) => t.duration)),
           sdkLongest: Math.max(0, ...sdkScripts.map((s) => s.duration)) };
}"""


@contextmanager
def browser_on(playwright: Playwright, profile: str) -> Iterator[BrowserContext]:
    """A browser on the profile directory `profile` (a new one: a first visit's; an ephemeral
    context's in-memory HTTP cache keeps no 9.6 MB WebAssembly file), observing long tasks."""
    context = playwright.chromium.launch_persistent_context(profile, executable_path=CHROMIUM)
    context.add_init_script(OBSERVE_JS)
    try:
        yield context
    finally:
        context.close()


@contextmanager
def fresh_profile(playwright: Playwright) -> Iterator[BrowserContext]:
    """A browser on a new profile (see `browser_on`)."""
    with tempfile.TemporaryDirectory() as profile, browser_on(playwright, profile) as context:
        yield context


def page_load(playwright: Playwright, url: str, runs: int, sends: int) -> dict[str, list[Any]]:
    """The example page: cold (new profile) and warm (reload) page loads, each followed by
    `sends` optimistic sends, a second tab, then a revisit (the browser started again on the
    same profile): milliseconds (and bytes, boots)."""
    kinds = ("cold", "warm", "revisit")
    result: dict[str, list[Any]] = {f"{key}_{kind}": [] for kind in kinds for key in (
        "first", "live", "start", "imports", "longest", "downloaded", "transfer", "snapshot",
        "booted")}
    result |= {key: [] for key in (
        "scripts_longest", "live_second", "boots_second", "sends_cold", "sends_warm", "warm_up",
        "click_cold", "click_warm", "click_before_live", "runtime")}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as profile:
            with browser_on(playwright, profile) as context:
                page = context.new_page()
                worker_bytes = 0
                for kind in ("cold", "warm", "second"):
                    if kind == "cold":
                        page.goto(url)
                    elif kind == "warm":
                        page.reload()
                    else:  # another tab while the first one is open
                        page = context.new_page()
                        page.goto(url)
                    worker_bytes = load(page, kind, result, sends, worker_bytes)
            with browser_on(playwright, profile) as context:  # a new worker, the HTTP cache kept
                page = context.new_page()
                page.goto(url)
                load(page, "revisit", result, sends, 0)
    return result


def load(page: Page, kind: str, result: dict[str, list[Any]], sends: int,
         worker_bytes: int) -> int:
    """One page load of the example page (just navigated): its figures into `result`.
    `worker_bytes`: what the worker had downloaded before (it may outlive a page); returns
    what it has now."""
    page.wait_for_selector("body[data-ready=true]", timeout=READY_MS)
    if kind in ("cold", "warm"):
        click = page.evaluate(CLICK_JS)
        result[f"click_{kind}"].append(click["ms"])
        result["click_before_live"].append(click["beforeLive"])
    page.wait_for_function(LIVE_JS, timeout=READY_MS)
    marks = page.evaluate(MARKS_JS)
    result["scripts_longest"].append(marks["sdkLongest"])
    if kind == "second":
        result["live_second"].append(marks["live"])
        result["boots_second"].append(marks["boots"])
        return marks["downloaded"]
    result[f"live_{kind}"].append(marks["live"])
    result[f"first_{kind}"].append(marks["firstState"])
    transfer = page.evaluate(TRANSFER_JS)
    result[f"transfer_{kind}"].append(transfer["page"] + transfer["worker"] - worker_bytes)
    result["runtime"].append(transfer["runtime"])
    result[f"longest_{kind}"].append(marks["longest"])
    result[f"downloaded_{kind}"].append(marks["downloaded"] - worker_bytes)
    result[f"snapshot_{kind}"].append(marks["snapshot"])
    result[f"booted_{kind}"].append(marks["booted"])
    if marks["booted"]:  # this page's load booted the runtime (else it was found booted)
        result[f"start_{kind}"].append(marks["pyodide"])
        result[f"imports_{kind}"].append(marks["core"])
        if marks["warmUp"]:
            result["warm_up"].append(marks["warmUp"])
    if kind in ("cold", "warm"):
        result[f"sends_{kind}"] += page.evaluate(LOAD_SENDS_JS, sends)
    return marks["downloaded"]


def bare_load(playwright: Playwright, url: str, runs: int, sends: int) -> dict[str, list[Any]]:
    """The bare page: the SDK's import -> handover, cold and warm, its long tasks and
    scripts, then `sends` optimistic sends after each."""
    result: dict[str, list[Any]] = {key: [] for key in (
        "live_cold", "live_warm", "longest_cold", "longest_warm", "sdk_longest", "sends_cold",
        "sends_warm")}
    for _ in range(runs):
        with fresh_profile(playwright) as context:
            page = context.new_page()
            page.set_default_timeout(READY_MS)
            for kind in ("cold", "warm"):
                if kind == "cold":
                    page.goto(url + BARE_PATH)
                else:
                    page.reload()
                page.evaluate(BARE_BOOT_JS)
                marks = page.evaluate(BARE_MARKS_JS)
                result[f"live_{kind}"].append(marks["live"])
                result[f"longest_{kind}"].append(marks["longest"])
                result["sdk_longest"].append(marks["sdkLongest"])
                result[f"sends_{kind}"] += page.evaluate(LOAD_SENDS_JS, sends)
    return result


def sends(context: BrowserContext, url: str, count: int, burst: int) -> dict[str, Any]:
    """On the bare page, the first of a fresh context: `count` sends in a row through the
    worker and on user settings, a burst, and the bare SharedWorker's echo."""
    page = context.new_page()
    page.set_default_timeout(READY_MS)
    page.goto(url + BARE_PATH)
    page.evaluate(BARE_BOOT_JS)
    timed = page.evaluate(SENDS_JS, {"sends": count, "burst": burst})
    return {**timed, "echo": page.evaluate(ECHO_JS, count)}


def example_sends(context: BrowserContext, url: str, count: int) -> list[float]:
    """On the example page, in the context `sends` used (its worker's runtime booted): `count`
    sends in a row, each change rendered by the page's React todo list."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=READY_MS)
    page.wait_for_function(LIVE_JS, timeout=READY_MS)
    return page.evaluate(LOAD_SENDS_JS, count)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def summary(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    return (f"median {statistics.median(ordered):8.2f}  p95 {p95(ordered):8.2f}  "
            f"max {ordered[-1]:8.2f}  (n={len(ordered)})")


def run(url: str, runs: int, count: int, burst: int, load_sends: int) -> dict[str, Any]:
    """Every figure of one server (one runtime) under the current load, printed and returned
    (lists of values; "load average": before and after)."""
    load_before = os.getloadavg()[0]
    with sync_playwright() as playwright:
        loads = page_load(playwright, url, runs, load_sends)
        bare = bare_load(playwright, url, runs, load_sends)
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            context = browser.new_context()  # one runtime boot for both
            timed = sends(context, url, count, burst)
            rendered = example_sends(context, url, count)
        finally:
            browser.close()
    figures: dict[str, Any] = {}
    for kind, label in (("cold", "cold"), ("warm", "warm (reload)"),
                        ("revisit", "revisit (browser restarted, HTTP cache)")):
        figures |= {
            f"page load -> first state, {label}": loads[f"first_{kind}"],
            f"bytes transferred (page + worker), {label}": loads[f"transfer_{kind}"],
            f"bytes downloaded by the worker, {label}": loads[f"downloaded_{kind}"],
            f"{HANDOVER}, {label}": loads[f"live_{kind}"],
            f"runtime start (fetch + boot) when this load booted it, {label}":
                loads[f"start_{kind}"],
            f"install / import core, client, machines when booted, {label}":
                loads[f"imports_{kind}"],
            f"longest main-thread task until the handover, {label}": loads[f"longest_{kind}"],
        }
    figures |= {
        "click right after the first state -> shown, cold": loads["click_cold"],
        "click right after the first state -> shown, warm": loads["click_warm"],
        "second tab: page load -> handover": loads["live_second"],
        "warm-up after restoring the snapshot": loads["warm_up"],
        "longest script in a long animation frame (the page's code in it)":
            loads["scripts_longest"],
        "send() -> optimistic state, rendered, after a cold load": loads["sends_cold"],
        "send() -> optimistic state, rendered, after a warm load": loads["sends_warm"],
        "send() -> optimistic state, rendered, one at a time": rendered,
        "SDK import -> handover, cold": bare["live_cold"],
        "SDK import -> handover, warm (reload)": bare["live_warm"],
        "longest main-thread task, SDK import -> handover, cold": bare["longest_cold"],
        "longest main-thread task, SDK import -> handover, warm": bare["longest_warm"],
        "longest SDK script in a long animation frame": bare["sdk_longest"],
        "send() -> optimistic state via the worker, after a cold load": bare["sends_cold"],
        "send() -> optimistic state via the worker, after a warm load": bare["sends_warm"],
        "send() -> optimistic state via the worker, one at a time": timed["worker"],
        "the platform's floor: postMessage echo by a bare SharedWorker": timed["echo"],
        "settings.set() -> shown (in the page), one at a time": timed["optimistic"],
        f"settings.set() -> shown (in the page), burst of {burst}": timed["bursts"],
        "send() -> ack and update: resolved (loopback, durable)": timed["acked"],
    }
    runtime = ", ".join(sorted(set(loads["runtime"])))
    print(f"runtime booted: {runtime}; clicks made before the handover: "
          f"{sum(loads['click_before_live'])} of {len(loads['click_before_live'])}; load "
          f"average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; milliseconds "
          f"(bytes)")
    for name, values in figures.items():
        print(f"  {name:78s} {summary(values)}")
    booted = {kind: loads[f"booted_{kind}"] for kind in ("cold", "warm", "revisit")}
    print(f"  runtime booted by the load (else found in the worker): {booted}; by the second "
          f"tab's worker in all: {max(loads['boots_second'])}; Pyodide memory snapshot: "
          f"{ {kind: loads[f'snapshot_{kind}'] for kind in booted} }")
    print(f"  burst of {burst} sends, all acked in {timed['burstTotal']:.0f} ms")
    return {**figures, "runtime": runtime, "burst total": timed["burstTotal"],
            "click before the handover": loads["click_before_live"],
            "load average": [load_before, os.getloadavg()[0]]}


@contextmanager
def burning(count: int) -> Iterator[None]:
    """`count` processes busy-looping on the CPU meanwhile (a user's loaded device)."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(count)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def worst_p95(*series: list[float]) -> float:
    return max(p95(values) for values in series if values)


def key_figures(figures: dict[str, Any]) -> dict[str, float | None]:
    """The issue's figures of one configuration (medians unless said; ms, MB, KB)."""
    def mb(name: str) -> float | None:
        value = median(figures[name])
        return None if value is None else value / 1e6

    optimistic = worst_p95(*(figures[f"send() -> optimistic state via the worker, {when}"]
                             for when in ("after a cold load", "after a warm load",
                                          "one at a time")))
    echo = p95(figures["the platform's floor: postMessage echo by a bare SharedWorker"])
    longest = [value for name, values in figures.items()
               if name.startswith("longest main-thread task") for value in values]
    return {
        "cold transfer (MB)": mb("bytes transferred (page + worker), cold"),
        "warm transfer (MB)": mb("bytes transferred (page + worker), warm (reload)"),
        "revisit transfer (MB)":
            mb("bytes transferred (page + worker), revisit (browser restarted, HTTP cache)"),
        "first state, cold": median(figures["page load -> first state, cold"]),
        "first state, warm": median(figures["page load -> first state, warm (reload)"]),
        "click -> shown, cold": median(
            figures["click right after the first state -> shown, cold"]),
        "optimistic after navigation, cold": median(figures[f"{HANDOVER}, cold"]),
        "optimistic after navigation, warm": median(figures[f"{HANDOVER}, warm (reload)"]),
        "optimistic after navigation, revisit":
            median(figures[f"{HANDOVER}, revisit (browser restarted, HTTP cache)"]),
        "optimistic, second tab": median(figures["second tab: page load -> handover"]),
        "bare page: SDK import -> optimistic, cold":
            median(figures["SDK import -> handover, cold"]),
        "bare page: SDK import -> optimistic, warm":
            median(figures["SDK import -> handover, warm (reload)"]),
        "send -> optimistic p95 (bare page, worst of 3)": optimistic,
        "bare SharedWorker echo p95 (the floor)": echo,
        "send -> optimistic p95, rendered (example page)": worst_p95(*(
            figures[f"send() -> optimistic state, rendered, {when}"]
            for when in ("after a cold load", "after a warm load", "one at a time"))),
        "longest main-thread task before live (0: none >= 50)": max(longest, default=0),
    }


def report(results: dict[str, dict[str, Any]]) -> None:
    """Every configuration's key figures side by side, then the light runtime's verdicts."""
    table = {label: key_figures(figures) for label, figures in results.items()}
    labels = list(table)
    print("\nkey figures (medians; ms unless said):")
    print(f"  {'':52s}" + "".join(f"{label:>24s}" for label in labels))
    for row in next(iter(table.values())):
        cells = (table[label][row] for label in labels)
        print(f"  {row:52s}" + "".join(
            f"{'-' if value is None else format(value, '.2f'):>24s}" for value in cells))
    for label, row in table.items():
        if not label.startswith("light"):
            continue
        met = {
            "cold transfer <= 1 MB": (row["cold transfer (MB)"] or 0) <= 1,
            "warm transfer <= 100 KB": (row["warm transfer (MB)"] or 0) <= 0.1,
            "optimistic <= 1 s after a cold navigation":
                row["optimistic after navigation, cold"] <= 1000,
            "<= 300 ms warm": row["optimistic after navigation, warm"] <= 300,
            "send p95 < 5 ms": row["send -> optimistic p95 (bare page, worst of 3)"] < 5,
            "longest main-thread task < 50 ms":
                row["longest main-thread task before live (0: none >= 50)"] < 50,
        }
        print(f"issue 25 targets, {label}: " + "; ".join(
            f"{name}: {'met' if ok else 'MISSED'}" for name, ok in met.items()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server of examples/settings_page/app.py")
    parser.add_argument("--quick", action="store_true",
                        help="1 page-load run, 60 sends in a row (20 after each load)")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    parser.add_argument("--runtime", choices=("light", "pyodide", "both"), default="both",
                        help="the servers started here: light (STATESYNC_BROWSER_RUNTIME=auto: "
                             "MicroPython for the example's machines), pyodide, or both")
    parser.add_argument("--burn", default="0",
                        help="CPU-burning processes during the measurement, comma-separated "
                             "for one measurement each (0,2: quiet, then two)")
    args = parser.parse_args(argv)
    runs, count, burst, load_sends = (1, 60, 10, 20) if args.quick else (5, 200, 50, 50)
    burns = [int(n) for n in args.burn.split(",")]
    runtimes = ["server"] if args.url else (["light", "pyodide"] if args.runtime == "both"
                                            else [args.runtime])
    print(f"browser client, Chromium, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    results: dict[str, dict[str, Any]] = {}
    for runtime in runtimes:
        for burn in burns:
            label = f"{runtime}, {burn} burning"
            print(f"\n== {label}")
            with burning(burn):
                if args.url:
                    results[label] = run(args.url, runs, count, burst, load_sends)
                    continue
                from statesync_server.testing import ServerProcess

                os.environ["STATESYNC_BROWSER_RUNTIME"] = ("auto" if runtime == "light"
                                                           else "pyodide")
                with tempfile.TemporaryDirectory() as tmp:
                    server = ServerProcess(APP, Path(tmp) / "bench.db").start()
                    try:
                        results[label] = run(server.url + "/", runs, count, burst, load_sends)
                    finally:
                        server.stop()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
