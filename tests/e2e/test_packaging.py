"""Packaging: sdk_web as an npm package (`npm pack`, installed into a fresh project,
type-checked with `tsc --noEmit` against the hand-written declarations), and the Python wheel
serving the browser SDK from a plain (not editable) install, with the Pyodide runtime from the
app's own `npm install @statesync/web`."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_harness import EXAMPLE_APP, REPO, SECRET, token
from playwright.sync_api import Page

from statesync_server.testing import ServerProcess

SDK = REPO / "sdk_web"
TSC = SDK / "node_modules" / ".bin" / "tsc"  # sdk_web's devDependency

# Uses every public name; the @ts-expect-error lines fail the check if the types were `any`.
APP_TS = """
import { connect, loadRuntime, matchesState, StatesyncError, type Change, type Client,
         type Instance, type Item, type LiveQuery, type State, type Status } from "@statesync/web";
import { StatesyncProvider, useInstance, useQuery, useSettings, useStatesync }
  from "@statesync/web/react";

// What `statesync types app.py` writes: typed handles for the machines it lists.
declare module "@statesync/web" {
  interface Machines {
    order: {
      event: { type: "PAY" } | { type: "CANCEL"; reason: string };
      value: "cart" | "paid";
      tags: "busy";
      context: { total: number; items: string[] };
      input: { restaurant: string };
    };
    todo: { context: Todo };
  }
}

type Todo = { items: { id: number; text: string; done: boolean }[]; next_id: number };

export async function main(): Promise<number> {
  const client: Client = await connect({ getToken: async () => "jwt", timeout: 5 });
  const stop = client.onStatus((status: Status) => {
    const progress: number = status.phase === "loading-runtime" ? (status.loaded ?? 0) : 0;
    console.log(status.status, status.unsaved, progress, status.total);
  });
  const todo: Instance<Todo> = await client.instance("todo", "groceries", { create: {} });
  const first: string = todo.state.context.items[0].text;
  todo.subscribe((state: State<Todo>) => console.log(state.seq, state.pending, first));
  const seq: number = await todo.send({ type: "ADD", text: "milk" });
  await todo.send("CLEAR_DONE");
  const prefs = await client.settings<{ theme: string; size: number }>("prefs", { theme: "light" });
  await prefs.set("theme", "dark");
  // @ts-expect-error: size is a number
  await prefs.set("size", "big");
  // @ts-expect-error: an event needs a type
  await todo.send({ text: "no type" });
  const info = await loadRuntime();
  const shared: boolean = info.worker === "shared" && info.boots === 1;
  const state: State<Todo> = useInstance(todo);
  const maybe: State<Todo> | undefined = useInstance<Todo>(null);
  const theme: string | undefined = useSettings(prefs)?.theme;
  try {
    await client.ready;
  } catch (error) {
    if (error instanceof StatesyncError) console.log(error.code.toUpperCase());
  }
  const order = await client.instance("order", "o1", { create: { restaurant: "luigi" } });
  // @ts-expect-error: the creation input is the machine's
  await client.instance("order", "o2", { create: { table: 4 } });
  const total: number = order.state.context.total;
  const busy: boolean = order.matches("paid") && order.hasTag("busy") && order.can("PAY") === true;
  await order.send("PAY");
  await order.send({ type: "CANCEL", reason: "late" });
  // @ts-expect-error: not an event of order
  await order.send({ type: "SHIP" });
  // @ts-expect-error: CANCEL needs a reason
  await order.send("CANCEL");
  // @ts-expect-error: no such state
  order.matches("shipped");
  // @ts-expect-error: no such tag
  order.hasTag("idle");
  // @ts-expect-error: a machine name the registry does not hold
  await client.instance("not-in-the-registry", "x");
  await todo.send({ type: "ANYTHING", extra: 1 });  // todo declares no events: loose

  const page = await client.query("order", "total", "gte", 10, { limit: 20, cursor: null });
  const totals: number[] = page.items.map((item: Item<{ total: number }>) => item.context.total);
  const next: string | null = page.cursor;
  const live: LiveQuery<{ total: number; items: string[] }> =
    await client.watch("order", "total", "lt", 5, { order: "desc" });
  const off = live.subscribe((items, changes: Change[]) =>
    console.log(items.length, changes.map((c) => (c.kind === "leave" ? c.instance : c.item.key))));
  off();
  const offEnd = live.onEnd((reason: StatesyncError | undefined) => console.log(reason?.code));
  offEnd();
  const reason: StatesyncError | undefined = await live.ended;
  // @ts-expect-error: ended is a promise of the reason, not a boolean
  const endedNow: boolean = live.ended;
  await live.close();
  // @ts-expect-error: not an index operator
  await client.query("order", "total", "between", 1);

  const view = useInstance("order", "o1");
  const viewTotal: number | undefined = view.context?.total;
  const value: "cart" | "paid" | undefined = view.value;
  await view.send("PAY");
  // @ts-expect-error: not an event of order
  await view.send({ type: "REFUND" });
  const open: boolean | undefined = view.can("CANCEL") && view.matches("cart") && !view.error
    && view.hasTag("busy");
  // @ts-expect-error: no such tag
  view.hasTag("idle");
  const ready = useInstance("order", "o1", { suspense: true, create: { restaurant: "x" } });
  const readyTotal: number = ready.context.total;  // never undefined: rendered once open
  // @ts-expect-error: a machine name the registry does not hold
  useInstance("ordre", "o1", { throwOnError: true });
  try {
    await client.signOut();
  } catch (error) {
    if (error instanceof StatesyncError) console.log(error.fields?.[0]?.path.join("."));
  }
  const orders = useQuery("order", "total", "gt", 0, { live: true });
  const firstTotal: number | undefined = orders.items[0]?.context.total;
  const stale: boolean = orders.ended && orders.error?.code === "not-found";
  const prefsView = useSettings("prefs", { theme: "light", size: 14 });
  await prefsView.set("size", 16);
  // @ts-expect-error: size is a number
  await prefsView.set("size", "big");
  const { client: provided, status } = useStatesync();
  const provider = StatesyncProvider({ getToken: () => "jwt", machines: false, children: null });
  console.log(total, busy, totals, next, viewTotal, value, open, readyTotal, firstTotal, provided, provider,
              status?.phase, orders.loading, prefsView.values.theme.length, reason, endedNow,
              stale);

  stop();
  await client.close();
  return seq + Number(shared && matchesState("a", state.value) && !maybe && !theme);
}
"""

TSCONFIG = {"compilerOptions": {"strict": True, "noEmit": True, "target": "es2022",
                                "module": "nodenext", "moduleResolution": "nodenext",
                                "lib": ["es2022", "dom"], "skipLibCheck": False},
            "files": ["app.ts"]}


def npm(*args: str, cwd: Path) -> str:
    done = subprocess.run(["npm", *args, "--no-audit", "--no-fund", "--loglevel=error"],
                          cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


needs_npm = pytest.mark.skipif(shutil.which("npm") is None or not TSC.exists(),
                               reason="needs npm and sdk_web/node_modules (cd sdk_web && npm ci)")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example app outside the checkout, with `npm install` of the packed SDK."""
    packs = tmp_path_factory.mktemp("npm-pack")
    [packed] = json.loads(npm("pack", "--json", "--pack-destination", str(packs), cwd=SDK))
    files = {entry["path"] for entry in packed["files"]}
    assert {"statesync.js", "statesync.d.ts", "worker.js", "channel.js", "direct.js",
            "outbox.js", "retry.js", "errors.js", "bridge.py", "react.js", "react.d.ts",
            "package.json"} <= files
    assert not any(path.startswith("node_modules/") for path in files)

    app = tmp_path_factory.mktemp("app")
    shutil.copytree(EXAMPLE_APP.parent, app, dirs_exist_ok=True)
    (app / "package.json").write_text(json.dumps({"name": "app", "private": True,
                                                  "type": "module"}))
    # pyodide (the dependency) comes from npm's cache, filled by `npm ci` in sdk_web
    npm("install", "--no-package-lock", "--prefer-offline", "--omit=peer",
        str(packs / packed["filename"]), cwd=app)
    return app


@needs_npm
def test_packed_sdk_installs_and_type_checks(app: Path) -> None:
    installed = app / "node_modules" / "@statesync" / "web"
    assert (installed / "statesync.d.ts").is_file()
    assert (app / "node_modules" / "pyodide" / "pyodide.asm.wasm").is_file()

    (app / "app.ts").write_text(APP_TS)
    (app / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    done = subprocess.run([str(TSC), "-p", str(app)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a fresh venv with the statesync wheel installed (not editable); its
    dependencies come from this environment (`--system-site-packages`)."""
    out = tmp_path_factory.mktemp("wheel")
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *isolation,
                    "-w", str(out), str(REPO)], check=True, timeout=300)
    [wheel] = out.glob("statesync-*.whl")
    env = out / "venv"
    venv.create(env, system_site_packages=True, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                    "--disable-pip-version-check", str(wheel)], check=True, timeout=300)
    return python


@pytest.fixture
def wheel_server(wheel_python: Path, app: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    """`statesync serve` of the copied app from the venv, in the app's directory."""
    monkeypatch.delenv("PYTHONPATH", raising=False)  # nothing of the checkout on the path
    script = ("import statesync, statesync_server; "
              "print(statesync.__file__, statesync_server.__file__)")
    located = subprocess.run([str(wheel_python), "-c", script], capture_output=True, text=True,
                             check=True).stdout.split()
    for module in located:  # the wheel's, not the checkout's
        assert Path(module).is_relative_to(wheel_python.parents[1]), module
    monkeypatch.setattr(sys, "executable", str(wheel_python))  # ServerProcess runs the venv's
    server = ServerProcess(app / "app.py", app / "e2e.db", secret=SECRET).start()
    yield server
    server.stop()
    print(server.log())


@needs_npm
def test_wheel_serves_the_sdk_and_the_apps_pyodide(wheel_server: ServerProcess,
                                                   wheel_python: Path, page: Page) -> None:
    with httpx.Client(base_url=wheel_server.url, timeout=30) as http:
        manifest = http.get("/statesync/manifest.json").json()
        for path in ("/statesync/sdk/statesync.js", "/statesync/sdk/worker.js",
                     "/statesync/sdk/channel.js", "/statesync/sdk/direct.js",
                     "/statesync/sdk/outbox.js",
                     "/statesync/sdk/retry.js", "/statesync/sdk/errors.js",
                     "/statesync/sdk/bridge.py", manifest["core"],
                     f"{manifest['pyodide']}pyodide.mjs",
                     f"{manifest['pyodide']}pyodide.asm.wasm",
                     f"{manifest['micropython']}micropython.mjs",
                     f"{manifest['micropython']}micropython.wasm"):
            response = http.get(path)
            assert response.status_code == 200, path
        sdk = http.get("/statesync/sdk/statesync.js").content
    assert sdk == (SDK / "statesync.js").read_bytes()
    vendored = wheel_python.parents[1] / "lib"  # the light runtime goes with its license
    [license_file] = vendored.glob("python3*/site-packages/statesync_server/web/sdk_web/vendor/"
                                   "micropython/LICENSE")
    assert "MIT License" in license_file.read_text()

    page.set_default_timeout(60_000)
    page.goto(f"{wheel_server.url}/statesync/manifest.json")
    status = page.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        const client = await connect({ token });
        await client.ready;
        return client.status;
    }""", token("alice"))
    assert status == {"status": "live", "unsaved": 0, "subject": "alice", "phase": "live"}


@needs_npm
def test_the_wheel_brings_every_asset_of_the_inspector_and_the_svg_diagram(
        wheel_server: ServerProcess, wheel_python: Path, app: Path) -> None:
    """No npm install for the inspector: the page's scripts and stylesheet, the modules they
    import and elkjs are all in the wheel; so is what `statesync diagram --format svg` runs."""
    admin = {"authorization": f"Bearer {wheel_server.mint('ops', statesync_admin=True)}"}
    with httpx.Client(base_url=wheel_server.url, timeout=30) as http:
        page = http.get("/statesync/inspect", headers=admin).text
        assets = re.findall(r'(?:src|href)="(/statesync/inspector-assets/[^"]+)"', page)
        assert any(a.endswith("/elk.bundled.js") for a in assets), assets
        seen: set[str] = set()
        while assets:
            path = assets.pop()
            if path in seen:
                continue
            seen.add(path)
            response = http.get(path)
            assert response.status_code == 200, (path, response.text[:200])
            if path.endswith(".js"):  # its own imports: `from "./statechart.js"`
                base = path.rsplit("/", 1)[0]
                assets += [f"{base}/{name}" for name in re.findall(
                    r'^import [^;]*?from "\./([^"]+)";', response.text, re.MULTILINE)]
    assert len(seen) >= 5  # page code, chart code, durations, stylesheet, elkjs
    svg = subprocess.run([str(wheel_python), "-m", "statesync_server", "diagram", "app.py",
                          "todo", "--format", "svg"], cwd=app, capture_output=True, text=True,
                         timeout=120, check=False, env={k: v for k, v in os.environ.items()
                                                        if k != "PYTHONPATH"})
    assert svg.returncode == 0, svg.stderr
    assert svg.stdout.startswith("<svg") and 'data-state-id="todo.active"' in svg.stdout
