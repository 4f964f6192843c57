"""Browser client benchmark: Pyodide in Debian's Chromium against a real server.

    python bench/browser.py                 # starts the example app on a temp database
    python bench/browser.py --url URL       # or measure a running server of the example app
    python bench/browser.py --quick         # fewer runs (the smoke test)
    python bench/browser.py --runtime auto  # MicroPython where the machines run there

Two pages of the same origin. The example page (examples/settings_page: a settings form and a
React todo list, both re-rendered on every change) measures what a user of it sees; a bare
page (a JSON document the server serves, where nothing runs but the SDK) measures the SDK's own
path, with no page rendering competing for the main thread.

On the example page:
  cold page load -> first state shown (fresh browser profile: empty HTTP cache), the server's
  state fetched over HTTP while Pyodide boots;
  warm page load -> first state shown (reload: HTTP cache, compiled WebAssembly kept);
  page load -> handover to the Python client (Pyodide booted, connected, every handle
  switched over: sends are optimistic from then on), cold and warm;
  Pyodide start (fetch + loadPyodide, in the worker; a reload restores the memory snapshot
  the first boot saved), installing the statesync core + machine module, and the warm-up a
  restored runtime runs (the send path on a throwaway machine);
  the longest main-thread task from navigation to the handover (PerformanceObserver
  "longtask"; the page's own React rendering included) and the longest script in a long
  animation frame (the page's code that runs in the microtasks of an SDK promise counts as
  that SDK script);
  a second tab of the same origin: navigation -> handover (the SharedWorker's runtime and
  connection are already there), and the bytes a reload downloads;
  send() -> optimistic state shown while the page renders each change: 50 sends right after
  each cold and warm load, and 200 in a row.
On the bare page:
  the SDK's import -> handover, cold and warm, the longest main-thread task in it, and the
  longest SDK script in a long animation frame;
  send() -> optimistic state through the worker (main -> worker -> main: the todo machine
  applied in Pyodide, the state posted back), one at a time: right after each cold and warm
  load, and 200 in a row in a fresh context; settings.set() -> shown (the built-in settings
  machine, applied in the page at once), one at a time and in a burst; send() -> resolved (the
  server's ack and update: a loopback round trip, durable commit included); and the platform's
  floor for the optimistic path: a message echoed by a bare SharedWorker.
Issue 25 adds, on the example page, cold and warm: the bytes transferred in all (the page's
resources and the worker's, compressed as sent), a click made at once after the first state
(before the runtime is up) -> its effect shown (confirmed over HTTP, or optimistic), and
which runtime booted. Targets (light runtime, quiet machine): cold transfer <= 1 MB, warm
<= 100 KB, optimistic <= 1 s after a cold navigation and <= 300 ms warm.
Targets: optimistic update (main thread -> worker -> main thread) < 5 ms p95 and no SDK
script of 50 ms or more on the main thread, judged on the bare page (issue 11; the example
page's figures are printed beside them); first state < 3 s cold (issue 6) and warm reload to
live < 1.5 s (issue 11), on the example page. The load average is printed before and after:
the timings mean little on a busy machine.
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

from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

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
           warmUp: info.timings.warmUp };
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
def fresh_profile(playwright: Playwright) -> Iterator[BrowserContext]:
    """A browser on a new profile on disk, as a first visit's (an ephemeral context's
    in-memory HTTP cache keeps no 9.6 MB WebAssembly file), observing long tasks."""
    profile = tempfile.TemporaryDirectory()
    context = playwright.chromium.launch_persistent_context(profile.name,
                                                            executable_path=CHROMIUM)
    context.add_init_script(OBSERVE_JS)
    try:
        yield context
    finally:
        context.close()
        profile.cleanup()


def page_load(playwright: Playwright, url: str, runs: int, sends: int) -> dict[str, list[Any]]:
    """The example page: cold (new profile) and warm (reload) page loads, each followed by
    `sends` optimistic sends, then a second tab: milliseconds (and bytes, boots)."""
    result: dict[str, list[Any]] = {key: [] for key in (
        "cold", "warm", "live_cold", "live_warm", "pyodide_cold", "pyodide_warm", "core_cold",
        "core_warm", "longest_cold", "longest_warm", "scripts_longest", "downloaded_cold",
        "downloaded_warm", "live_second", "boots_second", "snapshot_cold", "snapshot_warm",
        "sends_cold", "sends_warm", "warm_up", "click_cold", "click_warm", "click_before_live",
        "transfer_cold", "transfer_warm", "runtime")}
    for _ in range(runs):
        with fresh_profile(playwright) as context:
            page = context.new_page()
            for kind in ("cold", "warm", "second"):
                if kind == "cold":
                    page.goto(url)
                elif kind == "warm":
                    page.reload()
                else:  # another tab while the first one is open
                    page = context.new_page()
                    page.goto(url)
                page.wait_for_selector("body[data-ready=true]", timeout=READY_MS)
                if kind != "second":
                    click = page.evaluate(CLICK_JS)
                    result[f"click_{kind}"].append(click["ms"])
                    result["click_before_live"].append(click["beforeLive"])
                page.wait_for_function(LIVE_JS, timeout=READY_MS)
                marks = page.evaluate(MARKS_JS)
                result[f"live_{kind}"].append(marks["live"])
                result["scripts_longest"].append(marks["sdkLongest"])
                if kind == "second":
                    result["boots_second"].append(marks["boots"])
                    continue
                result[kind].append(marks["firstState"])
                transfer = page.evaluate(TRANSFER_JS)
                result[f"transfer_{kind}"].append(transfer["page"] + transfer["worker"])
                result["runtime"].append(transfer["runtime"])
                result[f"longest_{kind}"].append(marks["longest"])
                result[f"downloaded_{kind}"].append(marks["downloaded"])
                result[f"snapshot_{kind}"].append(marks["snapshot"])
                if kind == "warm":
                    result["warm_up"].append(marks["warmUp"])
                if marks["pyodide"] is not None:
                    result[f"pyodide_{kind}"].append(marks["pyodide"])
                    result[f"core_{kind}"].append(marks["core"])
                result[f"sends_{kind}"] += page.evaluate(LOAD_SENDS_JS, sends)
    return result


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


def sends(browser: Browser, url: str, count: int, burst: int) -> dict[str, Any]:
    """On the bare page, in a fresh context: `count` sends in a row through the worker and on
    user settings, a burst, and the bare SharedWorker's echo."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(READY_MS)
        page.goto(url + BARE_PATH)
        page.evaluate(BARE_BOOT_JS)
        timed = page.evaluate(SENDS_JS, {"sends": count, "burst": burst})
        return {**timed, "echo": page.evaluate(ECHO_JS, count)}
    finally:
        context.close()


def example_sends(browser: Browser, url: str, count: int) -> list[float]:
    """On the example page, in a fresh context: `count` sends in a row, each change rendered
    by the page's React todo list."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=READY_MS)
        page.wait_for_function(LIVE_JS, timeout=READY_MS)
        return page.evaluate(LOAD_SENDS_JS, count)
    finally:
        context.close()


def node_reference() -> float | None:
    """`loadPyodide()` under Node in ms: how fast this machine runs Pyodide right now."""
    module = REPO / "sdk_web" / "node_modules" / "pyodide" / "pyodide.mjs"
    script = (f"import {{ loadPyodide }} from {json.dumps(str(module))};"
              "const t = performance.now(); await loadPyodide();"
              "console.log(performance.now() - t);")
    try:
        done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True,
                              text=True, timeout=120, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return float(done.stdout.strip())


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
    load_before = os.getloadavg()[0]
    with sync_playwright() as playwright:
        loads = page_load(playwright, url, runs, load_sends)
        bare = bare_load(playwright, url, runs, load_sends)
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            timed = sends(browser, url, count, burst)
            rendered = example_sends(browser, url, count)
        finally:
            browser.close()
    example = {
        "page load -> first state, cold": loads["cold"],
        "page load -> first state, warm (reload)": loads["warm"],
        "bytes transferred (page + worker), cold": loads["transfer_cold"],
        "bytes transferred (page + worker), warm (reload)": loads["transfer_warm"],
        "click right after the first state -> shown, cold": loads["click_cold"],
        "click right after the first state -> shown, warm": loads["click_warm"],
        f"{HANDOVER}, cold": loads["live_cold"],
        f"{HANDOVER}, warm": loads["live_warm"],
        "Pyodide start, cold (fetch + loadPyodide)": loads["pyodide_cold"],
        "Pyodide start, warm": loads["pyodide_warm"],
        "install core + machine module, cold": loads["core_cold"],
        "install core + machine module, warm": loads["core_warm"],
        "warm-up after restoring the snapshot (warm)": loads["warm_up"],
        "longest main-thread task until the handover, cold": loads["longest_cold"],
        "longest main-thread task until the handover, warm": loads["longest_warm"],
        "longest script in a long animation frame (the page's code in it)":
            loads["scripts_longest"],
        "second tab: page load -> handover": loads["live_second"],
        "bytes downloaded by the worker, cold": loads["downloaded_cold"],
        "bytes downloaded by the worker, warm (reload)": loads["downloaded_warm"],
        "send() -> optimistic state, rendered, after a cold load": loads["sends_cold"],
        "send() -> optimistic state, rendered, after a warm load": loads["sends_warm"],
        "send() -> optimistic state, rendered, one at a time": rendered,
    }
    sdk = {
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
    reference = node_reference()
    print(f"browser client, Chromium + Pyodide, {os.cpu_count()} CPUs, load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after; milliseconds")
    if reference is not None:
        print(f"  reference: loadPyodide() under Node takes {reference:.0f} ms right now")
    print(f"runtime booted: {', '.join(sorted(set(loads['runtime'])))}; clicks made before "
          f"the handover: {sum(loads['click_before_live'])} of {len(loads['click_before_live'])}")
    print("the example page (a settings form and a React todo list, rendered on each change):")
    for name, values in example.items():
        print(f"  {name:66s} {summary(values)}")
    print(f"  second tab: runtimes booted by the shared worker: {max(loads['boots_second'])}")
    print(f"  Pyodide memory snapshot, cold boots: {', '.join(loads['snapshot_cold'])}; "
          f"warm (reload): {', '.join(loads['snapshot_warm'])}")
    print("a bare page (nothing runs on it but the SDK):")
    for name, values in sdk.items():
        print(f"  {name:66s} {summary(values)}")
    print(f"  burst of {burst} sends, all acked in {timed['burstTotal']:.0f} ms")
    optimistic = worst_p95(bare["sends_cold"], bare["sends_warm"], timed["worker"])
    rendered_p95 = worst_p95(loads["sends_cold"], loads["sends_warm"], rendered)
    floor = p95(timed["echo"])
    print(f"  p95 optimistic / p95 bare echo: {optimistic / floor:.1f}x "
          f"({optimistic:.2f} / {floor:.2f} ms)")
    longest = max(bare["sdk_longest"])
    cold = statistics.median(loads["cold"])
    warm = statistics.median(loads["live_warm"])
    live_cold = statistics.median(loads["live_cold"])
    cold_bytes = statistics.median(loads["transfer_cold"])
    warm_bytes = statistics.median(loads["transfer_warm"])
    print(f"Issue 25 targets: cold transfer <= 1 MB: {verdict(cold_bytes <= 1_000_000)} "
          f"({cold_bytes / 1e6:.2f} MB); warm <= 100 KB: {verdict(warm_bytes <= 100_000)} "
          f"({warm_bytes / 1e3:.0f} KB); optimistic <= 1 s after a cold navigation: "
          f"{verdict(live_cold <= 1000)} ({live_cold / 1000:.2f} s), <= 300 ms warm: "
          f"{verdict(warm <= 300)} ({warm:.0f} ms)")
    print(f"Targets: optimistic < 5 ms p95: {verdict(optimistic < 5)} (the SDK's path, worst "
          f"p95 of cold, warm, in a row: {optimistic:.2f}; on the example page, rendering each "
          f"change: {rendered_p95:.2f}); first state < 3 s cold: {verdict(cold < 3000)} "
          f"({cold / 1000:.2f} s); no SDK script >= 50 ms on the main thread: "
          f"{verdict(longest < 50)} (longest {longest:.0f} ms; on the example page, its own "
          f"code included: {max(loads['scripts_longest']):.0f} ms); warm reload to live "
          f"< 1.5 s: {verdict(warm < 1500)} ({warm / 1000:.2f} s)")
    return {**example, **sdk, "burst total": timed["burstTotal"], "node loadPyodide": reference,
            "runtime": loads["runtime"], "click before the handover": loads["click_before_live"],
            "snapshot, cold": loads["snapshot_cold"], "snapshot, warm": loads["snapshot_warm"],
            "load average": [load_before, os.getloadavg()[0]]}


def worst_p95(*series: list[float]) -> float:
    return max(p95(values) for values in series)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server of examples/settings_page/app.py")
    parser.add_argument("--quick", action="store_true",
                        help="1 page-load run, 20 sends (10 after each load)")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    parser.add_argument("--runtime", choices=("auto", "pyodide"), default="pyodide",
                        help="the server started here (STATESYNC_BROWSER_RUNTIME): auto offers "
                             "MicroPython where the start-up check allows it")
    args = parser.parse_args(argv)
    os.environ["STATESYNC_BROWSER_RUNTIME"] = args.runtime
    runs, count, burst, load_sends = (1, 20, 10, 10) if args.quick else (5, 200, 50, 50)
    if args.url:
        result = run(args.url, runs, count, burst, load_sends)
    else:
        from statesync_server.testing import ServerProcess

        with tempfile.TemporaryDirectory() as tmp:
            server = ServerProcess(APP, Path(tmp) / "bench.db").start()
            try:
                result = run(server.url + "/", runs, count, burst, load_sends)
            finally:
                server.stop()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
