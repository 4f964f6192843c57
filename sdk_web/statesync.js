/**
 * statesync in the browser: the Python client runs in Pyodide, served by the statesync server.
 *
 *   import { connect } from "/statesync/sdk/statesync.js";
 *   const client = await connect({ token });            // or getToken, or neither: anonymous
 *   const todo = await client.instance("todo", "groceries", { create: { owner: "alice" } });
 *   todo.subscribe((state) => render(state));           // called now and on every change
 *   await todo.send({ type: "ADD", text: "milk" });     // shows at once; resolves on ack
 *
 * Everything (Pyodide, the statesync core, the app's machine module) comes from the server's
 * `/statesync/manifest.json`; nothing is fetched from a CDN.
 * @module statesync
 */

/**
 * The state of an instance as plain JS data.
 * @typedef {object} State
 * @property {string|object} value   XState state value
 * @property {string[]} tags
 * @property {any} context           the public context
 * @property {"active"|"done"|"error"} status
 * @property {boolean} done
 * @property {number} seq            last seq confirmed by the server
 * @property {number} pending        events applied locally on top, not yet confirmed
 */

/**
 * @typedef {object} Manifest
 * @property {string} pyodide        Pyodide's indexURL
 * @property {string} core           URL of the statesync core archive (zip)
 * @property {{name: string, url: string}[]} modules   the app's machine modules
 * @property {Object<string, string>} machines          registered name -> "module:attribute"
 */

const SITE_MODULES = "/home/pyodide/statesync_app";

/** An error from the server (or the connection), with its protocol `code`. */
export class StatesyncError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.name = "StatesyncError";
    this.code = code;
  }
}

/** @type {Map<string, Promise<Runtime>>} */
const runtimes = new Map();

/**
 * @typedef {object} Runtime
 * @property {any} pyodide
 * @property {Manifest} manifest
 * @property {any} bridge           the `bridge` Python module (a PyProxy)
 * @property {{pyodide: number, core: number, total: number}} timings  milliseconds
 */

/**
 * Boot Pyodide with the statesync core and the app's machine modules (once per server).
 * @param {string} [url] the server's base URL (default: this page's origin)
 * @returns {Promise<Runtime>}
 */
export function loadRuntime(url = location.origin) {
  const base = new URL(url, location.href).origin;
  if (!runtimes.has(base)) {
    const runtime = boot(base);
    runtime.catch(() => runtimes.delete(base)); // a later call tries again
    runtimes.set(base, runtime);
  }
  return runtimes.get(base);
}

/** @param {string} base @returns {Promise<Runtime>} */
async function boot(base) {
  const t0 = performance.now();
  const manifest = await fetchJson(`${base}/statesync/manifest.json`);
  const [{ loadPyodide }, core, modules, bridgeSource] = await Promise.all([
    import(`${base}${manifest.pyodide}pyodide.mjs`),
    fetchBytes(`${base}${manifest.core}`),
    Promise.all(manifest.modules.map(async (m) => [m.name, await fetchBytes(`${base}${m.url}`)])),
    fetchBytes(`${base}/statesync/sdk/bridge.py`),
  ]);
  const pyodide = await loadPyodide({ indexURL: `${base}${manifest.pyodide}`, packages: [] });
  const t1 = performance.now();
  const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_paths()['purelib']");
  pyodide.unpackArchive(core, "zip", { extractDir: sitePackages });
  pyodide.FS.mkdirTree(SITE_MODULES);
  for (const [name, source] of modules) pyodide.FS.writeFile(`${SITE_MODULES}/${name}.py`, source);
  pyodide.FS.writeFile(`${SITE_MODULES}/statesync_bridge.py`, bridgeSource);
  pyodide.runPython(`import sys; sys.path.insert(0, ${JSON.stringify(SITE_MODULES)})`);
  const bridge = pyodide.pyimport("statesync_bridge");
  const t2 = performance.now();
  // Visible in DevTools' performance panel; bench/browser.py reads them.
  performance.measure("statesync:pyodide", { start: t0, end: t1 });
  performance.measure("statesync:core", { start: t1, end: t2 });
  const timings = { pyodide: t1 - t0, core: t2 - t1, total: t2 - t0 };
  return { pyodide, manifest, bridge, timings };
}

/** @param {string} url */
async function fetchJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new StatesyncError("not-found", `GET ${url}: HTTP ${response.status}`);
  return response.json();
}

/** @param {string} url @returns {Promise<Uint8Array>} */
async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new StatesyncError("not-found", `GET ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * Await a bridge call's `Outcome`: its value, or a `StatesyncError` with the server's code.
 * @param {any} pending  a Python awaitable of an `Outcome`
 */
async function settle(pending) {
  const outcome = await pending;
  try {
    if (outcome.code !== undefined && outcome.code !== null) {
      throw new StatesyncError(outcome.code, outcome.message);
    }
    const value = outcome.value;
    return typeof value?.copy === "function" ? value.copy() : value; // outlive `outcome`
  } finally {
    outcome.destroy();
  }
}

/**
 * Connect to a statesync server.
 * @param {object} [options]
 * @param {string} [options.url]       the server's base URL (default: this page's origin)
 * @param {string} [options.token]     a JWT
 * @param {() => string|Promise<string>} [options.getToken]  asked on every (re)connect and
 *   before expiry; without `token` and `getToken` the page uses an anonymous session, kept in
 *   localStorage so a reload is the same user
 * @param {boolean|Object<string, string>} [options.machines]  optimistic machines: `true`
 *   (default) every one the server offers, `false` none, or `{name: "module:attribute"}`
 * @param {number} [options.timeout]   seconds to wait for the first connection (default 10)
 * @returns {Promise<Client>}
 */
export async function connect(options = {}) {
  const base = new URL(options.url ?? location.origin, location.href).origin;
  const runtime = await loadRuntime(base);
  const machines = options.machines === false ? {}
    : options.machines === true || options.machines === undefined ? runtime.manifest.machines
      : options.machines;
  const sessionKey = `statesync.session:${base}`;
  const py = await settle(runtime.bridge.connect(
    // Absent values go as `undefined` (Python None); `null` would arrive as JsNull.
    base, options.token, options.getToken,
    options.token || options.getToken ? undefined : localStorage.getItem(sessionKey) ?? undefined,
    (json) => localStorage.setItem(sessionKey, json),
    JSON.stringify(machines), options.timeout ?? 10,
  ));
  return new Client(runtime, py);
}

/**
 * @typedef {object} Status
 * @property {"connecting"|"live"|"reconnecting"|"offline"} status
 * @property {number} unsaved          events sent and not yet confirmed, over all instances
 * @property {string|null} subject     who the server knows this client as
 */

/** One connection shared by all instance handles. Make it with `connect()`. */
export class Client {
  #runtime;
  #py;
  /** @type {Map<string, Promise<Instance>>} */
  #handles = new Map();

  /** @param {Runtime} runtime @param {any} py  the Python `Client` */
  constructor(runtime, py) {
    this.#runtime = runtime;
    this.#py = py;
  }

  /** @returns {Status} the connection status and the number of changes not yet saved */
  get status() {
    return JSON.parse(this.#runtime.bridge.status_json(this.#py));
  }

  /**
   * Call `fn(status)` now and whenever the status or the unsaved count changes.
   * @param {(status: Status) => void} fn
   * @returns {() => void} unsubscribe
   */
  onStatus(fn) {
    const off = this.#runtime.bridge.on_status(this.#py, (json) => fn(JSON.parse(json)));
    fn(this.status);
    return () => { off(); off.destroy(); };
  }

  /**
   * A live handle on an instance (shared when asked for twice).
   * @param {string} machine
   * @param {string} name
   * @param {{create?: any}} [options]  `create`: the input to create it with if missing
   * @returns {Promise<Instance>}
   */
  instance(machine, name, options = {}) {
    const key = JSON.stringify([machine, name]);
    if (!this.#handles.has(key)) {
      const create = options.create === undefined ? undefined : JSON.stringify(options.create);
      const forget = () => this.#handles.delete(key);
      const handle = settle(this.#runtime.bridge.instance(this.#py, machine, name, create))
        .then((py) => new Instance(this.#runtime, py, machine, name, forget));
      handle.catch(() => this.#handles.delete(key));
      this.#handles.set(key, handle);
    }
    return this.#handles.get(key);
  }

  /**
   * The user's own settings in `namespace` (saved on the server, no server code needed).
   * @param {string} namespace
   * @param {object} [defaults]  values used until the user changes them
   * @returns {Promise<Settings>}
   */
  async settings(namespace, defaults = {}) {
    const bridge = this.#runtime.bridge;
    const py = await settle(bridge.settings(this.#py, namespace, JSON.stringify(defaults)));
    const instance = new Instance(this.#runtime, py.instance, py.instance.machine, py.instance.name,
      () => {});
    return new Settings(this.#runtime, py, instance);
  }

  /** Close the connection and every handle. */
  async close() {
    await this.#runtime.bridge.close(this.#py);
    this.#handles.clear();
  }
}

/** A live instance: `state`, `subscribe`, `send`. Get one with `client.instance()`. */
export class Instance {
  #runtime;
  #py;
  /** @type {State} */
  #state;
  /** @type {Set<(state: State) => void>} */
  #listeners = new Set();
  #off;
  #forget;

  /**
   * @param {Runtime} runtime @param {any} py  the Python `Instance`
   * @param {string} machine @param {string} name @param {() => void} forget
   */
  constructor(runtime, py, machine, name, forget) {
    this.#runtime = runtime;
    this.#py = py;
    this.machine = machine;
    this.name = name;
    this.#forget = forget;
    this.#state = JSON.parse(runtime.bridge.state_json(py));
    this.#off = runtime.bridge.subscribe(py, (json) => {
      this.#state = JSON.parse(json);
      for (const fn of [...this.#listeners]) this.#call(fn);
    });
  }

  /** @returns {State} the visible state (confirmed, with pending events applied on top) */
  get state() {
    return this.#state;
  }

  /** @returns {object[]} events sent and not yet confirmed, oldest first */
  get pending() {
    return JSON.parse(this.#runtime.bridge.pending_json(this.#py));
  }

  /** @param {string|object} value  e.g. "a.b" or {a: "b"} */
  matches(value) {
    return this.#runtime.bridge.matches(this.#py, JSON.stringify(value));
  }

  /** @param {string} tag */
  hasTag(tag) {
    return this.#state.tags.includes(tag);
  }

  /**
   * Call `fn(state)` now and on every change of the visible state.
   * @param {(state: State) => void} fn
   * @returns {() => void} unsubscribe
   */
  subscribe(fn) {
    this.#listeners.add(fn);
    this.#call(fn);
    return () => this.#listeners.delete(fn);
  }

  /** @param {(state: State) => void} fn */
  #call(fn) {
    try {
      fn(this.#state);
    } catch (error) {
      reportError(error); // a failing listener must not starve the others
    }
  }

  /**
   * Send an event. When the machine runs in the page, subscribers see its effect before this
   * returns; the promise resolves with the event's seq once the server committed it, or
   * rejects with a `StatesyncError` (e.g. code "invalid-event") after the change was undone.
   * @param {{type: string} | string} event
   * @returns {Promise<number>}
   */
  send(event) {
    const message = typeof event === "string" ? { type: event } : event;
    return settle(this.#runtime.bridge.send(this.#py, "send", JSON.stringify([message])));
  }

  /** Stop syncing this instance. */
  async close() {
    this.#listeners.clear();
    this.#off();
    this.#off.destroy();
    this.#forget();
    await this.#runtime.bridge.close(this.#py);
  }
}

/** The user's settings in one namespace: stored values over the defaults. */
export class Settings {
  #runtime;
  #py;
  /** @type {State|undefined} */
  #seen;
  /** @type {object} */
  #values = {};

  /**
   * @param {Runtime} runtime @param {any} py  the Python `UserSettings`
   * @param {Instance} instance
   */
  constructor(runtime, py, instance) {
    this.#runtime = runtime;
    this.#py = py;
    /** the underlying instance of the built-in settings machine */
    this.instance = instance;
  }

  /** @returns {object} every setting (defaults overridden by what the user saved); the same
   * object until a setting changes */
  get values() {
    const state = this.instance.state;
    if (state !== this.#seen) {
      this.#seen = state;
      this.#values = JSON.parse(this.#runtime.bridge.values_json(this.#py));
    }
    return this.#values;
  }

  /** @returns {boolean} whether every change has been saved by the server */
  get saved() {
    return this.instance.state.pending === 0;
  }

  /**
   * Call `fn(values)` now and whenever a setting changes.
   * @param {(values: object) => void} fn
   * @returns {() => void} unsubscribe
   */
  subscribe(fn) {
    return this.instance.subscribe(() => fn(this.values));
  }

  /** @param {string} key @param {any} value @returns {Promise<number>} resolves once saved */
  set(key, value) {
    return this.#send("set", [key, value]);
  }

  /** @param {object} values @returns {Promise<number>} resolves once saved */
  update(values) {
    return this.#send("update", [values]);
  }

  /** Back to the defaults: the given keys, or all. @param {string[]} [keys] */
  reset(keys) {
    return this.#send("reset", keys === undefined ? [] : [keys]);
  }

  /** Stop syncing these settings. */
  close() {
    return this.instance.close();
  }

  /** @param {string} method @param {any[]} args */
  #send(method, args) {
    return settle(this.#runtime.bridge.send(this.#py, method, JSON.stringify(args)));
  }
}
