/**
 * React bindings for statesync: a provider that owns the client, and hooks that re-render when
 * an instance, the user's settings or a query change.
 *
 *   root.render(h(StatesyncProvider, { url, getToken }, h(App)));
 *   function Order({ id }) {
 *     const order = useInstance("order", id);
 *     return h("button", { disabled: !order.can("PAY"), onClick: () => order.send("PAY") },
 *              order.pending ? "paying..." : "pay");
 *   }
 *
 * The hooks also take handles got elsewhere (`useInstance(handle)`, `useSettings(settings)`).
 * Imports the bare specifier "react": a bundler resolves it, a page without one maps it to
 * /statesync/sdk/vendor/react.js with an import map.
 * @module statesync/react
 */
import {
  createContext, createElement, useCallback, useContext, useEffect, useMemo, useRef, useState,
  useSyncExternalStore,
} from "react";
import { connect, StatesyncError } from "./statesync.js";

/** @typedef {import("./statesync.js").Client} Client */
/** @typedef {import("./statesync.js").Instance} Instance */
/** @typedef {import("./statesync.js").Settings} Settings */
/** @typedef {import("./statesync.js").State} State */
/** @typedef {import("./statesync.js").Status} Status */
/** @typedef {import("./statesync.js").Item} Item */

/** @typedef {{client: Client|null, status: Status|undefined, error: StatesyncError|undefined,
 *   connecting?: Promise<void>}} Statesync  `connecting` settles once `client` or `error` is
 *   there (what a suspended render waits for) */

/** @type {import("react").Context<Statesync|null>} */
const StatesyncContext = createContext(null);

/**
 * Connects on mount (`connect()` with these options), provides the client to the hooks below
 * and closes it on unmount. Reconnects when `url`, `token`, `machines` or `timeout` change
 * (`getToken` is read when asked: a new function each render is fine).
 * @param {import("./statesync.js").ConnectOptions & {children?: any}} props
 */
export function StatesyncProvider({ url, token, getToken, machines, timeout, children }) {
  const [value, setValue] = useState(/** @type {Statesync} */ (
    { client: null, status: undefined, error: undefined }));
  const tokens = useRef(getToken);
  tokens.current = getToken;
  const asks = Boolean(getToken);
  const machinesKey = JSON.stringify(machines ?? null);
  const connecting = useMemo(() => {
    let settle;
    const promise = new Promise((resolve) => (settle = resolve));
    return { promise, settle };
  }, [url, token, asks, machinesKey, timeout]);
  useEffect(() => {
    let closed = false;
    let client;
    let off;
    const options = { url, token, timeout, machines: JSON.parse(machinesKey) ?? undefined,
      getToken: asks ? () => tokens.current() : undefined };
    connect(options).then((connected) => {
      client = connected;
      if (closed) return void connected.close();
      off = connected.onStatus((status) => setValue({ client: connected, status, error: undefined }));
      connecting.settle();
    }, (error) => {
      if (!closed) setValue({ client: null, status: undefined, error });
      connecting.settle();
    });
    return () => {
      closed = true;
      off?.();
      client?.close();
      setValue({ client: null, status: undefined, error: undefined });
    };
  }, [url, token, asks, machinesKey, timeout]);
  const provided = useMemo(() => ({ ...value, connecting: connecting.promise }),
    [value, connecting]);
  return createElement(StatesyncContext.Provider, { value: provided }, children);
}

/**
 * The provider's client (null until connected) and its status.
 * @returns {Statesync}
 */
export function useStatesync() {
  const value = useContext(StatesyncContext);
  if (!value) throw new Error("useStatesync() needs a <StatesyncProvider> around it");
  return value;
}

// --- handles shared by the components of one client ------------------------------------------

/** @type {WeakMap<Client, Map<string, {opening: Promise<{close: () => any}>, users: number,
 *   handle?: any}>>} */
const shared = new WeakMap();
/** @type {WeakMap<Client, Map<string, any>>} why a suspended render's handle did not open
 * (thrown by its next renders, until the task ends) */
const failures = new WeakMap();

/**
 * The handle `open()` gives (one per client and `key`, shared by the hooks asking for it),
 * closed once no hook has used it for a turn of the event loop (a remount keeps it).
 * @template T @param {Client} client @param {string} key @param {() => Promise<T>} open
 * @returns {{opening: Promise<T>, release: () => void}}
 */
function acquire(client, key, open) {
  let table = shared.get(client);
  if (!table) shared.set(client, (table = new Map()));
  let entry = table.get(key);
  entry ??= openShared(client, key, open);
  const held = entry;
  held.users += 1;
  let released = false;
  return {
    opening: held.opening,
    release() {
      if (released) return;
      released = true;
      held.users -= 1;
      setTimeout(() => held.users || held.opening.then((handle) => {
        if (held.users || table.get(key) !== held) return;
        table.delete(key); // with close() in the same turn: a new acquire opens a new handle
        handle.close();
      }, () => {}));
    },
  };
}

/** A new shared entry (no user yet). @param {Client} client @param {string} key @param {() => Promise<any>} open */
function openShared(client, key, open) {
  let table = shared.get(client);
  if (!table) shared.set(client, (table = new Map()));
  const opening = open();
  const created = { opening, users: 0, handle: undefined };
  opening.then((handle) => (created.handle = handle), (error) => {
    if (table.get(key) === created) table.delete(key);
    if (!failures.has(client)) failures.set(client, new Map());
    failures.get(client).set(key, error);
  });
  table.set(key, created);
  return created;
}

/**
 * For a render that suspends (React Suspense): the open handle for `key`, or throws the
 * promise to wait for (connecting, opening), or the error (to the nearest error boundary).
 * The handle is shared as `useShared`'s: the mounted component holds it.
 * @param {Statesync|null} context @param {string} key @param {(client: Client) => Promise<any>} open
 */
function suspend(context, key, open) {
  if (!context) throw notOpen(key);
  if (context.error) throw context.error;
  const client = context.client;
  if (!client) throw context.connecting;
  const failed = failures.get(client);
  if (failed?.has(key)) {
    const error = failed.get(key);
    // Forgotten after this task (React renders again at once before it gives up, which must
    // see the same error): a later retry, e.g. the boundary reset, opens it again.
    setTimeout(() => failed.get(key) === error && failed.delete(key));
    throw error;
  }
  const entry = shared.get(client)?.get(key) ?? openShared(client, key, () => open(client));
  if (entry.handle) return entry.handle;
  throw entry.opening.then(() => {}, () => {});
}

/**
 * The shared handle for `key` of the provider's client: `{handle, opening, error}` (the
 * handle once open). `key` null: none.
 * @template T @param {string|null} key @param {(client: Client) => Promise<T>} open
 */
function useShared(key, open) {
  const context = useContext(StatesyncContext);
  const client = context?.client ?? null;
  const [found, setFound] = useState(/** @type {{key?: string, handle?: T, error?: any}} */ ({}));
  const opening = useRef(/** @type {Promise<T>|undefined} */ (undefined));
  useEffect(() => {
    if (!client || key === null) return undefined;
    const hold = acquire(client, key, () => open(client));
    failures.get(client)?.delete(key);
    opening.current = hold.opening;
    let current = true;
    hold.opening.then((handle) => current && setFound({ key, handle }),
      (error) => current && setFound({ key, error }));
    return () => {
      current = false;
      opening.current = undefined;
      hold.release();
      setFound({});
    };
  }, [client, key]);
  const error = context?.error ?? (found.key === key ? found.error : undefined);
  return { handle: found.key === key ? found.handle : undefined, opening, error,
    status: context?.status?.status ?? (context?.error ? "offline" : "connecting") };
}

/**
 * @param {{subscribe: (fn: () => void) => () => void}|null|undefined} source
 * @returns {(onChange: () => void) => () => void} a subscribe function stable per source
 */
function useSubscribe(source) {
  return useCallback((onChange) => (source ? source.subscribe(onChange) : () => {}), [source]);
}

/** @returns {StatesyncError} */
function notOpen(what) {
  return new StatesyncError("closed", `${what} is not open (no <StatesyncProvider>, or unmounted)`);
}

// --- instances -------------------------------------------------------------------------------

/**
 * An instance of the provider's client, by name: `useInstance("order", id, {create})` ->
 * `{state, context, value, tags, send, can, matches, hasTag, pending, error, status}`
 * (`state` and the rest undefined until it is open; `send` waits for it; `pending`: events
 * not yet confirmed; `status`: the connection's). With `{suspense: true}` the component
 * suspends (React Suspense) until the instance is open, so `state` is always there, and
 * errors are thrown to the nearest error boundary; `{throwOnError: true}` throws them
 * without suspending. Or the visible state of a handle got elsewhere: `useInstance(handle)`
 * -> `State` (undefined while there is no handle).
 * @param {string|Instance|null|undefined} target  a machine name, or a handle
 * @param {string} [name]
 * @param {{create?: any, suspense?: boolean, throwOnError?: boolean}} [options]  `create`:
 *   the input to get-or-create it with
 */
export function useInstance(target, name, options) {
  const named = typeof target === "string";
  const key = named ? JSON.stringify([target, name]) : null;
  const create = options?.create;
  const open = (client) => client.instance(target, name, { create });
  const context = useContext(StatesyncContext);
  const suspended = named && options?.suspense ? suspend(context, key, open) : undefined;
  const opened = useShared(key, open);
  const handle = named ? opened.handle ?? suspended : target;
  const state = useSyncExternalStore(useSubscribe(handle), () => handle?.state);
  const { opening, error, status } = opened;
  if (error && (options?.suspense || options?.throwOnError)) throw error;
  return useMemo(() => (!named ? state : {
    state,
    context: state?.context,
    value: state?.value,
    tags: state?.tags,
    pending: state?.pending ?? 0,
    error,
    status,
    /** @param {object|string} event */
    send: (event) => (opening.current ?? Promise.reject(notOpen(`${target}/${name}`)))
      .then((instance) => instance.send(event)),
    /** @param {object|string} event */
    can: (event) => handle?.can(event),
    /** @param {string|object} value */
    matches: (value) => handle?.matches(value) ?? false,
    /** @param {string} tag */
    hasTag: (tag) => handle?.hasTag(tag) ?? false,
  }), [named, state, handle, error, status]);
}

// --- settings --------------------------------------------------------------------------------

/**
 * The user's settings in `namespace` of the provider's client: `useSettings("prefs",
 * {theme: "light"})` -> `{values, set, update, reset, saved, error, status}` (`values` are the
 * defaults until they are read). Or the values of a `Settings` got elsewhere:
 * `useSettings(settings)` -> `values` (undefined while there are none yet).
 * @param {string|Settings|null|undefined} target  a namespace, or a `Settings`
 * @param {object} [defaults]
 */
export function useSettings(target, defaults) {
  const named = typeof target === "string";
  const opened = useShared(named ? JSON.stringify(["settings", target]) : null,
    (client) => client.settings(target));
  const settings = named ? opened.handle : target;
  const state = useSyncExternalStore(useSubscribe(settings?.instance),
    () => settings?.instance.state);
  const defaultsKey = JSON.stringify(defaults ?? {});
  const { opening, error, status } = opened;
  return useMemo(() => {
    if (!named) return settings?.values;
    const values = { ...JSON.parse(defaultsKey), ...state?.context.values };
    /** @param {(settings: Settings) => Promise<number>} change */
    const apply = (change) => (opening.current ?? Promise.reject(notOpen(`settings ${target}`)))
      .then(change);
    return {
      values, error, status, saved: state ? state.pending === 0 : false,
      set: (key, value) => apply((s) => s.set(key, value)),
      update: (changes) => apply((s) => s.update(changes)),
      reset: (keys) => apply((s) => s.reset(keys)),
    };
  }, [named, settings, state, defaultsKey, error, status]);
}

// --- queries ---------------------------------------------------------------------------------

/**
 * Instances by index, of the provider's client: `{items, cursor, loading, error, ended}`.
 * With `{live: true}` a live query (`client.watch`: every match, kept up to date from the
 * handover on; `ended` once it stopped changing, e.g. the server refused to watch it again
 * after a reconnect: `error` says why, `items` are the last ones); else one page
 * (`client.query`: `limit` items from `cursor`; the next page's `cursor`), read again when an
 * argument changes.
 * @param {string} machine @param {string} index
 * @param {"eq"|"ne"|"lt"|"lte"|"gt"|"gte"|"prefix"} op
 * @param {string|number|boolean} value
 * @param {{live?: boolean, order?: "asc"|"desc", limit?: number, cursor?: string,
 *   throwOnError?: boolean}} [options]  `throwOnError`: errors go to the nearest error boundary
 * @returns {{items: Item[], cursor: string|null, loading: boolean,
 *   error: StatesyncError|undefined, ended: boolean}}
 */
export function useQuery(machine, index, op, value, options = {}) {
  const { client, error: failed } = useContext(StatesyncContext) ?? {};
  const { live = false, order, limit, cursor } = options;
  const key = JSON.stringify([machine, index, op, value, live, order, limit, cursor]);
  const [result, setResult] = useState(
    () => ({ key: "", items: [], cursor: null, error: undefined, ended: false }));
  useEffect(() => {
    if (!client) return undefined;
    let current = true;
    const show = (found) => current && setResult({ key, items: [], cursor: null,
      error: undefined, ended: false, ...found });
    if (!live) {
      client.query(machine, index, op, value, { order, limit, cursor })
        .then(({ items, cursor: next }) => show({ items, cursor: next }), (error) => show({ error }));
      return () => void (current = false);
    }
    let watching;
    client.watch(machine, index, op, value, { order, limit }).then((query) => {
      if (!current) return void query.close();
      watching = query;
      query.subscribe((items) => show({ items }));
      query.onEnd((error) => show({ items: query.items, error, ended: true }));
    }, (error) => show({ error }));
    return () => {
      current = false;
      watching?.close();
    };
  }, [client, key]);
  const mine = result.key === key;
  const error = failed ?? (mine ? result.error : undefined);
  if (error && options.throwOnError) throw error;
  return { items: mine ? result.items : [], cursor: mine ? result.cursor : null,
    loading: !mine && !failed, error,
    ended: mine && result.ended };
}
