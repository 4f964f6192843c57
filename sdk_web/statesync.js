/**
 * statesync in the browser: the Python client runs in Pyodide, served by the statesync server.
 *
 *   import { connect } from "/statesync/sdk/statesync.js";
 *   const client = await connect({ token });            // or getToken, or neither: anonymous
 *   const todo = await client.instance("todo", "groceries", { create: { owner: "alice" } });
 *   todo.subscribe((state) => render(state));           // called now and on every change
 *   await todo.send({ type: "ADD", text: "milk" });     // shows at once; resolves on ack
 *
 * Pyodide boots in the background: until it is ready, handles show the state fetched over the
 * HTTP API and sends wait in a queue; then every handle is handed over to the Python client
 * (`await client.ready`). Everything (Pyodide, the statesync core, the app's machine module)
 * comes from the server's `/statesync/manifest.json`; nothing is fetched from a CDN.
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
const SETTINGS_MACHINE = "statesync.settings"; // the built-in machine (statesync/settings.py)
const NAMESPACE = /^[A-Za-z0-9_.:@-]{1,64}$/;
const SUBJECT = /^[A-Za-z0-9_.:@~-]{1,128}$/;
const SESSION_MARGIN = 60; // seconds: renew an anonymous session this long before it expires

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
 * One call to the server's HTTP API: its JSON answer, or a `StatesyncError` with the server's
 * code ("unavailable" when the server cannot be reached).
 * @param {string} method @param {string} url @param {string|undefined} token
 * @param {any} body  sent as JSON (`undefined`: none)
 * @param {number} timeout  seconds
 */
async function request(method, url, token, body, timeout) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeout * 1000),
    });
  } catch (error) {
    throw new StatesyncError("unavailable", `${method} ${url}: ${error.message}`);
  }
  const answer = await response.json().catch(() => undefined);
  if (response.ok && answer !== undefined) return answer;
  throw new StatesyncError(answer?.error?.code ?? "internal",
    answer?.error?.message ?? `${method} ${url}: HTTP ${response.status}`);
}

/**
 * The page's anonymous session, kept in localStorage in the format the Python client's
 * `AnonymousSession` saves (`{token, sub, exp}`): the saved one while it is valid for more
 * than a minute, else a new or renewed one from `POST /v1/session`.
 * @param {string} base @param {number} timeout
 * @returns {Promise<{token: string, sub: string, exp: number}>}
 */
async function anonymousSession(base, timeout) {
  const key = `statesync.session:${base}`;
  let saved;
  try {
    saved = JSON.parse(localStorage.getItem(key) ?? "null");
  } catch {
    saved = null; // not ours: replaced below
  }
  const now = Date.now() / 1000;
  if (saved?.token && saved.exp - now > SESSION_MARGIN) return saved;
  const renew = saved?.token && saved.exp > now ? saved.token : undefined;
  const session = await request("POST", `${base}/v1/session`, renew, undefined, timeout);
  localStorage.setItem(key, JSON.stringify(session));
  return session;
}

/**
 * The token for the HTTP phase and who it stands for: the given token (or `getToken()`'s)
 * checked by `GET /v1/session`, or an anonymous session.
 * @param {string} base @param {object} options  as for `connect()` @param {number} timeout
 * @returns {Promise<{token: string, subject: string, session?: object}>}
 */
async function authenticate(base, options, timeout) {
  if (options.token || options.getToken) {
    const token = options.token || String(await options.getToken());
    const { sub } = await request("GET", `${base}/v1/session`, token, undefined, timeout);
    return { token, subject: sub };
  }
  const session = await anonymousSession(base, timeout);
  return { token: session.token, subject: session.sub, session };
}

/**
 * `getToken` for the Python client: the token `connect()` already has, then `getToken()`.
 * @param {string} token @param {() => string|Promise<string>} getToken
 */
function firstThen(token, getToken) {
  let first = token;
  return () => {
    const answer = first ?? getToken();
    first = undefined;
    return answer;
  };
}

/**
 * The name of `subject`'s settings instance in `namespace`, as `statesync.settings`'
 * `settings_instance`: `namespace~subject`, or `namespace~h-<SHA-256 of subject>`.
 * @param {string} namespace @param {string} subject
 * @param {() => Promise<Runtime>} runtime  hashes in Python where `crypto.subtle` is missing
 *   (pages not served over HTTPS or from localhost)
 */
async function settingsInstance(namespace, subject, runtime) {
  if (!NAMESPACE.test(namespace)) {
    throw new StatesyncError("invalid-message",
      `a settings namespace is 1-64 of A-Z a-z 0-9 _ . : @ -: ${JSON.stringify(namespace)}`);
  }
  if (SUBJECT.test(subject)) return `${namespace}~${subject}`;
  if (!globalThis.crypto?.subtle) {
    const settings = (await runtime()).pyodide.pyimport("statesync.settings");
    try {
      return settings.settings_instance(namespace, subject);
    } finally {
      settings.destroy();
    }
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(subject));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0"));
  return `${namespace}~h-${hex.join("")}`;
}

/**
 * Whether state value `child` is `parent` or inside it, as XState's `matchesState`:
 * `matchesState("a.b", {a: {b: "c"}})` (a path or an object; a backslash escapes a dot).
 * @param {string|object} parent @param {string|object} child
 * @returns {boolean}
 */
export function matchesState(parent, child) {
  const [outer, inner] = [toStateValue(parent), toStateValue(child)];
  if (typeof inner === "string") return typeof outer === "string" && inner === outer;
  if (typeof outer === "string") return Object.hasOwn(inner, outer);
  return Object.entries(outer)
    .every(([key, sub]) => Object.hasOwn(inner, key) && matchesState(sub, inner[key]));
}

/** `"a.b.c"` -> `{a: {b: "c"}}`; objects as they are. @param {string|object} value */
function toStateValue(value) {
  if (typeof value !== "string") return value;
  const keys = [];
  let key = "";
  for (let i = 0; i < value.length; i++) {
    if (value[i] === "\\" && i + 1 < value.length) key += value[++i];
    else if (value[i] === ".") {
      keys.push(key);
      key = "";
    } else key += value[i];
  }
  return [...keys, key].reduceRight((inside, outer) => ({ [outer]: inside }));
}

/**
 * The built-in settings machine's actions (statesync/settings.py) on its context: how queued
 * settings changes show before the runtime is there to run the machine.
 * @param {{values: object}} context @param {object} event
 */
function applySetting(context, event) {
  switch (event.type) {
    case "SET":
      return { values: { ...context.values, [event.key]: event.value } };
    case "SET_MANY":
      return { values: { ...context.values, ...event.values } };
    case "RESET": {
      if (event.keys == null) return { values: {} };
      const kept = Object.entries(context.values).filter(([key]) => !event.keys.includes(key));
      return { values: Object.fromEntries(kept) };
    }
    default:
      return context;
  }
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

/** @param {any} error @returns {StatesyncError} */
function asStatesyncError(error) {
  if (error instanceof StatesyncError) return error;
  return new StatesyncError("unavailable", String(error?.message ?? error));
}

/**
 * Connect to a statesync server. Resolves once the token is known (and accepted), without
 * waiting for Pyodide: it boots in the background and `client.ready` tells when the Python
 * client has taken over.
 * @param {object} [options]
 * @param {string} [options.url]       the server's base URL (default: this page's origin)
 * @param {string} [options.token]     a JWT
 * @param {() => string|Promise<string>} [options.getToken]  asked now, then on every
 *   reconnect and before expiry; without `token` and `getToken` the page uses an anonymous
 *   session, kept in localStorage so a reload is the same user
 * @param {boolean|Object<string, string>} [options.machines]  optimistic machines: `true`
 *   (default) every one the server offers, `false` none, or `{name: "module:attribute"}`
 * @param {number} [options.timeout]   seconds to wait for each HTTP answer and for the Python
 *   client's first connection (default 10)
 * @returns {Promise<Client>}  rejects with a `StatesyncError`, e.g. code "unauthenticated"
 */
export async function connect(options = {}) {
  const base = new URL(options.url ?? location.origin, location.href).origin;
  const timeout = options.timeout ?? 10;
  const runtime = loadRuntime(base); // boots while the token is resolved and the state fetched
  runtime.catch(() => {}); // a failed boot is reported by `client.ready`
  const auth = await authenticate(base, options, timeout);
  return new Client({ base, timeout, options, runtime, ...auth });
}

/**
 * @typedef {object} Status
 * @property {"connecting"|"live"|"reconnecting"|"offline"} status  "connecting" until the
 *   Python client is live and every handle is handed over to it
 * @property {number} unsaved          events sent and not yet confirmed, over all instances
 *   (queued ones included)
 * @property {string|null} subject     who the server knows this client as
 */

/** One connection shared by all instance handles. Make it with `connect()`. */
export class Client {
  #base;
  #timeout;
  #token;
  #subject;
  /** @type {Promise<Runtime>} */
  #runtimeLoading;
  /** @type {Runtime|undefined} */
  #runtime;
  #py; // the Python `Client`, once the runtime is there
  #connected = false; // the Python client is live: new handles come from it directly
  #live = false; // ...and every earlier handle has been handed over to it
  #closed = false;
  /** @type {StatesyncError|undefined} why there will be no handover */
  #failed;
  #rejectReady;
  #offStatus;
  /** @type {Map<string, Promise<Instance>>} */
  #handles = new Map();
  /** @type {Set<Instance>} handles still showing the HTTP state, their sends queued */
  #interim = new Set();
  /** @type {Set<(status: Status) => void>} */
  #listeners = new Set();
  #reported = "";

  /** @param {{base: string, timeout: number, options: object, runtime: Promise<Runtime>,
   *   token: string, subject: string, session?: object}} setup  see `connect()` */
  constructor(setup) {
    this.#base = setup.base;
    this.#timeout = setup.timeout;
    this.#token = setup.token;
    this.#subject = setup.subject;
    this.#runtimeLoading = setup.runtime;
    /**
     * Resolves once the Python client is live and has taken over every handle asked for so
     * far (sends are then applied locally at once); rejects with a `StatesyncError` when the
     * runtime cannot boot, the connection cannot be made, or the client was closed first.
     * @type {Promise<void>}
     */
    this.ready = new Promise((resolve, reject) => {
      this.#rejectReady = reject;
      this.#handOver(setup).then(resolve, (error) => this.#fail(asStatesyncError(error)));
    });
    this.ready.catch(() => {}); // awaiting it is optional
  }

  /** Boot, connect the Python client, hand every handle over to it. @param {object} setup */
  async #handOver({ options, token, session }) {
    const runtime = await this.#runtimeLoading;
    if (this.#closed) throw new StatesyncError("closed", "the client was closed");
    const { bridge } = runtime;
    const machines = options.machines === false ? {}
      : options.machines === true || options.machines === undefined ? runtime.manifest.machines
        : options.machines;
    this.#runtime = runtime;
    this.#py = bridge.make_client(
      // Absent values go as `undefined` (Python None); `null` would arrive as JsNull.
      this.#base, options.token || undefined,
      options.getToken && !options.token ? firstThen(token, options.getToken) : undefined,
      session ? JSON.stringify(session) : undefined,
      (json) => localStorage.setItem(`statesync.session:${this.#base}`, json),
      JSON.stringify(machines),
    );
    this.#offStatus = bridge.on_status(this.#py, () => this.#changed());
    await settle(bridge.connect(this.#py, this.#timeout));
    this.#connected = true;
    const earlier = await Promise.allSettled([...this.#handles.values()]);
    await Promise.all(earlier.map((h) => h.status === "fulfilled" && this.#adopt(h.value)));
    if (this.#closed) throw new StatesyncError("closed", "the client was closed");
    this.#live = true;
    performance.mark("statesync:live"); // bench/browser.py: page load -> optimistic ready
    this.#changed();
  }

  /**
   * Switch a handle that shows the HTTP state to its Python twin (subscribed on the live
   * connection), its queued sends going first.
   * @param {Instance} instance
   */
  async #adopt(instance) {
    if (!this.#interim.has(instance)) return;
    const { bridge } = this.#runtime;
    let py;
    try {
      py = await settle(bridge.instance(this.#py, instance.machine, instance.name, undefined));
    } catch (error) { // e.g. forbidden by now: asking again asks the server again
      this.#interim.delete(instance);
      this.#handles.delete(JSON.stringify([instance.machine, instance.name]));
      instance[END](error);
      return;
    }
    if (!this.#interim.delete(instance)) {
      await bridge.close(py); // closed meanwhile
      return;
    }
    instance[ATTACH](this.#runtime, py);
  }

  /**
   * No handover: waiting handles keep the server's state, their sends fail.
   * @param {StatesyncError} error
   */
  #fail(error) {
    this.#failed ??= error;
    this.#rejectReady(error);
    for (const instance of this.#interim) instance[END](error);
    this.#interim.clear();
    this.#changed();
  }

  /** @returns {Status} the connection status and the number of changes not yet saved */
  get status() {
    const bridge = this.#runtime?.bridge;
    if (this.#live) return JSON.parse(bridge.status_json(this.#py));
    let unsaved = this.#py ? JSON.parse(bridge.status_json(this.#py)).unsaved : 0;
    for (const instance of this.#interim) unsaved += instance.state.pending;
    const status = this.#failed ? "offline" : "connecting";
    return { status, unsaved, subject: this.#subject };
  }

  /**
   * Call `fn(status)` now and whenever the status or the unsaved count changes.
   * @param {(status: Status) => void} fn
   * @returns {() => void} unsubscribe
   */
  onStatus(fn) {
    this.#listeners.add(fn);
    fn(this.status);
    return () => this.#listeners.delete(fn);
  }

  #changed() {
    const status = this.status;
    const now = `${status.status} ${status.unsaved}`;
    if (now === this.#reported) return;
    this.#reported = now;
    for (const fn of [...this.#listeners]) {
      try {
        fn(status);
      } catch (error) {
        reportError(error);
      }
    }
  }

  /**
   * A live handle on an instance (shared when asked for twice). Until the Python client is
   * live it holds the state fetched over HTTP (`GET`, or get-or-create with `create`).
   * @param {string} machine
   * @param {string} name
   * @param {{create?: any}} [options]  `create`: the input to create it with if missing
   * @returns {Promise<Instance>}  rejects with a `StatesyncError` ("not-found", "forbidden"...)
   */
  instance(machine, name, options = {}) {
    if (this.#failed) return Promise.reject(this.#failed);
    const key = JSON.stringify([machine, name]);
    if (!this.#handles.has(key)) {
      const forget = () => this.#handles.delete(key);
      const handle = this.#open(machine, name, options.create ?? undefined, forget);
      handle.catch(forget);
      this.#handles.set(key, handle);
    }
    return this.#handles.get(key);
  }

  /** @param {string} machine @param {string} name @param {any} create @param {() => void} forget */
  async #open(machine, name, create, forget) {
    const hooks = {
      changed: () => this.#changed(),
      forget: (instance) => {
        forget();
        if (this.#interim.delete(instance)) this.#changed();
      },
    };
    if (this.#connected) {
      const { bridge } = this.#runtime;
      const py = await settle(bridge.instance(this.#py, machine, name,
        create === undefined ? undefined : JSON.stringify(create)));
      const instance = new Instance(machine, name, JSON.parse(bridge.state_json(py)), hooks);
      instance[ATTACH](this.#runtime, py);
      return instance;
    }
    const url = `${this.#base}/v1/instances/${[machine, name].map(encodeURIComponent).join("/")}`;
    const answer = create === undefined
      ? await request("GET", url, this.#token, undefined, this.#timeout)
      : await request("POST", url, this.#token, { input: create, if_exists: "get" }, this.#timeout);
    if (this.#failed) throw this.#failed;
    const { value, tags, context, status, done, seq } = answer; // the order of Python's to_dict
    const instance = new Instance(machine, name,
      { value, tags, context, status, done, seq, pending: 0 }, hooks);
    this.#interim.add(instance);
    return instance;
  }

  /**
   * The user's own settings in `namespace` (saved on the server, no server code needed).
   * @param {string} namespace
   * @param {object} [defaults]  values used until the user changes them
   * @returns {Promise<Settings>}
   */
  async settings(namespace, defaults = {}) {
    const name = await settingsInstance(namespace, this.#subject, () => this.#runtimeLoading);
    return new Settings(await this.instance(SETTINGS_MACHINE, name, { create: {} }), defaults);
  }

  /** Close the connection and every handle (also while Pyodide is still booting). */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(new StatesyncError("closed", "the client was closed"));
    this.#handles.clear();
    if (this.#py) {
      await this.#runtime.bridge.close(this.#py);
      this.#offStatus();
      this.#offStatus.destroy();
    }
  }
}

// Called by the client only (not exported).
const ATTACH = Symbol("attach");
const END = Symbol("end");

/** A live instance: `state`, `subscribe`, `send`. Get one with `client.instance()`. */
export class Instance {
  #hooks;
  /** @type {Runtime|undefined} */
  #runtime;
  #py; // the Python `Instance`, once handed over
  #off;
  /** @type {State} */
  #state;
  /** @type {State} the server's state, while not handed over */
  #confirmed;
  /** @type {{event: object, resolve: (seq: number) => void, reject: (e: Error) => void}[]} */
  #queue = [];
  /** @type {StatesyncError|undefined} why sends fail (closed, or no handover) */
  #ended;
  #closed = false;
  /** @type {Set<(state: State) => void>} */
  #listeners = new Set();

  /**
   * @param {string} machine @param {string} name @param {State} state
   * @param {{changed: () => void, forget: (instance: Instance) => void}} hooks  the client's
   */
  constructor(machine, name, state, hooks) {
    this.machine = machine;
    this.name = name;
    this.#state = this.#confirmed = state;
    this.#hooks = hooks;
  }

  /**
   * Hand over to the Python instance `py`: queued sends go to it in order, then its state
   * (shown if it differs) and its changes.
   * @param {Runtime} runtime @param {any} py
   */
  [ATTACH](runtime, py) {
    const { bridge } = runtime;
    this.#runtime = runtime;
    this.#py = py;
    for (const { event, resolve, reject } of this.#queue.splice(0)) {
      settle(bridge.send(py, JSON.stringify(event))).then(resolve, reject);
    }
    this.#off = bridge.subscribe(py, (json) => this.#show(JSON.parse(json)));
    const state = JSON.parse(bridge.state_json(py));
    if (JSON.stringify(state) !== JSON.stringify(this.#state)) this.#show(state);
  }

  /** No more sends: queued ones fail with `error` (their local effect is undone). */
  [END](error) {
    this.#ended ??= error;
    for (const { reject } of this.#queue.splice(0)) reject(error);
    if (!this.#py) this.#showQueued();
  }

  /** @returns {State} the visible state (confirmed, with pending events applied on top) */
  get state() {
    return this.#state;
  }

  /** @returns {object[]} events sent and not yet confirmed, oldest first */
  get pending() {
    if (this.#py) return JSON.parse(this.#runtime.bridge.pending_json(this.#py));
    return this.#queue.map(({ event }) => event);
  }

  /** @param {string|object} value  e.g. "a.b" or {a: "b"} */
  matches(value) {
    return matchesState(value, this.#state.value);
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

  /** Show `state` to the listeners, unless it is older than what they saw. @param {State} state */
  #show(state) {
    if (state.seq < this.#state.seq) return;
    this.#state = state;
    for (const fn of [...this.#listeners]) this.#call(fn);
  }

  /** Before the handover: the server's state, queued settings changes applied, counted. */
  #showQueued() {
    const events = this.#queue.map(({ event }) => event);
    const confirmed = this.#confirmed;
    const context = this.machine === SETTINGS_MACHINE
      ? events.reduce(applySetting, confirmed.context) : confirmed.context;
    if (context === this.#state.context && events.length === this.#state.pending) return;
    this.#show({ ...confirmed, context, pending: events.length });
    this.#hooks.changed();
  }

  /**
   * Send an event. When the machine runs in the page, subscribers see its effect before this
   * returns; the promise resolves with the event's seq once the server committed it, or
   * rejects with a `StatesyncError` (e.g. code "invalid-event") after the change was undone.
   * Before the handover the event waits in a queue (counted in `state.pending`; only the
   * built-in settings machine's changes show at once) and is sent, in order, by the Python
   * client once it is live.
   * @param {{type: string} | string} event
   * @returns {Promise<number>}
   */
  send(event) {
    const message = typeof event === "string" ? { type: event } : event;
    if (this.#ended) return Promise.reject(this.#ended);
    if (this.#py) return settle(this.#runtime.bridge.send(this.#py, JSON.stringify(message)));
    if (typeof message?.type !== "string") {
      return Promise.reject(new StatesyncError("invalid-event",
        `an event must be an object with a string "type", got ${JSON.stringify(message)}`));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ event: JSON.parse(JSON.stringify(message)), resolve, reject });
      this.#showQueued();
    });
  }

  /** Stop syncing this instance (unconfirmed sends fail with code "closed"). */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this[END](new StatesyncError("closed", `${this.machine}/${this.name} was closed`));
    this.#hooks.forget(this);
    if (this.#py) {
      this.#off();
      this.#off.destroy();
      await this.#runtime.bridge.close(this.#py);
    }
  }
}

/** The user's settings in one namespace: stored values over the defaults. */
export class Settings {
  #defaults;
  /** @type {State|undefined} */
  #seen;
  /** @type {object} */
  #values = {};

  /** @param {Instance} instance @param {object} defaults */
  constructor(instance, defaults) {
    /** the underlying instance of the built-in settings machine */
    this.instance = instance;
    this.#defaults = { ...defaults };
  }

  /** @returns {object} every setting (defaults overridden by what the user saved); the same
   * object until a setting changes */
  get values() {
    const state = this.instance.state;
    if (state !== this.#seen) {
      this.#seen = state;
      this.#values = { ...this.#defaults, ...state.context.values };
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
    return this.instance.send({ type: "SET", key, value });
  }

  /** @param {object} values @returns {Promise<number>} resolves once saved */
  update(values) {
    return this.instance.send({ type: "SET_MANY", values: { ...values } });
  }

  /** Back to the defaults: the given keys, or all. @param {string[]} [keys] */
  reset(keys) {
    const event = { type: "RESET" };
    if (keys !== undefined) event.keys = [...keys];
    return this.instance.send(event);
  }

  /** Stop syncing these settings. */
  close() {
    return this.instance.close();
  }
}
