/**
 * Types of `@statesync/web` (statesync.js): the browser SDK of statesync. The Python client runs
 * under Pyodide in a worker; see README.md.
 */

/** An XState state value: `"idle"`, or `{editing: "draft"}` for nested states. */
export type StateValue = string | { [state: string]: StateValue };

/** An event: an object with a string `type` (or just the type). */
export type EventObject = { type: string; [field: string]: unknown };

/** The state of an instance as plain JS data (the same object until it changes). */
export interface State<Context = any> {
  value: StateValue;
  tags: string[];
  /** the public context */
  context: Context;
  status: "active" | "done" | "error";
  done: boolean;
  /** last seq confirmed by the server */
  seq: number;
  /** events applied locally on top, not yet confirmed */
  pending: number;
}

/** Where Pyodide's boot is. */
export type Phase = "http" | "loading-runtime" | "loading-packages" | "connecting" | "live";

export interface Status {
  /** "connecting" until the Python client is live and every handle is handed over to it */
  status: "connecting" | "live" | "reconnecting" | "offline";
  /** events sent and not yet confirmed, over all instances (queued ones included) */
  unsaved: number;
  /** who the server knows this client as */
  subject: string | null;
  /** "http" (state over HTTP), "loading-runtime", "loading-packages", "connecting", "live" */
  phase: Phase;
  /** runtime bytes loaded so far (while loading) */
  loaded?: number;
  /** runtime bytes in all (while loading, when known) */
  total?: number;
}

/** The worker's answer to `loadRuntime()`. */
export interface RuntimeInfo {
  /** a SharedWorker (one runtime for every tab of this origin), or a dedicated Worker */
  worker: "shared" | "dedicated";
  /** Pyodide runtimes this worker has booted */
  boots: number;
  /** Python clients (WebSockets) open in this worker */
  connections: number;
  /** bytes this worker fetched over the network (HTTP cache hits count 0) */
  downloaded: number;
  /** milliseconds: Pyodide's start (fetch + loadPyodide), then installing the core */
  timings: { pyodide: number; core: number };
}

export interface ConnectOptions {
  /** the server's base URL (default: this page's origin) */
  url?: string;
  /** a JWT */
  token?: string;
  /** asked now, then on every reconnect and before expiry */
  getToken?: () => string | Promise<string>;
  /** optimistic machines: `true` (default) every one the server offers, `false` none, or
   * `{name: "module:attribute"}` */
  machines?: boolean | Record<string, string>;
  /** seconds to wait for each HTTP answer and for the first connection (default 10) */
  timeout?: number;
}

/** An error from the server (or the connection), with its protocol `code`. */
export class StatesyncError extends Error {
  constructor(code: string, message: string);
  readonly name: "StatesyncError";
  /** e.g. "unauthenticated", "forbidden", "not-found", "invalid-event", "closed" */
  readonly code: string;
}

/** Connect to a statesync server; resolves without waiting for Pyodide. */
export function connect(options?: ConnectOptions): Promise<Client>;

/** Boot Pyodide in the worker (once per server and worker). */
export function loadRuntime(url?: string): Promise<RuntimeInfo>;

/** Whether state value `child` is `parent` or inside it (XState's `matchesState`). */
export function matchesState(parent: StateValue, child: StateValue): boolean;

/** One connection shared by all instance handles. Make it with `connect()`. */
export class Client {
  private constructor();
  /** resolves once the Python client is live and has taken over every handle */
  readonly ready: Promise<void>;
  readonly status: Status;
  /** `fn(status)` now and on every change (the boot's progress included) */
  onStatus(fn: (status: Status) => void): () => void;
  /** a live handle on an instance (shared when asked for twice); `create`: get-or-create */
  instance<Context = any>(machine: string, name: string,
                          options?: { create?: unknown }): Promise<Instance<Context>>;
  /** the user's own settings in `namespace` */
  settings<Values extends Record<string, unknown> = Record<string, any>>(
    namespace: string, defaults?: Partial<Values>): Promise<Settings<Values>>;
  /** close the connection and every handle (also while Pyodide is still booting) */
  close(): Promise<void>;
}

/** A live instance: `state`, `subscribe`, `send`. Get one with `client.instance()`. */
export class Instance<Context = any> {
  private constructor();
  readonly machine: string;
  readonly name: string;
  /** the visible state (confirmed, with pending events applied on top) */
  readonly state: State<Context>;
  /** events sent and not yet confirmed, oldest first */
  readonly pending: EventObject[];
  matches(value: StateValue): boolean;
  hasTag(tag: string): boolean;
  /** `fn(state)` now and on every change of the visible state */
  subscribe(fn: (state: State<Context>) => void): () => void;
  /** resolves with the event's seq once committed; rejects with a `StatesyncError` */
  send(event: EventObject | string): Promise<number>;
  /** stop syncing this instance (unconfirmed sends fail with code "closed") */
  close(): Promise<void>;
}

/** The user's settings in one namespace: stored values over the defaults. */
export class Settings<Values extends Record<string, unknown> = Record<string, any>> {
  private constructor();
  /** the underlying instance of the built-in settings machine */
  readonly instance: Instance<{ values: Partial<Values> }>;
  /** every setting (defaults overridden by what the user saved) */
  readonly values: Values;
  /** whether every change has been saved by the server */
  readonly saved: boolean;
  subscribe(fn: (values: Values) => void): () => void;
  set<Key extends keyof Values & string>(key: Key, value: Values[Key]): Promise<number>;
  update(values: Partial<Values>): Promise<number>;
  /** back to the defaults: the given keys, or all */
  reset(keys?: (keyof Values & string)[]): Promise<number>;
  close(): Promise<void>;
}
