/**
 * statesync in the browser: the Python client runs in Pyodide in a worker (worker.js; shared by
 * the tabs of an origin where SharedWorker exists), served by the statesync server. This
 * module, on the page's main thread, holds plain JS state and talks to it over a port.
 *
 *   import { connect } from "/statesync/sdk/statesync.js";
 *   const client = await connect({ token });            // or getToken, or neither: anonymous
 *   const todo = await client.instance("todo", "groceries", { create: { owner: "alice" } });
 *   todo.subscribe((state) => render(state));           // called now and on every change
 *   await todo.send({ type: "ADD", text: "milk" });     // shows a message later; resolves on ack
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
 * An instance as the worker pushes it (one JSON text per change).
 * @typedef {object} View
 * @property {State} state       the worker's visible state
 * @property {object[]} pending  its events not yet confirmed
 * @property {string[]|null} events  event descriptors the machine accepts now (null: it does
 *   not run in the browser)
 * @property {object} status  the worker's client's status
 */

/**
 * @typedef {object} Manifest
 * @property {string} pyodide        Pyodide's indexURL
 * @property {string} core           URL of the statesync core archive (zip)
 * @property {{name: string, url: string}[]} modules   the app's machine modules
 * @property {Object<string, string>} machines          registered name -> "module:attribute"
 */
import { Channel } from "./channel.js";
import { DirectFeed } from "./direct.js";
import { StatesyncError, fetchFailure } from "./errors.js";
import { Outbox } from "./outbox.js";
import { claimedSubject, eventId, retryDelay, sleep, unreachable } from "./retry.js";

const SETTINGS_MACHINE = "statesync.settings"; // the built-in machine (statesync/settings.py)
const NAMESPACE = /^[A-Za-z0-9_.:@-]{1,64}$/;
const SUBJECT = /^[A-Za-z0-9_.:@-]{1,128}$/; // as statesync.settings: no `~`
const SESSION_MARGIN = 60; // seconds: renew an anonymous session this long before it expires
// Sends over HTTP before the handover: answers that leave it unknown whether the server got
// the event; it is posted again (same id) after a pause (`retryDelay`).
const RETRIED = new Set(["unavailable", "rate-limited"]);

/**
 * A send not yet confirmed (`Instance`): the event, its JSON, its id, and its promise's
 * settlement; `n` once posted to the worker.
 * @typedef {{event: object, json: string, id: string, n?: number,
 *   resolve: (seq: number) => void, reject: (e: Error) => void}} Unsent
 */

export { StatesyncError };

/**
 * The worker's answer to `loadRuntime()`.
 * @typedef {object} RuntimeInfo
 * @property {"shared"|"dedicated"} worker  a SharedWorker (one runtime for every tab of this
 *   origin) or a dedicated Worker (where there is no SharedWorker)
 * @property {"micropython"|"pyodide"} runtime  the one booted for the page's machines
 * @property {Object<string, string>} machines  where each machine runs: "micropython" or
 *   "pyodide" (optimistic), else why it runs on the server only (no runtime for it)
 * @property {number} boots        runtimes this worker has booted
 * @property {number} connections  Python clients (WebSockets) open in this worker
 * @property {number} downloaded   bytes this worker fetched over the network (HTTP cache
 *   hits count 0; the runtime is served under content-hashed URLs, cached for good)
 * @property {{pyodide: number, core: number, warmUp: number,
 *   snapshot: "restored"|"saved"|"discarded"|"none"}} timings  ms: Pyodide's start (fetch +
 *   `loadPyodide`), then installing the core and the machine modules, then the warm-up after
 *   a restored snapshot; `snapshot`: how the runtime booted (README: warm boots)
 */

/**
 * @typedef {object} Progress  where Pyodide's boot is, as `Status` reports it
 * @property {"http"|"loading-runtime"|"loading-packages"|"connecting"|"live"} phase
 * @property {number} [loaded]   bytes of the runtime loaded so far
 * @property {number} [total]    bytes to load (when the server says)
 */

/** @type {Channel|undefined} */
let worker;
/** @type {Map<string, Progress>} base -> the runtime's boot, as the worker reports it */
const progress = new Map();
/** @type {Map<number, Client>} */
const clients = new Map();
/** @type {Map<number, Instance>} handles the worker knows, by id */
const instances = new Map();
/** @type {Map<number, LiveQuery>} live queries the worker knows, by id */
const queries = new Map();
let ids = 0;
let measured = false;

/**
 * The channel to the statesync worker, started on first use: a SharedWorker where the page
 * has one and Web Locks (the worker learns from a lock that the page is gone), else a
 * dedicated Worker (also for an SDK loaded from another origin).
 * @returns {Channel}
 */
function channel() {
  if (worker) return worker;
  // URL and options written inline: the form bundlers (e.g. Vite) find and rewrite.
  let port;
  if (new URL(import.meta.url).origin !== location.origin) {
    const url = new URL("./worker.js", import.meta.url).href;
    const script = new Blob([`import ${JSON.stringify(url)};`], { type: "text/javascript" });
    port = new Worker(URL.createObjectURL(script), { type: "module", name: "statesync" });
  } else if (typeof SharedWorker === "function" && navigator.locks) {
    // extendedLifetime: the worker, its runtime booted, outlives the page a while (Chromium
    // 139+; ignored elsewhere), so a reload or the next page of the site finds it there.
    port = new SharedWorker(new URL("./worker.js", import.meta.url),
      { type: "module", name: "statesync", extendedLifetime: true }).port;
  } else {
    port = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "statesync" });
  }
  worker = new Channel(port, fromWorker);
  if (port instanceof MessagePort) {
    const lock = `statesync-tab:${Date.now()}:${Math.random()}`;
    navigator.locks.request(lock, () => {
      worker.notify("hello", { lock });
      return new Promise(() => {}); // held until the page is gone
    });
  }
  return worker;
}

// Loaded from a statesync server: its worker starts now and boots the light runtime while the
// page goes on loading (a page can import this module early, e.g. from its <head>, for that).
if (new URL(import.meta.url).pathname.includes("/statesync/sdk/")) channel();

/** What the worker pushes or asks. @param {string} op @param {any} args */
function fromWorker(op, args) {
  switch (op) {
    case "progress":
      progress.set(args.base, { phase: args.phase, loaded: args.loaded, total: args.total });
      for (const client of clients.values()) client[CHANGED]();
      return undefined;
    case "state": // the views of one instance in this tab: [hid, sent] pairs
      for (const [hid, sent] of args.refs) instances.get(hid)?.[RECEIVE](args.view, sent);
      return undefined;
    case "emitted":
      return instances.get(args.hid)?.[EMITTED](JSON.parse(args.event));
    case "query":
      return queries.get(args.wid)?.[APPLY](args.changes);
    case "query-end":
      return queries.get(args.wid)?.[END](new StatesyncError(args.code, args.message));
    case "status":
      return clients.get(args.cid)?.[RECEIVE](args.status);
    case "session":
      return localStorage.setItem(`statesync.session:${args.base}`, args.json);
    case "token":
      return clients.get(args.cid)?.[TOKEN]();
    default:
      return undefined;
  }
}

/** A worker call; rejects with a `StatesyncError`. @param {string} op @param {any} args */
async function call(op, args) {
  try {
    return await channel().call(op, args);
  } catch (error) {
    throw new StatesyncError(error.code ?? "unavailable", error.message ?? String(error),
      error.fields);
  }
}

/**
 * The statesync server this SDK was loaded from (it serves it under `/statesync/sdk/`), else
 * this page's origin (a bundled SDK: give `connect()` and `loadRuntime()` the `url`).
 */
function defaultServer() {
  const sdk = new URL(import.meta.url);
  return sdk.pathname.includes("/statesync/sdk/") ? sdk.origin : location.origin;
}

/**
 * Boot the Python runtime with the statesync core and the app's machine modules in the
 * worker (once per server, runtime and worker: a second tab finds it booted): MicroPython
 * when every machine the page runs can run there (the server says), else Pyodide.
 * @param {string} [url] the server's base URL (default: the server this SDK was loaded
 *   from, else this page's origin)
 * @param {{machines?: boolean|Object<string, string>}} [options]  the machines the page
 *   runs, as for `connect()`
 * @returns {Promise<RuntimeInfo>}
 */
export async function loadRuntime(url = defaultServer(), options = {}) {
  const base = new URL(url, location.href).origin;
  const info = await call("boot", { base, machines: options.machines });
  if (!measured) { // visible in DevTools' performance panel; bench/browser.py reads them
    measured = true;
    const start = Math.max(0, info.timings.timeOrigin + info.timings.started - performance.timeOrigin);
    performance.measure("statesync:pyodide", { start, duration: info.timings.pyodide });
    performance.measure("statesync:core", { start: start + info.timings.pyodide,
      duration: info.timings.core });
    if (info.timings.warmUp) {
      performance.measure("statesync:warm-up", {
        start: start + info.timings.pyodide + info.timings.core, duration: info.timings.warmUp });
    }
  }
  const { timeOrigin, started, ...timings } = info.timings;
  return { ...info, timings };
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
  for (let attempt = 0; !response; attempt++) {
    try {
      response = await fetch(url, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeout * 1000),
      });
    } catch (error) {
      const failure = await fetchFailure(method, url, error);
      // "cors" only if it fails so again: the server may just have come back meanwhile
      if (failure.code !== "cors" || attempt) throw failure;
    }
  }
  const answer = await response.json().catch(() => undefined);
  if (response.ok && answer !== undefined) return answer;
  throw new StatesyncError(answer?.error?.code ?? "internal",
    answer?.error?.message ?? `${method} ${url}: HTTP ${response.status}`, answer?.error?.fields);
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
  for (let attempt = 0; ; attempt++) {
    try {
      const session = await request("POST", `${base}/v1/session`, renew, undefined, timeout);
      localStorage.setItem(key, JSON.stringify(session));
      return session;
    } catch (error) {
      if (!unreachable(error)) throw error;
      if (saved?.token && saved?.sub) return { ...saved, offline: true }; // renewed once live
      await sleep(retryDelay(attempt)); // no session yet: nothing to show without one
    }
  }
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
    try {
      const { sub } = await request("GET", `${base}/v1/session`, token, undefined, timeout);
      return { token, subject: sub };
    } catch (error) {
      // Offline: the token's own claim picks the user's saved data; the server checks it at
      // the handover.
      const subject = unreachable(error) ? claimedSubject(token) : undefined;
      if (subject === undefined) throw error;
      return { token, subject, offline: true };
    }
  }
  const { offline, ...session } = await anonymousSession(base, timeout);
  return { token: session.token, subject: session.sub, session, offline: Boolean(offline) };
}

/**
 * The name of `subject`'s settings instance in `namespace`, as `statesync.settings`'
 * `settings_instance`: `namespace~subject`, or `namespace~h-<SHA-256 of subject>` (for a
 * subject not usable in a name, or starting with `h-`, so that no two subjects collide).
 * @param {string} namespace @param {string} subject
 * @param {string} base  the server whose runtime hashes it where `crypto.subtle` is missing
 *   (pages not served over HTTPS or from localhost)
 */
async function settingsInstance(namespace, subject, base) {
  if (!NAMESPACE.test(namespace)) {
    throw new StatesyncError("invalid-message",
      `a settings namespace is 1-64 of A-Z a-z 0-9 _ . : @ -: ${JSON.stringify(namespace)}`);
  }
  if (SUBJECT.test(subject) && !subject.startsWith("h-")) return `${namespace}~${subject}`;
  if (!globalThis.crypto?.subtle) return call("settingsName", { base, namespace, subject });
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

/**
 * XState's event descriptor matching (statesync/definition.py): exact, `*`, or `prefix.*`
 * (which also matches `prefix`).
 * @param {string} type @param {string} descriptor
 */
function matchesDescriptor(type, descriptor) {
  if (descriptor === type || descriptor === "*") return true;
  if (!descriptor.endsWith(".*")) return false;
  const prefix = descriptor.slice(0, -2);
  return type === prefix || type.startsWith(`${prefix}.`);
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
 * One instance in query results: its public state and the index value it matched (`key`;
 * null when the reader may not see it).
 * @typedef {State & {machine: string, instance: string, key: any}} Item
 */

/**
 * What changed in a live query: `instance` entered its set, left it (`item` null) or changed.
 * @typedef {{kind: "enter"|"leave"|"update", instance: string, item: Item|null}} Change
 */

/**
 * @typedef {object} Query  an index query, as `Client.query` / `Client.watch` take it
 * @property {string} machine
 * @property {string} index
 * @property {"eq"|"ne"|"lt"|"lte"|"gt"|"gte"|"prefix"} op
 * @property {string|number|boolean} value
 * @property {"asc"|"desc"} order
 * @property {number} limit   items per page (1-1000)
 */

/**
 * @param {string} machine @param {string} index @param {string|undefined} op @param {any} value
 * @param {{order?: "asc"|"desc", limit?: number}} options
 * @returns {Query}
 */
function querySpec(machine, index, op, value, { order = "asc", limit = 50 }) {
  if (value === undefined || value === null) {
    throw new StatesyncError("invalid-message", "a query needs a value (a string, number or boolean)");
  }
  return { machine, index, op: op ?? "eq", value, order, limit };
}

/** A `results` item from the HTTP API, in the shape of the Python client's. @returns {Item} */
function toItem({ machine, instance, key, value, tags, context, status, done, seq }) {
  return { machine, instance, key: key ?? null, value, tags, context, status, done, seq, pending: 0 };
}

/**
 * A live query's order (`LiveQuery.items` in statesync/client/queries.py): by index value
 * (booleans, numbers, strings), ties by instance name; items with a hidden `key` last.
 * @param {"asc"|"desc"} order @returns {(a: Item, b: Item) => number}
 */
function itemOrder(order) {
  const rank = (key) => (typeof key === "boolean" ? 0 : typeof key === "number" ? 1 : 2);
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const sign = order === "desc" ? -1 : 1;
  return (a, b) => {
    if ((a.key === null) !== (b.key === null)) return a.key === null ? 1 : -1;
    if (a.key === null) return sign * cmp(a.instance, b.instance);
    return sign * (rank(a.key) - rank(b.key) || cmp(a.key, b.key) || cmp(a.instance, b.instance));
  };
}

/** @param {Item[]} items @param {"asc"|"desc"} order @returns {Item[]} a sorted copy */
function sortItems(items, order) {
  return [...items].sort(itemOrder(order));
}

/**
 * Where `item` goes in `items` (sorted by `compare`, without it): after every item before it.
 * @param {Item[]} items @param {Item} item @param {(a: Item, b: Item) => number} compare
 */
function insertionPoint(items, item, compare) {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compare(items[middle], item) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * `value` as JSON with every object's keys sorted: the same text for equal values, whatever
 * their keys' order (the light runtime's dicts keep none; the server's JSON keeps Python's).
 * @param {any} value @returns {string}
 */
function canonicalJson(value) {
  return JSON.stringify(value, (_key, v) => (v && typeof v === "object" && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}

/** What changed from `before` to `after` (by instance). @param {Item[]} before @param {Item[]} after */
function diffItems(before, after) {
  const old = new Map(before.map((item) => [item.instance, canonicalJson(item)]));
  const names = new Set(after.map((item) => item.instance));
  /** @type {Change[]} */
  const changes = before.filter((item) => !names.has(item.instance))
    .map(({ instance }) => ({ kind: "leave", instance, item: null }));
  for (const item of after) {
    const was = old.get(item.instance);
    if (was === undefined) changes.push({ kind: "enter", instance: item.instance, item });
    else if (was !== canonicalJson(item)) changes.push({ kind: "update", instance: item.instance, item });
  }
  return changes;
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

/** @param {any} error @returns {StatesyncError} */
function asStatesyncError(error) {
  if (error instanceof StatesyncError) return error;
  return new StatesyncError("unavailable", String(error?.message ?? error));
}

/**
 * Connect to a statesync server. Resolves once the token is known (and accepted), without
 * waiting for Pyodide: it boots in the background, in a worker, and `client.ready` tells when
 * the Python client has taken over.
 * @param {object} [options]
 * @param {string} [options.url]       the server's base URL (default: the server this SDK was
 *   loaded from, else this page's origin)
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
  const base = new URL(options.url ?? defaultServer(), location.href).origin;
  const timeout = options.timeout ?? 10;
  // boots while the token is resolved and the state fetched
  const runtime = loadRuntime(base, { machines: options.machines });
  runtime.catch(() => {}); // a failed boot is retried by the client
  const auth = await authenticate(base, options, timeout);
  const outbox = await Outbox.open(base, auth.subject);
  const unsent = (await outbox?.unsent()) ?? [];
  return new Client({ base, timeout, options, runtime, ...auth, outbox, unsent });
}

/**
 * @typedef {object} Status
 * @property {"connecting"|"live"|"reconnecting"|"offline"|"direct"} status  "connecting"
 *   until the Python client is live and every handle is handed over to it; "direct" when
 *   it cannot be (the runtime or its connection failed: `error` says why): handles keep
 *   sending over HTTP (confirmed, not optimistic) and show others' changes from the page's
 *   own socket
 * @property {number} unsaved          events sent and not yet confirmed, over all instances
 *   (queued ones included)
 * @property {string|null} subject     who the server knows this client as
 * @property {Progress["phase"]|"direct"} phase  the boot: "http" (state over HTTP), "loading-runtime"
 *   (Pyodide downloading and starting), "loading-packages" (the core and machine modules),
 *   "connecting" (the Python client's WebSocket), "live" (handed over)
 * @property {number} [loaded]         runtime bytes loaded so far (while loading)
 * @property {number} [total]          runtime bytes in all (while loading, when known)
 * @property {{code: string, message: string}} [error]  why the page works server-direct
 */

// Called by the module only (not exported).
const ATTACH = Symbol("attach");
const APPLY = Symbol("apply");
const END = Symbol("end");
const RECEIVE = Symbol("receive");
const EMITTED = Symbol("emitted");
const CHANGED = Symbol("changed");
const TOKEN = Symbol("token");
const UNSENT = Symbol("unsent");
const RESTORE = Symbol("restore");
const FETCHED = Symbol("fetched");
const FOLLOWER = Symbol("follower");
/** Codes of failed sends that stay in the outbox (sent again by the next page): the event was
 * not refused by the server, only not delivered. */
const KEPT = new Set(["closed", "unavailable", "unauthenticated", "rate-limited"]);

/** One connection shared by all instance handles. Make it with `connect()`. */
export class Client {
  #id = ++ids;
  #base;
  #timeout;
  #token;
  #subject;
  #getToken;
  /** @type {Promise<RuntimeInfo>} */
  #runtimeLoading;
  #booted = false;
  #connected = false; // the worker's Python client is live: new handles come from it directly
  #live = false; // ...and every earlier handle has been handed over to it
  #closed = false;
  /** @type {StatesyncError|undefined} why there will be no handover */
  #failed;
  #rejectReady;
  /** @type {{status: string, unsaved: number, subject: string|null}|undefined} the worker's */
  #remote;
  /** @type {Map<string, Promise<Instance>>} */
  #handles = new Map();
  /** @type {Set<Instance>} open handles */
  #open = new Set();
  /** @type {Set<Instance>} handles still showing the HTTP state, their sends queued */
  #interim = new Set();
  /** @type {Set<LiveQuery>} open live queries */
  #queries = new Set();
  /** @type {Set<Promise<LiveQuery>>} live queries reading their items over HTTP */
  #watching = new Set();
  /** @type {Set<LiveQuery>} live queries showing the items read over HTTP */
  #interimQueries = new Set();
  /** @type {Set<(status: Status) => void>} */
  #listeners = new Set();
  #reported = "";
  /** @type {Outbox|undefined} this user's saved sends and states (IndexedDB) */
  #outbox;
  /** @type {Map<string, {id: string, event: object}[]>} saved sends of an earlier page, by
   * instance, until its handle takes them */
  #restored = new Map();
  #offline = false; // the server could not be reached (before the handover)
  /** @type {Map<string, State>} instances as HTTP queries returned them, by [machine, name]
   * JSON: opening one of them before the handover needs no request */
  #seen = new Map();
  #anonymous = false; // an anonymous session (kept in localStorage)
  /** @type {DirectFeed|undefined} the page's own socket: others' changes until the handover,
   * or for good when working server-direct */
  #feed;

  /** @param {{base: string, timeout: number, options: object, runtime: Promise<RuntimeInfo>,
   *   token: string, subject: string, session?: object, offline?: boolean,
   *   outbox?: Outbox, unsent: object[]}} setup  see `connect()` */
  constructor(setup) {
    this.#base = setup.base;
    this.#timeout = setup.timeout;
    this.#token = setup.token;
    this.#subject = setup.subject;
    this.#getToken = setup.options.getToken;
    this.#runtimeLoading = setup.runtime;
    this.#outbox = setup.outbox;
    this.#offline = Boolean(setup.offline);
    this.#anonymous = Boolean(setup.session);
    for (const saved of setup.unsent) {
      const key = JSON.stringify([saved.machine, saved.name]);
      if (!this.#restored.has(key)) this.#restored.set(key, []);
      this.#restored.get(key).push(saved);
    }
    clients.set(this.#id, this);
    /**
     * Resolves once the Python client is live and has taken over every handle asked for so
     * far (sends are then applied at once in the worker); rejects with a `StatesyncError`
     * when the runtime cannot boot, the connection cannot be made, or the client was closed
     * first.
     * @type {Promise<void>}
     */
    this.ready = new Promise((resolve, reject) => {
      this.#rejectReady = reject;
      this.#handOver(setup).then(resolve, (error) => this.#fail(asStatesyncError(error)));
    });
    this.ready.catch(() => {}); // awaiting it is optional
    // An earlier page's unsent events are sent again (same ids), whether or not this page
    // opens their instances.
    for (const [{ machine, name }] of this.#restored.values()) {
      this.instance(machine, name).catch(() => {}); // kept for a later instance(..., {create})
    }
  }

  /**
   * Boot, connect the Python client, hand every handle over to it; while the server cannot
   * be reached, again and again (backoff with jitter, forever), the status saying "offline".
   * @param {object} setup
   */
  async #handOver(setup) {
    let runtime = this.#runtimeLoading;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#handOverOnce(setup, runtime, attempt);
        return;
      } catch (error) {
        if (this.#closed || !unreachable(error)) throw error;
        this.#setOffline(true);
        await sleep(retryDelay(attempt));
        if (this.#closed) throw new StatesyncError("closed", "the client was closed");
        // a failed boot is tried again by the worker
        runtime = loadRuntime(this.#base, { machines: setup.options.machines });
      }
    }
  }

  /** @param {boolean} offline */
  #setOffline(offline) {
    if (this.#offline === offline) return;
    this.#offline = offline;
    this[CHANGED]();
  }

  /** @param {object} setup @param {Promise<RuntimeInfo>} runtime @param {number} attempt */
  async #handOverOnce({ options, token, session }, runtime, attempt) {
    await runtime;
    this.#booted = true;
    if (this.#closed) throw new StatesyncError("closed", "the client was closed");
    this[CHANGED]();
    const asks = Boolean(options.getToken && !options.token); // the worker asks us later on
    if (asks && attempt) token = String(await options.getToken());
    if (session && attempt) session = JSON.parse(localStorage.getItem(`statesync.session:${this.#base}`) ?? "null") ?? session;
    this.#remote = await call("open", {
      cid: this.#id, base: this.#base, timeout: this.#timeout, machines: options.machines,
      token: options.token || undefined, askedToken: asks ? token : undefined,
      session: session ? JSON.stringify(session) : undefined,
    });
    this.#connected = true;
    if (this.#feed) this.#feed.emits = false; // the worker's handles hear them from now on
    const earlier = await Promise.allSettled([...this.#handles.values()]);
    await Promise.all(earlier.map((h) => h.status === "fulfilled" && this.#adopt(h.value)));
    await Promise.allSettled([...this.#watching]);
    await Promise.all([...this.#interimQueries].map((live) => this.#adoptQuery(live)));
    if (this.#closed) throw new StatesyncError("closed", "the client was closed");
    this.#live = true;
    this.#offline = false;
    this.#seen.clear(); // handles come from the worker now
    this.#feed?.close(); // every handle hears the worker's client now
    this.#feed = undefined;
    performance.mark("statesync:live"); // bench/browser.py: page load -> optimistic ready
    this[CHANGED]();
  }

  /**
   * Switch a handle that shows the HTTP state to the worker's (subscribed on the live
   * connection), its queued sends going first.
   * @param {Instance} instance
   */
  async #adopt(instance) {
    if (!this.#interim.has(instance)) return;
    const hid = ++ids;
    let answer;
    try {
      for (let attempt = 0; !answer; attempt++) {
        try {
          answer = await call("instance", { cid: this.#id, hid, machine: instance.machine,
            name: instance.name });
        } catch (error) {
          if (!unreachable(error) || this.#closed) throw error;
          await sleep(retryDelay(attempt)); // the connection dropped meanwhile
        }
      }
    } catch (error) { // e.g. forbidden by now: asking again asks the server again
      this.#feed?.unfollow(instance[FOLLOWER]);
      this.#interim.delete(instance);
      this.#handles.delete(JSON.stringify([instance.machine, instance.name]));
      instance[END](error);
      return;
    }
    if (!this.#interim.delete(instance)) {
      channel().notify("release", { hid }); // closed meanwhile
      return;
    }
    // the worker's handle is subscribed: it brings every update from its state on
    this.#feed?.unfollow(instance[FOLLOWER]);
    await instance[ATTACH](hid, JSON.parse(answer.view));
  }

  /** Switch a live query showing the HTTP items to the worker's watch. @param {LiveQuery} live */
  async #adoptQuery(live) {
    if (!this.#interimQueries.delete(live)) return; // closed meanwhile
    try {
      await live[ATTACH](this.#id);
    } catch (error) {
      live[END](error);
    }
  }

  /**
   * No handover (the runtime or its connection failed, or the client was closed): handles
   * keep sending over HTTP unless closed, and the page's own socket keeps bringing others'
   * changes (the page works server-direct; `status.error` says why); live queries keep the
   * items read over HTTP.
   * @param {StatesyncError} error
   */
  #fail(error) {
    this.#failed ??= error;
    this.#rejectReady(error);
    if (this.#closed) {
      for (const instance of this.#interim) instance[END](error);
      this.#interim.clear();
    } else if (error.code !== "closed") {
      console.warn(`statesync: working server-direct (not optimistic): ${error.message}`);
    }
    for (const live of this.#interimQueries) live[END](error);
    this.#interimQueries.clear();
    this[CHANGED]();
  }

  /** @returns {Status} the connection status, the changes not yet saved, the boot's phase */
  get status() {
    let unsaved = this.#remote?.unsaved ?? 0;
    for (const instance of this.#open) unsaved += instance[UNSENT];
    const direct = this.#failed && !this.#closed;
    const status = this.#live ? this.#remote.status : direct ? "direct"
      : this.#failed || this.#offline ? "offline" : "connecting";
    const subject = this.#live ? this.#remote.subject : this.#subject;
    if (this.#live) return { status, unsaved, subject, phase: "live" };
    if (direct) {
      const { code, message } = this.#failed;
      return { status, unsaved, subject, phase: "direct", error: { code, message } };
    }
    if (this.#booted) return { status, unsaved, subject, phase: "connecting" };
    return { status, unsaved, subject, ...(progress.get(this.#base) ?? { phase: "http" }) };
  }

  /**
   * Call `fn(status)` now and whenever the status, the unsaved count or the boot's progress
   * changes.
   * @param {(status: Status) => void} fn
   * @returns {() => void} unsubscribe
   */
  onStatus(fn) {
    this.#listeners.add(fn);
    fn(this.status);
    return () => this.#listeners.delete(fn);
  }

  [CHANGED]() {
    const status = this.status;
    const now = JSON.stringify(status);
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

  /** The worker's status of the Python client. @param {object} status */
  [RECEIVE](status) {
    this.#remote = status;
    if (status.subject && this.#subject && status.subject !== this.#subject) {
      this.#switchUser(status.subject);
    }
    this[CHANGED]();
  }

  /**
   * The token now stands for another subject: the previous one signed out here, so what was
   * kept for them is deleted; this user's is kept from now on.
   * @param {string} subject
   */
  async #switchUser(subject) {
    const previous = this.#outbox;
    this.#subject = subject;
    this.#outbox = undefined;
    await previous?.clear().catch((error) => console.warn("statesync: not cleared", error));
    const next = await Outbox.open(this.#base, subject);
    if (this.#subject === subject) this.#outbox = next;
  }

  /** A token for the worker's Python client (`getToken()`). */
  async [TOKEN]() {
    return String(await this.#getToken());
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
    if (this.#closed) return Promise.reject(this.#failed);
    const key = JSON.stringify([machine, name]);
    if (!this.#handles.has(key)) {
      const forget = () => this.#handles.delete(key);
      const handle = this.#openHandle(machine, name, options.create ?? undefined, forget);
      handle.catch(forget);
      this.#handles.set(key, handle);
    }
    return this.#handles.get(key);
  }

  /** @param {string} machine @param {string} name @param {any} create @param {() => void} forget */
  async #openHandle(machine, name, create, forget) {
    const hooks = {
      post: (instance, body) => request("POST",
        `${this.#base}/v1/instances/${[instance.machine, instance.name].map(encodeURIComponent)
          .join("/")}/events`, this.#token, body, this.#timeout),
      changed: () => this[CHANGED](),
      status: (status) => this[RECEIVE](status),
      forget: (instance) => {
        forget();
        this.#feed?.unfollow(instance[FOLLOWER]);
        this.#open.delete(instance);
        this.#interim.delete(instance);
        this[CHANGED]();
      },
      sent: (id, event) => this.#outbox?.add(id, machine, name, event),
      settled: (id) => this.#outbox?.remove(id),
      store: (state) => this.#outbox?.saveState(machine, name, state),
    };
    const key = JSON.stringify([machine, name]);
    /** @param {State} state @returns {Instance} with an earlier page's unsent events queued */
    const make = (state) => {
      const instance = new Instance(machine, name, state, hooks);
      if (state.pending === 0 && !this.#restored.has(key)) hooks.store(state);
      instance[RESTORE](this.#restored.get(key) ?? []);
      this.#restored.delete(key);
      this.#open.add(instance);
      return instance;
    };
    const saved = this.#connected ? undefined : await this.#outbox?.state(machine, name);
    if (saved && !this.#connected) { // shown at once; a newer state over HTTP replaces it
      const instance = make({ ...saved, pending: 0 });
      this.#direct(instance);
      this.#fetchState(machine, name, create)
        .then((state) => instance[FETCHED](state), () => {}); // the handover tells errors
      return instance;
    }
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw this.#failed;
      if (this.#connected && !this.#failed) {
        const hid = ++ids;
        const answer = await call("instance", { cid: this.#id, hid, machine, name,
          create: create === undefined ? undefined : JSON.stringify(create) });
        const view = JSON.parse(answer.view);
        const instance = make(view.state);
        instance[ATTACH](hid, view);
        return instance;
      }
      let state = this.#seen.get(key); // a query returned it: no request
      try {
        state ??= await this.#fetchState(machine, name, create);
      } catch (error) {
        if (!unreachable(error) || this.#closed) throw error;
        this.#setOffline(true);
        await sleep(retryDelay(attempt)); // or the handover, whichever comes first
        continue;
      }
      if (this.#closed) throw this.#failed;
      const instance = make(state);
      this.#direct(instance);
      return instance;
    }
  }

  /**
   * A handle showing the state read over HTTP: handed over to the worker later (unless the
   * page works server-direct), and meanwhile following the server's updates on the page's
   * own socket.
   * @param {Instance} instance
   */
  #direct(instance) {
    if (!this.#failed) this.#interim.add(instance);
    this.#feed ??= new DirectFeed(this.#base, (attempt) => this.#freshToken(attempt));
    this.#feed.follow(instance[FOLLOWER]);
  }

  /**
   * The token for the page's own socket: after a drop or a refusal (`attempt` > 0) a fresh
   * one (`getToken()`, or the anonymous session as last saved).
   * @param {number} attempt
   */
  async #freshToken(attempt) {
    if (attempt && this.#getToken) this.#token = String(await this.#getToken());
    else if (attempt && this.#anonymous) {
      const saved = JSON.parse(localStorage.getItem(`statesync.session:${this.#base}`) ?? "null");
      if (saved?.token) this.#token = saved.token;
    }
    return this.#token;
  }

  /**
   * An instance's state over HTTP (`GET`, or get-or-create with `create`).
   * @param {string} machine @param {string} name @param {any} create @returns {Promise<State>}
   */
  async #fetchState(machine, name, create) {
    const url = `${this.#base}/v1/instances/${[machine, name].map(encodeURIComponent).join("/")}`;
    const answer = create === undefined
      ? await request("GET", url, this.#token, undefined, this.#timeout)
      : await request("POST", url, this.#token, { input: create, if_exists: "get" }, this.#timeout);
    this.#setOffline(false);
    const { value, tags, context, status, done, seq } = answer; // the order of Python's to_dict
    return { value, tags, context, status, done, seq, pending: 0 };
  }

  /**
   * The user's own settings in `namespace` (saved on the server, no server code needed).
   * @param {string} namespace
   * @param {object} [defaults]  values used until the user changes them
   * @returns {Promise<Settings>}
   */
  async settings(namespace, defaults = {}) {
    const name = await settingsInstance(namespace, this.#subject, this.#base);
    return new Settings(await this.instance(SETTINGS_MACHINE, name, { create: {} }), defaults);
  }

  /**
   * One page of instances by index, in index order: `{items, cursor}` (pass `cursor` for the
   * next page; null: no more). Over HTTP (`GET /v1/query/...`) until the Python client is
   * live, then through it.
   * @param {string} machine @param {string} index
   * @param {"eq"|"ne"|"lt"|"lte"|"gt"|"gte"|"prefix"} op
   * @param {string|number|boolean} value
   * @param {{order?: "asc"|"desc", limit?: number, cursor?: string|null}} [options]
   *   `limit`: 1-1000 (default 50)
   * @returns {Promise<{items: Item[], cursor: string|null}>}  rejects with a `StatesyncError`
   */
  async query(machine, index, op, value, options = {}) {
    const spec = querySpec(machine, index, op, value, options);
    if (this.#closed) throw new StatesyncError("closed", "the client was closed");
    const cursor = options.cursor ?? undefined;
    if (this.#connected && !this.#failed) {
      return call("query", { cid: this.#id, query: { ...spec, cursor } });
    }
    const params = new URLSearchParams({ op: spec.op, value: JSON.stringify(spec.value),
      order: spec.order, limit: String(spec.limit) });
    if (cursor) params.set("cursor", cursor);
    const path = [machine, index].map(encodeURIComponent).join("/");
    const answer = await request("GET", `${this.#base}/v1/query/${path}?${params}`, this.#token,
      undefined, this.#timeout);
    const items = answer.items.map(toItem);
    for (const { machine: m, instance, key, ...state } of items) {
      this.#seen.set(JSON.stringify([m, instance]), state);
    }
    return { items, cursor: answer.cursor };
  }

  /**
   * A live query: every instance the query matches (all pages, read `limit` at a time), kept
   * up to date by the server. Until the Python client is live the items are read over HTTP
   * (and do not change); at the handover the worker's watch takes over and listeners hear
   * what changed meanwhile.
   * @param {string} machine @param {string} index
   * @param {"eq"|"ne"|"lt"|"lte"|"gt"|"gte"|"prefix"} op
   * @param {string|number|boolean} value
   * @param {{order?: "asc"|"desc", limit?: number}} [options]
   * @returns {Promise<LiveQuery>}  rejects with a `StatesyncError` (e.g. "forbidden")
   */
  watch(machine, index, op, value, options = {}) {
    let spec;
    try {
      spec = querySpec(machine, index, op, value, options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closed) return Promise.reject(new StatesyncError("closed", "the client was closed"));
    const live = new LiveQuery(spec, (query) => {
      this.#queries.delete(query);
      this.#interimQueries.delete(query);
    }, (items) => this.#outbox?.saveItems(JSON.stringify(spec), items));
    this.#queries.add(live);
    const opening = this.#openQuery(live);
    opening.catch(() => this.#queries.delete(live));
    return opening;
  }

  /** @param {LiveQuery} live @returns {Promise<LiveQuery>} */
  async #openQuery(live) {
    if (this.#connected && !this.#failed) {
      await live[ATTACH](this.#id);
      return live;
    }
    const reading = this.#readAll(live);
    this.#watching.add(reading);
    let handedOver = false; // live meanwhile: the worker reads it
    try {
      live[RECEIVE]({ items: await reading });
    } catch (error) {
      // Offline: the items last seen (the handover brings what changed since).
      const { machine, index, op, value, order, limit } = live;
      const saved = unreachable(error) && !this.#connected && await this.#outbox?.items(
        JSON.stringify({ machine, index, op, value, order, limit }));
      handedOver = unreachable(error) && this.#connected && !this.#failed;
      if (saved) live[RECEIVE]({ items: saved });
      else if (!handedOver) throw error;
    } finally {
      this.#watching.delete(reading);
    }
    if (handedOver) {
      await live[ATTACH](this.#id);
      return live;
    }
    if (this.#closed) throw new StatesyncError("closed", "the client was closed");
    if (this.#failed) live[END](this.#failed);
    else this.#interimQueries.add(live);
    return live;
  }

  /**
   * Every item of `live`'s query over HTTP, in its order; while the server cannot be reached
   * and nothing was saved, tried again (backoff) until it answers or the handover.
   * @param {LiveQuery} live
   */
  async #readAll(live) {
    const { machine, index, op, value, order, limit } = live;
    const saved = JSON.stringify({ machine, index, op, value, order, limit });
    for (let attempt = 0; ; attempt++) {
      const items = [];
      let cursor;
      try {
        do {
          const page = await this.query(machine, index, op, value, { order, limit, cursor });
          items.push(...page.items);
          cursor = page.cursor;
        } while (cursor);
        this.#setOffline(false);
        return sortItems(items, order);
      } catch (error) {
        if (!unreachable(error) || this.#closed || this.#connected
            || await this.#outbox?.items(saved)) throw error;
        this.#setOffline(true);
        await sleep(retryDelay(attempt));
      }
    }
  }

  /** Close the connection and every handle (also while Pyodide is still booting). */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(new StatesyncError("closed", "the client was closed"));
    this.#handles.clear();
    this.#feed?.close();
    this.#feed = undefined;
    for (const instance of this.#open) instance[END](this.#failed);
    this.#open.clear();
    for (const live of this.#queries) live[END](this.#failed);
    this.#queries.clear();
    this.#remote = this.#remote && { ...this.#remote, status: "offline", unsaved: 0 };
    this.#live = false;
    this[CHANGED]();
    if (this.#booted) await call("close", { cid: this.#id });
    clients.delete(this.#id);
  }

  /**
   * Sign this user out of this browser: close the client and delete what was kept for them
   * (unsent events, the last known states and query items, and the anonymous session of a
   * page without a token). Unsent events are lost.
   */
  async signOut() {
    await this.close();
    if (this.#anonymous) localStorage.removeItem(`statesync.session:${this.#base}`);
    await this.#outbox?.clear();
  }
}

/**
 * A live instance: `state`, `subscribe`, `send`. Get one with `client.instance()`.
 *
 * Its machine runs in the worker: a send is applied there and the new state comes back
 * (before the server's ack); until then, and while Pyodide boots, the event is counted in
 * `state.pending` (and changes to the built-in settings show at once).
 */
export class Instance {
  #hooks;
  /** @type {number|undefined} the worker's id for it, once handed over */
  #hid;
  /** @type {State} the server's state (over HTTP), then the worker's */
  #confirmed;
  /** @type {object[]} the worker's pending events */
  #remotePending = [];
  /** @type {string[]|null|undefined} event descriptors the machine accepts now (the worker's;
   * null: the machine does not run in the browser, undefined: not handed over yet) */
  #events;
  /** @type {State} */
  #state;
  /**
   * Sends not yet confirmed over HTTP nor applied by the worker, in order, each with the
   * event id it keeps throughout: before the handover they go to the server one at a time
   * (`POST .../events`, the answer carrying the new state); from the handover on to the
   * worker (`n` set), whose `sent` count reaching `n` means applied.
   * @type {Unsent[]}
   */
  #unsent = [];
  #posted = 0;
  /** @type {Promise<void>|undefined} the send being posted over HTTP (one at a time: in order) */
  #posting;
  #attaching = false;
  #retries = 0;
  /** @type {ReturnType<typeof setTimeout>|undefined} the next HTTP attempt, after a failure */
  #retry;
  /** @type {StatesyncError|undefined} why sends fail (closed, or no handover) */
  #ended;
  #closed = false;
  /** @type {Set<(state: State) => void>} */
  #listeners = new Set();
  /** @type {Map<string, Set<(event: {type: string}) => void>>} `on` listeners by event type */
  #eventListeners = new Map();
  /** @type {import("./direct.js").Follower|undefined} */
  #follower;

  /**
   * @param {string} machine @param {string} name @param {State} state
   * @param {{changed: () => void, status: (status: object) => void,
   *   forget: (instance: Instance) => void}} hooks  the client's
   */
  constructor(machine, name, state, hooks) {
    this.machine = machine;
    this.name = name;
    this.#state = this.#confirmed = state;
    this.#hooks = hooks;
  }

  /**
   * Hand over to the worker's handle `hid`: queued sends go to it in order, then its state
   * (shown if it differs) and its changes.
   * @param {number} hid @param {View} view  the worker's, now
   */
  async [ATTACH](hid, view) {
    this.#attaching = true; // no new HTTP send from now on
    instances.set(hid, this);
    this.#show(view, 0);
    await this.#posting; // the one under way settles first: its id is then known applied or not
    if (this.#ended) return;
    this.#hid = hid;
    for (const entry of this.#unsent) this.#post(entry);
  }

  /** To the worker, with its id (the same id the server may have seen over HTTP). @param {Unsent} entry */
  #post(entry) {
    entry.n = ++this.#posted;
    call("send", { hid: this.#hid, event: entry.json, id: entry.id })
      .then(entry.resolve, entry.reject);
  }

  /**
   * An unsent entry: settling it takes the event out of the outbox, unless it failed only
   * for not being delivered (`KEPT`: the next page sends it again).
   * @param {string} id @param {object} event @param {(seq: number) => void} resolve
   * @param {(error: StatesyncError) => void} reject
   */
  #entry(id, event, resolve, reject) {
    return {
      id, event, json: JSON.stringify(event),
      resolve: (seq) => {
        this.#hooks.settled(id);
        resolve(seq);
      },
      reject: (error) => {
        if (!KEPT.has(error?.code)) this.#hooks.settled(id);
        reject(error);
      },
    };
  }

  /**
   * An earlier page's unsent events (from the outbox), queued first with their ids: the
   * server applies each id once, whether or not it got them before.
   * @param {{id: string, event: object}[]} saved
   */
  [RESTORE](saved) {
    for (const { id, event } of saved) {
      if (this.#unsent.some((entry) => entry.id === id)) continue;
      this.#unsent.push(this.#entry(id, event, () => {}, () => {}));
    }
    if (this.#hid === undefined) this.#pump();
    this.#refresh();
  }

  /**
   * A state of the server before the handover (read over HTTP while showing a saved one, or
   * an update on the page's own socket): shown if newer.
   * @param {State} state
   */
  [FETCHED](state) {
    if (this.#hid !== undefined || this.#attaching || !(state.seq > this.#confirmed.seq)) return;
    this.#confirmed = state;
    this.#refresh();
  }

  /** @returns {import("./direct.js").Follower} this handle as the page's own socket feeds it */
  get [FOLLOWER]() {
    this.#follower ??= {
      machine: this.machine,
      name: this.name,
      seq: () => this.#confirmed.seq,
      update: ({ value, tags, context, status, done, seq }) =>
        this[FETCHED]({ value, tags, context, status, done, seq, pending: 0 }),
      emitted: (event) => this[EMITTED](event),
    };
    return this.#follower;
  }

  /**
   * Before the handover: post the oldest unsent event over HTTP, then the next once it is
   * answered (one at a time, so the server gets them in order). The answer carries the
   * state after it, shown before the send resolves. An answer that may not have reached the
   * server (`unavailable`, `rate-limited`) leaves the event queued under its id: posted again
   * after a pause, or sent by the worker at the handover; the server applies an id once.
   */
  #pump() {
    this.#retry = clearTimeout(this.#retry);
    if (this.#posting || this.#attaching || this.#ended || !this.#unsent.length) return;
    const entry = this.#unsent[0];
    const body = { event: entry.event, event_id: entry.id, state: true };
    this.#posting = this.#hooks.post(this, body).then((ack) => {
      this.#unsent.splice(this.#unsent.indexOf(entry), 1);
      this.#retries = 0;
      if (ack.state && ack.state.seq >= this.#confirmed.seq) {
        const { value, tags, context, status, done, seq } = ack.state;
        this.#confirmed = { value, tags, context, status, done, seq, pending: 0 };
      }
      this.#refresh();
      entry.resolve(ack.seq);
      return true;
    }, (error) => {
      if (RETRIED.has(error.code)) {
        this.#retry = setTimeout(() => this.#pump(), retryDelay(this.#retries++) * 1000);
        return false;
      }
      this.#unsent.splice(this.#unsent.indexOf(entry), 1);
      this.#refresh();
      entry.reject(error);
      return true;
    }).then((next) => {
      this.#posting = undefined;
      if (next) this.#pump();
    });
  }

  /**
   * The worker's view of the instance (JSON), after it applied `sent` of this handle's sends.
   * @param {string} view @param {number} sent
   */
  [RECEIVE](view, sent) {
    this.#show(JSON.parse(view), sent);
  }

  /** @param {View} view @param {number} sent */
  #show({ state, pending, events, status }, sent) {
    this.#confirmed = state;
    this.#remotePending = pending;
    this.#events = events;
    if (sent) this.#unsent = this.#unsent.filter((entry) => !(entry.n <= sent));
    if (status) this.#hooks.status(status);
    this.#refresh();
  }

  /**
   * No more sends: unsent ones fail with `error` (their local effect is undone), but for one
   * under way over HTTP.
   */
  [END](error) {
    this.#ended ??= error;
    clearTimeout(this.#retry);
    instances.delete(this.#hid);
    // One posted over HTTP may be applied: its promise settles with the server's answer.
    const posted = this.#posting ? this.#unsent.splice(0, 1) : [];
    for (const { reject } of this.#unsent.splice(0, Infinity, ...posted)) reject(error);
    this.#refresh();
  }

  /** @returns {number} sends the worker has not applied yet (counted in `unsaved`) */
  get [UNSENT]() {
    return this.#unsent.length;
  }

  /** @returns {State} the visible state (confirmed, with pending events applied on top) */
  get state() {
    return this.#state;
  }

  /** @returns {object[]} events sent and not yet confirmed, oldest first */
  get pending() {
    return [...this.#remotePending, ...this.#unsent.map(({ event }) => event)];
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
   * Whether the machine accepts an event of this type now, as the worker last computed it
   * for the state it pushed: judged from the type alone (guards see an event without
   * payload; one that needs the payload counts as accepting, the server decides). Undefined
   * while it is not known: before the handover, or for a machine not run in the browser.
   * @param {{type: string} | string} event  its payload is not looked at
   * @returns {boolean|undefined}
   */
  can(event) {
    if (!this.#events) return undefined;
    const type = typeof event === "string" ? event : event.type;
    return this.#events.some((descriptor) => matchesDescriptor(type, descriptor));
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

  /**
   * Call `listener(event)` for every event the instance emits (`emit(...)` in the machine) of
   * this type (`"*"`: every type), as the server delivers it to this reader: after the update
   * of its transition, with the fields the reader may see (before the handover, and when
   * working server-direct, on the page's own socket). Nothing is kept: an event emitted while
   * disconnected (or while the worker's client takes over) is not heard; optimistic (local)
   * transitions emit nothing.
   * @param {string} type @param {(event: {type: string}) => void} listener
   * @returns {() => void} off
   */
  on(type, listener) {
    let listeners = this.#eventListeners.get(type);
    if (!listeners) this.#eventListeners.set(type, listeners = new Set());
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** An emitted event from the worker. @param {{type: string}} event */
  [EMITTED](event) {
    for (const type of [event.type, "*"]) {
      for (const listener of [...(this.#eventListeners.get(type) ?? [])]) {
        try {
          listener(event);
        } catch (error) {
          reportError(error); // a failing listener must not starve the others
        }
      }
    }
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
   * Show the confirmed state with the unsent events on top (counted; the built-in settings
   * machine's applied), unless it is what the listeners saw or older.
   */
  #refresh() {
    const events = this.#unsent.map(({ event }) => event);
    const confirmed = this.#confirmed;
    const state = !events.length ? confirmed : {
      ...confirmed,
      context: this.machine === SETTINGS_MACHINE
        ? events.reduce(applySetting, confirmed.context) : confirmed.context,
      pending: confirmed.pending + events.length,
    };
    if (state.seq < this.#state.seq || canonicalJson(state) === canonicalJson(this.#state)) return;
    this.#state = state;
    this.#hooks.store(state);
    for (const fn of [...this.#listeners]) this.#call(fn);
    this.#hooks.changed();
  }

  /**
   * Send an event. Subscribers see its effect once the worker applied it (one message each
   * way, before the server's answer; changes to the built-in settings show before this
   * returns). The promise resolves with the event's seq once the server committed it and this
   * handle shows that commit (`state.seq` is at least that seq, `pending` no longer counts it),
   * or rejects with a `StatesyncError` (e.g. code "invalid-event") after the change was undone.
   * Before the handover (and where the runtime cannot start) the event goes straight to the
   * server over HTTP (counted in `state.pending` meanwhile; one at a time, in order) and the
   * confirmed state shows with its answer, one round trip later; its event id goes along to
   * the worker at the handover if the answer had not come, so it is applied exactly once.
   * @param {{type: string} | string} event
   * @returns {Promise<number>}
   */
  send(event) {
    const message = typeof event === "string" ? { type: event } : event;
    if (this.#ended) return Promise.reject(this.#ended);
    if (typeof message?.type !== "string") {
      return Promise.reject(new StatesyncError("invalid-event",
        `an event must be an object with a string "type", got ${JSON.stringify(message)}`));
    }
    return new Promise((resolve, reject) => {
      const id = eventId();
      const entry = this.#entry(id, JSON.parse(JSON.stringify(message)), resolve, reject);
      this.#hooks.sent(id, entry.event); // kept until the server confirms or refuses it
      this.#unsent.push(entry);
      if (this.#hid !== undefined) this.#post(entry);
      else this.#pump();
      this.#refresh();
    });
  }

  /** Stop syncing this instance (unconfirmed sends fail with code "closed"). */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this[END](new StatesyncError("closed", `${this.machine}/${this.name} was closed`));
    this.#hooks.forget(this);
    if (this.#hid !== undefined) await call("release", { hid: this.#hid });
  }
}

/**
 * A live query (`client.watch()`): `items`, the matching instances in index order, and
 * `subscribe`. Kept up to date by the worker's Python client (watched again after a
 * reconnect), which posts only what changed: the items are kept here. Before the handover it
 * holds the items read over HTTP. It ends when closed, when the client is closed or cannot
 * hand over, or when the server refuses to watch it again or ends it: `onEnd` and `ended`
 * tell why (`error`).
 */
export class LiveQuery {
  /** @type {number|undefined} the worker's id for it, from the handover on */
  #wid;
  #watched = false;
  /** @type {Item[]} */
  #items = [];
  /** @type {Map<string, Item>} the items by instance name */
  #byName = new Map();
  #closed = false;
  #ended = false;
  #forget;
  #save;
  /** @type {(reason: StatesyncError|undefined) => void} */
  #resolveEnded;
  /** @type {Set<(items: Item[], changes: Change[]) => void>} */
  #listeners = new Set();
  /** @type {Set<(reason: StatesyncError|undefined) => void>} */
  #endListeners = new Set();

  /**
   * @param {Query} query @param {(live: LiveQuery) => void} forget  the client's
   * @param {(items: Item[]) => void} save  keeps the items (the client's outbox)
   */
  constructor(query, forget, save) {
    Object.assign(this, query); // machine, index, op, value, order, limit
    this.#forget = forget;
    this.#save = save;
    /** @type {StatesyncError|undefined} why the items stopped changing: the server refused
     * or ended the watch (e.g. "not-found", "internal"), no handover, or the client was
     * closed; undefined while live and after `close()` */
    this.error = undefined;
    /** @type {Promise<StatesyncError|undefined>} resolves once the query has ended, with
     * `error` (never rejects) */
    this.ended = new Promise((resolve) => (this.#resolveEnded = resolve));
  }

  /** @returns {Item[]} the matching instances in index order (the same array until a change) */
  get items() {
    return this.#items;
  }

  /** @returns {boolean} whether the server keeps the items up to date (after the handover) */
  get live() {
    return this.#watched && !this.#ended;
  }

  /** Watch in the worker (client `cid`), then show its items. @param {number} cid */
  async [ATTACH](cid) {
    const wid = this.#wid = ++ids; // close() meanwhile unwatches it
    queries.set(wid, this);
    let items;
    try {
      items = await call("watch", { cid, wid, query: { machine: this.machine, index: this.index,
        op: this.op, value: this.value, order: this.order, limit: this.limit } });
    } catch (error) {
      queries.delete(wid);
      throw error;
    }
    this.#watched = true;
    this[RECEIVE]({ items: JSON.parse(items) });
  }

  /**
   * Every item (the worker's when watched, or read over HTTP), in order: listeners hear how
   * they differ from those shown.
   * @param {{items: Item[]}} update
   */
  [RECEIVE]({ items }) {
    if (this.#closed) return;
    this.#show(items, diffItems(this.#items, items));
  }

  /**
   * What changed, as the worker posts it (JSON of `Change`s, in order): applied to the items
   * (a binary search per change, no sorting).
   * @param {string} json
   */
  [APPLY](json) {
    if (this.#closed || this.#ended) return;
    const changes = JSON.parse(json);
    const items = [...this.#items];
    const compare = itemOrder(this.order);
    for (const { instance, item } of changes) {
      const old = this.#byName.get(instance);
      if (old) {
        const at = insertionPoint(items, old, compare);
        // (the worker's first items were sorted by code point, this compares UTF-16 units)
        items.splice(items[at] === old ? at : items.indexOf(old), 1);
      }
      if (item) {
        items.splice(insertionPoint(items, item, compare), 0, item);
        this.#byName.set(instance, item);
      } else this.#byName.delete(instance);
    }
    this.#show(items, changes, false);
  }

  /** @param {Item[]} items @param {Change[]} changes @param {boolean} [index] */
  #show(items, changes, index = true) {
    if (!changes.length) return;
    this.#items = items;
    this.#save(items);
    if (index) this.#byName = new Map(items.map((item) => [item.instance, item]));
    for (const fn of [...this.#listeners]) this.#call(fn, changes);
  }

  /** The items stop changing (once). @param {StatesyncError|undefined} error  why */
  [END](error) {
    if (this.#ended) return;
    this.#ended = true;
    this.error ??= error;
    queries.delete(this.#wid);
    this.#forget(this);
    this.#resolveEnded(this.error);
    for (const fn of [...this.#endListeners]) {
      try {
        fn(this.error);
      } catch (failure) {
        reportError(failure);
      }
    }
    this.#endListeners.clear();
  }

  /**
   * Call `fn(items, changes)` now (with no changes) and on every change.
   * @param {(items: Item[], changes: Change[]) => void} fn
   * @returns {() => void} unsubscribe
   */
  subscribe(fn) {
    this.#listeners.add(fn);
    this.#call(fn, []);
    return () => this.#listeners.delete(fn);
  }

  /**
   * Call `fn(reason)` once the query has ended (now, if it has): `reason` is `error`, a
   * `StatesyncError` (e.g. code "not-found" when the server refused to watch it again after
   * a reconnect), or undefined after `close()`.
   * @param {(reason: StatesyncError|undefined) => void} fn
   * @returns {() => void} unsubscribe
   */
  onEnd(fn) {
    if (this.#ended) {
      fn(this.error);
      return () => {};
    }
    this.#endListeners.add(fn);
    return () => this.#endListeners.delete(fn);
  }

  /** @param {(items: Item[], changes: Change[]) => void} fn @param {Change[]} changes */
  #call(fn, changes) {
    try {
      fn(this.#items, changes);
    } catch (error) {
      reportError(error);
    }
  }

  /** Stop watching (the query ends, without an error). */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    const wid = this.#wid;
    this[END](undefined);
    if (wid !== undefined) await call("unwatch", { wid });
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
