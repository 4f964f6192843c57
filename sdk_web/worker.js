/**
 * The statesync worker: Pyodide, the Python clients and their WebSockets, off the pages' main
 * threads. statesync.js starts it as a SharedWorker (every tab of an origin shares one runtime,
 * and one Python client and socket per user) or, where there is none, as a dedicated Worker.
 * Pages call it through a `Channel` (the ops below); it pushes `progress`, `status`, `state`,
 * `emitted` (an event the instance emitted, as the server delivered it),
 * `query` (what changed in a live query: the changes only, the page applies them),
 * `query-end` (the server refused or ended a live query) and `session` events and asks a page
 * for a token (`token`).
 * @module statesync/worker
 */
import { Channel } from "./channel.js";

const SITE_MODULES = "/home/pyodide/statesync_app";
const LIGHT_MODULES = "/statesync"; // MicroPython: the light bundle's files, first on sys.path
const LIGHT_HEAP = 32 * 1024 * 1024; // bytes of MicroPython heap
const KIND = typeof SharedWorkerGlobalScope === "function" && self instanceof SharedWorkerGlobalScope
  ? "shared" : "dedicated";
const PROGRESS_EVERY = 50; // ms between two progress events of one boot
// Pyodide memory snapshots (Cache API): the interpreter's heap once statesync, the bridge and
// the app's machine modules are imported, restored by later boots instead of starting CPython.
const SNAPSHOTS = "statesync-snapshots";
const SNAPSHOT_LAYOUT = 1; // bump when boot() changes what a snapshot's heap holds
const SNAPSHOT_FAILED = "x-statesync-snapshot-failed"; // header of a key's "do not retry" entry
const WARM_UP_STEPS = 300; // after a restore: about 30 ms (warmUpRuntime)
const RESTORE_TIMEOUT = 30_000; // ms: Pyodide only logs a failed instantiation, then hangs

/**
 * @typedef {object} Runtime
 * @property {"pyodide"|"micropython"} kind
 * @property {any} python     the interpreter (Pyodide's or MicroPython's API object)
 * @property {any} manifest   /statesync/manifest.json
 * @property {null|undefined} none  what Python gets as None: Pyodide makes JS null a `JsNull`,
 *   MicroPython makes undefined an object
 * @property {any} bridge     the `statesync_bridge` Python module (a PyProxy)
 * @property {{started: number, pyodide: number, core: number, warmUp: number,
 *   timeOrigin: number, snapshot: "restored" | "saved" | "discarded" | "none"}} timings  ms:
 *   when the boot started (this worker's clock) and how long each part took (`warmUp`: after
 *   a restore, `warmUpRuntime`; 0 otherwise); `snapshot`: booted from a memory
 *   snapshot, or booted and saved one, or one failed to restore (discarded, not made again for
 *   these files), or none (no Cache API)
 */

/** @type {Map<string, Promise<Runtime>>} one per server (base URL) and kind: its latest code */
const runtimes = new Map();
/** @type {Map<string, Promise<any>>} manifests by server (base URL), for `bootAhead` */
const manifests = new Map();
/** @type {Map<string, {phase: string, loaded: number, total?: number}>} boots under way */
const progress = new Map();
/** @type {Map<string, Connection>} Python clients, shared by the pages of one user */
const connections = new Map();
/** @type {Set<Tab>} */
const tabs = new Set();
let boots = 0;
let ownKeys = 0; // connections of pages with their own getToken()

/**
 * An error with a protocol code, for a call's answer.
 * @param {string} code @param {string} message @param {object[]} [fields]  invalid fields
 */
function failure(code, message, fields = undefined) {
  return Object.assign(new Error(message), { code }, fields ? { fields } : {});
}

// --- the runtime ------------------------------------------------------------------------------

const realFetch = self.fetch.bind(self);
/** @type {Map<string, (bytes: number) => void>} origin -> byte counter, while its runtime boots */
const counters = new Map();

// Count the bytes of every response from a server whose runtime is booting (Pyodide fetches its
// WebAssembly and standard library itself). A clone is read: the response itself stays the
// browser's, so its code cache still applies.
self.fetch = async (input, init) => {
  const response = await realFetch(input, init);
  const count = response.body && counters.get(new URL(response.url).origin);
  if (count) countBytes(response.clone(), count);
  return response;
};

/** @param {Response} response @param {(bytes: number) => void} count */
async function countBytes(response, count) {
  const reader = response.body.getReader();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    count(chunk.value.byteLength);
  }
}

/**
 * The server's manifest, fetched once per page (again after a failure): a SharedWorker
 * outlives its pages (statesync.js asks for an extended lifetime), so a page may come after
 * the server changed its code; the runtimes booted are kept while the manifest's code is the
 * same (`loadRuntime`). @param {string} base @param {Tab} [tab] the page asking
 */
function manifestOf(base, tab = undefined) {
  const cache = tab?.manifests ?? manifests;
  if (!cache.has(base)) {
    const manifest = fetchJson(`${base}/statesync/manifest.json`);
    manifest.catch(() => cache.delete(base));
    cache.set(base, manifest);
  }
  return cache.get(base);
}

/**
 * Which runtime runs a page's machines, and which of them run there (optimistic) or not
 * (confirmed by the server only): MicroPython when every one can run in it (the server's
 * start-up check, `manifest.runtimes`), else Pyodide, which runs them all; where the server
 * has no Pyodide, MicroPython for those that can, the rest server-only. Throws (the page
 * works server-direct) when no runtime can be had, saying what is missing.
 * @param {any} manifest @param {Object<string, string>} locations  name -> "module:attribute"
 * @returns {{kind: "pyodide"|"micropython", local: Object<string, string>,
 *   serverOnly: Object<string, string>}}  `serverOnly`: name -> why it does not run here
 */
function chooseRuntime(manifest, locations) {
  const light = Boolean(manifest.micropython && manifest.light);
  const needs = (name) => manifest.runtimes?.[name] ?? "pyodide";
  const heavy = Object.keys(locations).filter((name) => !light || needs(name) !== "micropython");
  if (!heavy.length && light) return { kind: "micropython", local: locations, serverOnly: {} };
  if (manifest.pyodide) return { kind: "pyodide", local: locations, serverOnly: {} };
  const missing = "the server has no Pyodide runtime (`npm install @statesync/web` in the app's "
    + "directory, or set STATESYNC_PYODIDE_DIR)";
  // not "unavailable": that one is retried (the server may come back), this will not change
  if (!light) throw failure("not-found", `${missing}, nor the light one: working server-direct`);
  const why = (name) => `${name} needs Pyodide (${(manifest.reasons?.[name] ?? []).join("; ")
    || "not checked for MicroPython"}) and ${missing}: its changes show once the server confirms them`;
  return {
    kind: "micropython",
    local: Object.fromEntries(Object.entries(locations).filter(([name]) => !heavy.includes(name))),
    serverOnly: Object.fromEntries(heavy.map((name) => [name, why(name)])),
  };
}

/**
 * Boot the runtime of `kind` for `base` once per version of its code (content-hashed URLs in
 * `manifest`); a failed boot is tried again by the next call. A runtime of older code is
 * dropped (pages still using it keep it).
 * @param {string} base @param {"pyodide"|"micropython"} kind @param {any} manifest
 */
function loadRuntime(base, kind, manifest) {
  const key = runtimeKey(base, kind, manifest);
  if (!runtimes.has(key)) {
    const older = JSON.stringify([kind, base]).slice(0, -1);
    for (const other of runtimes.keys()) if (other.startsWith(older)) runtimes.delete(other);
    const runtime = boot(base, kind, manifest);
    runtime.catch(() => runtimes.delete(key));
    runtimes.set(key, runtime);
  }
  return runtimes.get(key);
}

/** Which runtime of `kind` for `base`, and which version of its code. */
function runtimeKey(base, kind, manifest) {
  const code = kind === "micropython" ? [manifest.micropython, manifest.light]
    : [manifest.pyodide, manifest.core, manifest.bridge, ...manifest.modules.map((m) => m.url)];
  return JSON.stringify([kind, base, ...code]);
}

/** `machines` as a page gives it (`true`, `false` or locations) -> locations. */
function locationsOf(manifest, machines) {
  return machines === false ? {}
    : machines === true || machines === undefined ? manifest.machines : machines;
}

/** @param {string} base @param {string} phase @param {object} [bytes] */
function report(base, phase, bytes = {}) {
  const now = { ...progress.get(base), phase, ...bytes };
  progress.set(base, now);
  for (const tab of tabs) tab.channel.notify("progress", { base, ...now });
}

/**
 * @param {string} base @param {"pyodide"|"micropython"} kind @param {any} manifest
 * @returns {Promise<Runtime>}
 */
async function boot(base, kind, manifest) {
  boots += 1;
  const started = performance.now();
  let loaded = 0;
  let timer;
  counters.set(base, (bytes) => {
    loaded += bytes;
    timer ??= setTimeout(() => {
      timer = undefined;
      if (progress.get(base)?.phase === "loading-runtime") report(base, "loading-runtime", { loaded });
    }, PROGRESS_EVERY);
  });
  try {
    report(base, "loading-runtime", { loaded: 0 });
    if (kind === "micropython") return await bootLight(base, manifest, started, () => loaded);
    report(base, "loading-runtime", { total: manifest.bytes });
    const [{ loadPyodide }, core, modules, bridgeSource] = await Promise.all([
      import(`${base}${manifest.pyodide}pyodide.mjs`),
      fetchBytes(`${base}${manifest.core}`),
      Promise.all(manifest.modules.map(async (m) => [m.name, await fetchBytes(`${base}${m.url}`)])),
      fetchBytes(`${base}${manifest.bridge}`),
    ]);
    const indexURL = `${base}${manifest.pyodide}`;
    const snapshots = await Snapshots.open(base, manifest, core, modules, bridgeSource);
    let pyodide;
    let snapshot = snapshots?.usable ? "saved" : "none";
    if (snapshots?.found) {
      try {
        pyodide = await snapshots.restore(loadPyodide, indexURL);
        snapshot = "restored";
      } catch (error) {
        console.warn("statesync: a Pyodide memory snapshot failed to restore (discarded)", error);
        await snapshots.discard();
        snapshot = "discarded";
      }
    }
    pyodide ??= await loadPyodide({ indexURL, packages: [], _makeSnapshot: snapshot === "saved" });
    const loadedPyodide = performance.now();
    report(base, "loading-packages", { loaded: manifest.bytes ?? loaded });
    // The file system is not in a snapshot: the files are written again (imports that run
    // later, tracebacks), identical since the snapshot's key is their hash.
    const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_paths()['purelib']");
    pyodide.unpackArchive(core, "zip", { extractDir: sitePackages });
    pyodide.FS.mkdirTree(SITE_MODULES);
    manifest.modules.forEach(({ name, url }, i) => {  // a .py file, or a package as a .zip
      const source = modules[i][1];
      if (url.endsWith(".zip")) pyodide.unpackArchive(source, "zip", { extractDir: SITE_MODULES });
      else pyodide.FS.writeFile(`${SITE_MODULES}/${name}.py`, source);
    });
    pyodide.FS.writeFile(`${SITE_MODULES}/statesync_bridge.py`, bridgeSource);
    if (snapshot !== "restored") {
      pyodide.runPython(`import sys; sys.path.insert(0, ${JSON.stringify(SITE_MODULES)})`);
    }
    const bridge = pyodide.pyimport("statesync_bridge");
    if (snapshot === "saved") snapshot = snapshots.save(pyodide, manifest) ? "saved" : "none";
    const warmUp = snapshot === "restored" ? warmUpRuntime(bridge) : 0;
    const timings = { started, pyodide: loadedPyodide - started,
      core: performance.now() - loadedPyodide - warmUp, warmUp,
      timeOrigin: performance.timeOrigin, snapshot };
    return { kind, python: pyodide, manifest, bridge, timings, none: undefined };
  } finally {
    counters.delete(base);
    clearTimeout(timer);
    progress.delete(base);
  }
}

/**
 * Boot MicroPython-wasm with the light bundle (the core, the client, the bridge and the
 * machine modules, rewritten by the server for MicroPython and compiled to its bytecode:
 * `manifest.light`, packed: `unpackBundle`) written under LIGHT_MODULES. `counted()`: the bytes fetched so far (it loads
 * faster than a progress report comes: the count is reported once loaded).
 * @returns {Promise<Runtime>}
 */
async function bootLight(base, manifest, started, counted) {
  report(base, "loading-runtime", { total: manifest.lightBytes });
  const wasm = `${base}${manifest.micropython}micropython.wasm`;
  // Requested with the rest, not once micropython.mjs has run: its own request then waits for
  // this one and reads the HTTP cache (read here, uncounted: that request counts the bytes).
  realFetch(wasm).then((response) => response.arrayBuffer()).catch(() => {});
  const [{ loadMicroPython }, files] = await Promise.all([
    import(`${base}${manifest.micropython}micropython.mjs`),
    fetchBytes(`${base}${manifest.light}`),
  ]);
  const python = await loadMicroPython({
    url: wasm, heapsize: LIGHT_HEAP,
    stdout: (line) => console.log(line), stderr: (line) => console.warn(line),
  });
  const loaded = performance.now();
  report(base, "loading-runtime", { loaded: Math.min(counted(), manifest.lightBytes) });
  report(base, "loading-packages", { loaded: manifest.lightBytes });
  python.FS.mkdirTree(LIGHT_MODULES);
  for (const [path, content] of unpackBundle(files)) {
    const slash = path.lastIndexOf("/");
    if (slash > 0) python.FS.mkdirTree(`${LIGHT_MODULES}/${path.slice(0, slash)}`);
    python.FS.writeFile(`${LIGHT_MODULES}/${path}`, content);
  }
  python.runPython(`import sys; sys.path.insert(0, ${JSON.stringify(LIGHT_MODULES)})`);
  const bridge = python.pyimport("statesync_bridge");
  const timings = { started, pyodide: loaded - started, core: performance.now() - loaded,
    warmUp: 0, timeOrigin: performance.timeOrigin, snapshot: "none" };
  return { kind: "micropython", python, manifest, bridge, timings, none: null };
}

/**
 * The files of a packed light bundle (statesync_server.web.light.pack_bundle): a 4-byte
 * little-endian length, a JSON index `[[path, size], ...]` of that many bytes, the files'
 * bytes in its order. @param {Uint8Array} packed @returns {[string, Uint8Array][]}
 */
function unpackBundle(packed) {
  const size = new DataView(packed.buffer, packed.byteOffset).getUint32(0, true);
  let at = 4 + size;
  return JSON.parse(new TextDecoder().decode(packed.subarray(4, at))).map(([path, length]) => {
    at += length;
    return [path, packed.subarray(at - length, at)];
  });
}

/** Let go of a Python object held from JS (Pyodide's proxies must be; MicroPython's need not). */
function release(proxy) {
  if (hasMethod(proxy, "destroy")) proxy.destroy();
}

/**
 * Whether `value` has a method `name`, asked without reading a missing attribute (which
 * MicroPython's proxies raise as an AttributeError).
 */
function hasMethod(value, name) {
  return (typeof value === "object" || typeof value === "function") && value !== null
    && name in value && typeof value[name] === "function";
}

/**
 * Run the send path's work `WARM_UP_STEPS` times on a throwaway machine (`bridge.py`), so
 * that Chromium's optimizing compiler takes up its hot WebAssembly functions now, in the
 * background while the connection opens, rather than during the first sends: a restored
 * snapshot brings the heap, not the compiled code.
 * @returns {number} milliseconds
 */
function warmUpRuntime(bridge) {
  const started = performance.now();
  const step = bridge.warm_up_stepper(() => {});
  try {
    for (let i = 0; i < WARM_UP_STEPS; i++) JSON.parse(step(`{"type": "FLIP", "id": ${i % 8}}`));
  } finally {
    release(step);
  }
  return performance.now() - started;
}

/**
 * The memory snapshot of one boot's files, in the Cache API under
 * `<base>/statesync/snapshot/<key>`: `key` hashes the Pyodide runtime (its content-hashed URL
 * and version), the core archive, the machine modules and the bridge, as fetched, so a changed
 * SDK or app never restores stale code. A server keeps one (older keys are deleted).
 */
class Snapshots {
  /** @returns {Promise<Snapshots|undefined>} undefined where there is no Cache API */
  static async open(base, manifest, core, modules, bridgeSource) {
    if (typeof caches === "undefined" || !crypto.subtle) return undefined; // not a secure context
    try {
      const parts = [new TextEncoder().encode(JSON.stringify([SNAPSHOT_LAYOUT, manifest.pyodide,
        modules.map(([name]) => name)])), core, ...modules.map(([, source]) => source), bridgeSource];
      const digests = await Promise.all(parts.map((part) => crypto.subtle.digest("SHA-256", part)));
      const joined = new Uint8Array(digests.flatMap((digest) => [...new Uint8Array(digest)]));
      const key = [...new Uint8Array(await crypto.subtle.digest("SHA-256", joined))]
        .map((byte) => byte.toString(16).padStart(2, "0")).join("").slice(0, 32);
      const cache = await caches.open(SNAPSHOTS);
      return new Snapshots(cache, `${base}/statesync/snapshot/`, key, await cache.match(
        `${base}/statesync/snapshot/${key}`));
    } catch (error) {
      console.warn("statesync: no Pyodide memory snapshots", error);
      return undefined;
    }
  }

  constructor(cache, prefix, key, response) {
    this.cache = cache;
    this.prefix = prefix;
    this.key = key;
    this.url = prefix + key;
    this.failed = response?.headers.has(SNAPSHOT_FAILED) ?? false;
    this.found = this.failed ? undefined : response;
    this.usable = !this.failed;
  }

  /** Pyodide from the snapshot, checked to be this key's; throws otherwise. */
  async restore(loadPyodide, indexURL) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("restoring timed out")), RESTORE_TIMEOUT);
    });
    try {
      const pyodide = await Promise.race([timeout, loadPyodide(
        { indexURL, packages: [], _loadSnapshot: this.found.arrayBuffer() })]);
      // The key was stored in the heap: it must be this one. Every restore would otherwise
      // start with the same random state (the reconnection backoff's jitter): reseeded.
      const key = pyodide.runPython(
        "import random, statesync_bridge; random.seed(); getattr(statesync_bridge, 'SNAPSHOT', None)");
      if (key !== this.key) throw new Error(`the snapshot holds ${key}, not ${this.key}`);
      return pyodide;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Import the machine modules, then snapshot the heap (before any client exists: nothing of
   * the page's in it) and store it in the background. @returns {boolean} whether it was taken
   */
  save(pyodide, manifest) {
    let bytes;
    try {
      for (const { name } of manifest.modules) pyodide.pyimport(name).destroy();
      pyodide.runPython(`import statesync_bridge; statesync_bridge.SNAPSHOT = ${JSON.stringify(this.key)}`);
      bytes = pyodide.makeMemorySnapshot();
    } catch (error) {
      console.warn("statesync: no Pyodide memory snapshot", error);
      return false;
    }
    this.store(new Response(bytes, { headers: { "content-type": "application/octet-stream" } }))
      .catch((error) => console.warn("statesync: the Pyodide memory snapshot was not stored", error));
    return true;
  }

  /** A snapshot failed to restore: never again for this key (a boot without one each time). */
  discard() {
    return this.store(new Response("", { headers: { [SNAPSHOT_FAILED]: "1" } }))
      .catch((error) => console.warn("statesync: the Pyodide memory snapshot was not discarded", error));
  }

  /** @param {Response} response this key's entry; every other key of the server is deleted */
  async store(response) {
    await this.cache.put(this.url, response);
    for (const request of await this.cache.keys()) {
      if (request.url.startsWith(this.prefix) && request.url !== this.url) await this.cache.delete(request);
    }
  }
}

/** @param {string} url */
async function fetchJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw failure("not-found", `GET ${url}: HTTP ${response.status}`);
  return response.json();
}

/** @param {string} url @returns {Promise<Uint8Array>} */
async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw failure("not-found", `GET ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * A bridge call's awaitable as a promise: `call(...args)` now (its synchronous part runs
 * before this returns). Under Pyodide its result is awaited as it is; under MicroPython the
 * call is made and awaited in a task by `bridge.spawn`: an async function JavaScript called
 * itself would start outside any task, where a timeout or a cancel stops MicroPython's
 * scheduler.
 * @param {Runtime} runtime @param {Function} call  a bridge function @param {...any} args
 */
function promised(runtime, call, ...args) {
  if (runtime.kind !== "micropython") return Promise.resolve(call(...args));
  return new Promise((resolve, reject) => runtime.bridge.spawn(resolve,
    (message) => reject(failure("internal", message)), call, ...args));
}

/**
 * A bridge call's `Outcome`: its value, or an error with the server's code.
 * @param {Promise<any>} pending  from `promised`
 */
async function settle(pending) {
  const outcome = await pending;
  try {
    if (outcome.code !== undefined && outcome.code !== null) {
      throw failure(outcome.code, outcome.message,
        outcome.fields_json ? JSON.parse(outcome.fields_json) : undefined);
    }
    const value = outcome.value;
    return hasMethod(value, "copy") ? value.copy() : value; // outlive `outcome`
  } finally {
    release(outcome);
  }
}

// --- Python clients shared by pages -----------------------------------------------------------

/** One Python `Client` (one WebSocket) and the pages' clients using it. */
class Connection {
  /** @type {Set<User>} */
  users = new Set();
  /** @type {Map<string, Promise<Handle>>} one Python instance handle per instance */
  handles = new Map();

  /** @param {string} key @param {Runtime} runtime @param {any} py the Python client */
  constructor(key, runtime, py) {
    this.key = key;
    this.runtime = runtime;
    this.py = py;
    this.offStatus = runtime.bridge.on_status(py, () => this.tellStatus()); // not in a send
  }

  status() {
    return JSON.parse(this.runtime.bridge.status_json(this.py));
  }

  /** @param {object} [status] @param {Set<User>} [told] users who got it already */
  tellStatus(status = this.status(), told = undefined) {
    for (const user of this.users) {
      if (!told?.has(user)) user.tab.channel.notify("status", { cid: user.cid, status });
    }
  }

  /** @param {string} machine @param {string} name @param {string|undefined} create JSON */
  async open(machine, name, create) {
    const { bridge } = this.runtime;
    const py = await settle(promised(this.runtime,
      bridge.instance, this.py, machine, name, create ?? this.runtime.none));
    const handle = { py, key: JSON.stringify([machine, name]), /** @type {Set<Ref>} */ refs: new Set() };
    handle.off = bridge.subscribe(py, () => this.tellState(handle)); // not in a send
    handle.offEmitted = bridge.on_emitted(py, (event) => this.tellEmitted(handle, event));
    return handle;
  }

  /** Every page's view of `handle` gets the event it emitted (JSON, as the server sent it). */
  tellEmitted(handle, event) {
    for (const ref of handle.refs) ref.tab.channel.notify("emitted", { hid: ref.hid, event });
  }

  /**
   * Every page's view of `handle` gets its state, pending events, accepted events and the
   * client's status (one JSON text, made once for all of them), with its send count: one
   * event per tab, for all of the tab's views (`refs`: `[hid, sent]` pairs).
   */
  tellState(handle) {
    const view = this.runtime.bridge.view_json(handle.py);
    /** @type {Map<Tab, [number, number][]>} */
    const byTab = new Map();
    for (const ref of handle.refs) {
      if (!byTab.has(ref.tab)) byTab.set(ref.tab, []);
      byTab.get(ref.tab).push([ref.hid, ref.sent]);
    }
    for (const [tab, refs] of byTab) tab.channel.notify("state", { refs, view });
  }

  /** @param {Handle} handle */
  async release(handle) {
    if (handle.refs.size) return;
    this.handles.delete(handle.key);
    handle.off();
    release(handle.off);
    handle.offEmitted();
    release(handle.offEmitted);
    await promised(this.runtime, this.runtime.bridge.close, handle.py);
  }

  async closeIfUnused() {
    if (this.users.size || connections.get(this.key) !== this) return;
    connections.delete(this.key);
    this.offStatus();
    release(this.offStatus);
    await promised(this.runtime, this.runtime.bridge.close, this.py);
  }
}

/**
 * @typedef {{py: any, key: string, refs: Set<Ref>, off: any}} Handle
 * @typedef {{tab: Tab, cid: number, connection?: Connection, refs: Set<Ref>, closed: boolean}} User
 *   a page's `Client`
 * @typedef {{tab: Tab, hid: number, user: User, handle: Handle, sent: number}} Ref  a page's
 *   `Instance`; `sent`: how many of its sends this worker has applied
 * @typedef {{user: User, py?: any, changes: string[], ended?: Error}} Watch  a page's
 *   `LiveQuery`: the Python one, the changes (JSON) not pushed yet, and why it ended before
 *   the page got its items
 */

/** Stop a live query's Python side (if it started). @param {Watch} watch */
async function endWatch(watch) {
  const live = watch.py;
  watch.py = undefined;
  if (!live) return;
  const { runtime } = watch.user.connection;
  await promised(runtime, runtime.bridge.close, live);
  release(live);
}

/** `getToken` for the Python client: `first`, then the page's `getToken()`. */
function firstThen(first, ask) {
  let token = first;
  return () => {
    const answer = token ?? ask();
    token = undefined;
    return answer;
  };
}

/** One page (its port). */
class Tab {
  /** @type {Map<number, User>} */
  users = new Map();
  /** @type {Map<number, Ref>} */
  refs = new Map();
  /** @type {Map<number, Watch>} */
  watches = new Map();
  /** @type {Map<string, Promise<any>>} the servers' manifests, as this page found them */
  manifests = new Map();

  /** @param {any} port */
  constructor(port) {
    this.channel = new Channel(port, (op, args) => {
      if (!Object.hasOwn(OPS, op)) throw failure("invalid-message", `no such op: ${op}`);
      return OPS[op](this, args);
    });
    tabs.add(this);
  }

  /** The page is gone: close what it had open. */
  async gone() {
    tabs.delete(this);
    await Promise.all([...this.users.keys()].map((cid) => OPS.close(this, { cid })));
  }
}

/** What a page can ask: `channel.call(op, args)`. */
const OPS = {
  /** The page holds the Web Lock `tab` until it is gone. */
  hello(tab, { lock }) {
    navigator.locks.request(lock, () => tab.gone());
  },

  /**
   * @returns {Promise<object>} once the runtime for `base` and the page's `machines` is
   *   there: which one, and where each machine runs (`machines`: name -> "micropython" |
   *   "pyodide", or why it runs on the server only)
   */
  async boot(tab, { base, machines }) {
    const booting = progress.get(base);
    if (booting) tab.channel.notify("progress", { base, ...booting });
    const manifest = await manifestOf(base, tab);
    const { kind, local, serverOnly } = chooseRuntime(manifest, locationsOf(manifest, machines));
    for (const why of Object.values(serverOnly)) console.warn(`statesync: ${why}`);
    const { timings } = await loadRuntime(base, kind, manifest);
    // Bytes this worker fetched over the network (HTTP cache hits count 0).
    const downloaded = performance.getEntriesByType("resource")
      .reduce((sum, entry) => sum + entry.transferSize, 0);
    const where = { ...Object.fromEntries(Object.keys(local).map((name) => [name, kind])),
      ...serverOnly };
    return { worker: KIND, runtime: kind, machines: where, boots, connections: connections.size,
      downloaded, timings };
  },

  /** A page's `Client`: the Python client of that user (made and connected if needed). */
  async open(tab, { cid, base, token, askedToken, session, machines, timeout }) {
    /** @type {User} */
    const user = { tab, cid, refs: new Set(), closed: false };
    tab.users.set(cid, user);
    const manifest = await manifestOf(base, tab);
    const { kind, local: locations } = chooseRuntime(manifest, locationsOf(manifest, machines));
    const runtime = await loadRuntime(base, kind, manifest);
    const { bridge } = runtime;
    // Pages with the same token (or the same anonymous session) share the Python client; a
    // page's getToken() is its own (`askedToken` is its first answer).
    const key = askedToken ? `own:${++ownKeys}`
      : JSON.stringify([runtimeKey(base, kind, manifest), token ?? "anonymous", locations]);
    let connection = connections.get(key);
    if (!connection) {
      const { none } = runtime;
      const py = bridge.make_client(
        base, token ?? none,
        askedToken ? firstThen(askedToken, () => tab.channel.call("token", { cid })) : none,
        session ?? none,
        (json) => connection.users.forEach((u) => u.tab.channel.notify("session", { base, json })),
        JSON.stringify(locations),
      );
      connection = new Connection(key, runtime, py);
      connection.ready = settle(promised(runtime, bridge.connect, py, timeout));
      connections.set(key, connection);
      connection.ready.catch(() => connections.delete(key));
    }
    user.connection = connection;
    connection.users.add(user);
    try {
      await connection.ready;
    } catch (error) {
      connection.users.delete(user);
      tab.users.delete(cid);
      throw error;
    }
    if (user.closed) { // closed meanwhile
      connection.users.delete(user);
      await connection.closeIfUnused();
      throw failure("closed", "the client was closed");
    }
    return connection.status();
  },

  /** A page's `Instance`: its state and pending events. */
  async instance(tab, { cid, hid, machine, name, create }) {
    const user = tab.users.get(cid);
    if (!user?.connection) throw failure("closed", "the client was closed");
    const { connection } = user;
    const key = JSON.stringify([machine, name]);
    if (!connection.handles.has(key)) {
      const opening = connection.open(machine, name, create);
      opening.catch(() => connection.handles.delete(key)); // asking again asks the server
      connection.handles.set(key, opening);
    }
    const handle = await connection.handles.get(key);
    /** @type {Ref} */
    const ref = { tab, hid, user, handle, sent: 0 };
    handle.refs.add(ref);
    user.refs.add(ref);
    tab.refs.set(hid, ref);
    if (user.closed) {
      await OPS.release(tab, { hid });
      throw failure("closed", "the client was closed");
    }
    return { view: connection.runtime.bridge.view_json(handle.py) };
  },

  /** One page of `Client.query` (`{machine, index, op, value, order, limit, cursor}`). */
  async query(tab, { cid, query }) {
    const connection = tab.users.get(cid)?.connection;
    if (!connection) throw failure("closed", "the client was closed");
    const { runtime } = connection;
    return JSON.parse(await settle(promised(runtime, runtime.bridge.query, connection.py, JSON.stringify(query))));
  },

  /**
   * A page's `LiveQuery` `wid` (`Client.watch`): its items now; then `query` events with the
   * changes only (coalesced: one event per turn of the event loop; the page applies them to
   * its items, so a change costs the same whatever the number of items), and a `query-end`
   * event if the server refuses to watch it again or ends it.
   */
  async watch(tab, { cid, wid, query }) {
    const user = tab.users.get(cid);
    if (!user?.connection) throw failure("closed", "the client was closed");
    const { bridge } = user.connection.runtime;
    /** @type {Watch} */
    const watch = { user, changes: [] };
    tab.watches.set(wid, watch);
    const push = () => {
      if (tab.watches.get(wid) !== watch || !watch.py || !watch.changes.length) return;
      tab.channel.notify("query", { wid, changes: `[${watch.changes.splice(0).join(",")}]` });
    };
    const onChange = (change) => {
      if (watch.changes.push(change) === 1) queueMicrotask(push);
    };
    const onEnd = (code, message) => {
      if (tab.watches.get(wid) !== watch || code === null || code === undefined) return; // unwatched
      if (!watch.py) { // before the page got its items: the answer says it
        watch.ended = failure(code, message);
        return;
      }
      push(); // the changes before the end first
      tab.watches.delete(wid);
      tab.channel.notify("query-end", { wid, code, message });
      endWatch(watch).catch(() => {});
    };
    try {
      watch.py = await settle(promised(user.connection.runtime, bridge.watch, user.connection.py,
        JSON.stringify(query), onChange, onEnd));
    } catch (error) {
      tab.watches.delete(wid);
      throw error;
    }
    watch.changes.length = 0; // already in the items below
    if (tab.watches.get(wid) !== watch || watch.ended) { // closed or ended meanwhile
      tab.watches.delete(wid);
      await endWatch(watch);
      throw watch.ended ?? failure("closed", "the live query was closed");
    }
    return bridge.items_json(watch.py);
  },

  /** A page closed its `LiveQuery`. */
  async unwatch(tab, { wid }) {
    const watch = tab.watches.get(wid);
    tab.watches.delete(wid);
    if (watch) await endWatch(watch);
  },

  /**
   * Apply `event` (JSON, with the page's event `id`) locally (every page sees it), then
   * answer with its seq once committed.
   */
  send(tab, { hid, event, id }) {
    const ref = tab.refs.get(hid);
    if (!ref) throw failure("closed", "the instance was closed");
    const { user: { connection }, handle } = ref;
    ref.sent += 1;
    const saved = promised(connection.runtime, connection.runtime.bridge.send, handle.py, event,
      id ?? connection.runtime.none);
    connection.tellState(handle); // with the status: other users of the client get it apart
    const told = new Set([...handle.refs].map((r) => r.user));
    if ([...connection.users].some((user) => !told.has(user))) {
      connection.tellStatus(undefined, told);
    }
    return settle(saved);
  },

  /** A page closed its `Instance`. */
  async release(tab, { hid }) {
    const ref = tab.refs.get(hid);
    if (!ref) return;
    tab.refs.delete(hid);
    ref.user.refs.delete(ref);
    ref.handle.refs.delete(ref);
    await ref.user.connection.release(ref.handle);
  },

  /** A page closed its `Client`. */
  async close(tab, { cid }) {
    const user = tab.users.get(cid);
    if (!user) return;
    user.closed = true;
    tab.users.delete(cid);
    await Promise.all([...user.refs].map((ref) => OPS.release(tab, { hid: ref.hid })));
    await Promise.all([...tab.watches].filter(([, watch]) => watch.user === user)
      .map(([wid]) => OPS.unwatch(tab, { wid })));
    if (user.connection) {
      user.connection.users.delete(user);
      await user.connection.closeIfUnused();
    }
  },

  /** `statesync.settings.settings_instance`, for pages without `crypto.subtle`. */
  async settingsName(tab, { base, namespace, subject }) {
    const manifest = await manifestOf(base, tab);
    const { kind } = chooseRuntime(manifest, locationsOf(manifest, true));
    const settings = (await loadRuntime(base, kind, manifest)).python.pyimport("statesync.settings");
    try {
      return settings.settings_instance(namespace, subject);
    } finally {
      release(settings);
    }
  },
};

/**
 * Boot the light runtime for `base` now, before any page asks, when the server runs every
 * machine in it (MicroPython: a page asking for others boots what they need then); a failure
 * is left for the page's own boot to retry and report.
 * @param {string} base
 */
async function bootAhead(base) {
  try {
    const manifest = await manifestOf(base);
    const { kind } = chooseRuntime(manifest, locationsOf(manifest, true));
    if (kind === "micropython") await loadRuntime(base, kind, manifest);
  } catch {
    // the page's boot tries again and says why
  }
}

if (KIND === "shared") self.onconnect = (event) => new Tab(event.ports[0]);
else new Tab(self);
// Served by a statesync server (under its /statesync/sdk/): that server is the one the pages
// use (an SDK bundled elsewhere says which when it connects), so its runtime boots while they
// load.
if (self.location.pathname.includes("/statesync/sdk/")) bootAhead(self.location.origin);
