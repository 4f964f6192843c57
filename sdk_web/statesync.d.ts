/**
 * Types of `@statesync/web` (statesync.js): the browser SDK of statesync. The Python client runs
 * under Pyodide in a worker; see README.md.
 */

/** An XState state value: `"idle"`, or `{editing: "draft"}` for nested states. */
export type StateValue = string | { [state: string]: StateValue };

/** An event: an object with a string `type` (or just the type). */
export type EventObject = { type: string; [field: string]: unknown };

/**
 * Typed machines: augment this interface with one entry per registered machine (README.md,
 * "Typed machines"; `statesync types app.py -o machines.d.ts` writes it):
 *
 *   declare module "@statesync/web" {
 *     interface Machines {
 *       order: { event: { type: "PAY" } | { type: "CANCEL"; reason: string };
 *                value: "cart" | "paid"; tags: "busy"; context: { total: number } };
 *     }
 *   }
 *
 * `client.instance("order", ...)` is then typed from it; a name it does not hold is a type
 * error (while the registry is empty, any name goes, loosely typed).
 */
export interface Machines {}

/** What an entry of `Machines` holds (each field optional: a missing one is loose). */
export interface MachineTypes {
  /** the union of the events clients may send */
  event: { type: string };
  /** the state value: a union of state names (or of `StateValue`s for nested states) */
  value: StateValue;
  /** the union of the tags */
  tags: string;
  /** the public context */
  context: unknown;
  /** the creation input (`create`) */
  input: unknown;
}

/** The names in the `Machines` registry. */
export type MachineName = keyof Machines & string;
/** The machine names a client may use: the registry's, or any while it is empty. */
export type KnownMachine = [MachineName] extends [never] ? string : MachineName;

type Field<M, K extends keyof MachineTypes, Loose> = M extends MachineName
  ? K extends keyof Machines[M] ? Machines[M][K] : Loose : Loose;
/** The context of machine `M` (`any` when it is not in `Machines`). */
export type ContextOf<M> = Field<M, "context", any>;
/** The creation input of machine `M` (`create`; `unknown` when not declared). */
export type InputOf<M> = Field<M, "input", unknown>;
/** The events of machine `M`. */
export type EventOf<M> = Extract<Field<M, "event", EventObject>, { type: string }>;
/** The state value of machine `M`. */
export type ValueOf<M> = Extract<Field<M, "value", StateValue>, StateValue>;
/** The tags of machine `M`. */
export type TagOf<M> = Extract<Field<M, "tags", string>, string>;
/** The handle type of machine `M`. */
export type InstanceOf<M> = Instance<ContextOf<M>, EventOf<M>, ValueOf<M>, TagOf<M>>;

/** A machine name outside the registry: any string while the registry is empty, none after. */
export type Loose = [MachineName] extends [never] ? string : never;

/** The types of the events that need nothing but their type (may be sent as a string). */
export type BareEventType<Event extends { type: string }> =
  Event extends unknown ? ({ type: Event["type"] } extends Event ? Event["type"] : never) : never;

/** The state of an instance as plain JS data (the same object until it changes). */
export interface State<Context = any, Value extends StateValue = StateValue,
                      Tag extends string = string> {
  value: Value;
  tags: Tag[];
  /** the public context */
  context: Context;
  status: "active" | "done" | "error";
  done: boolean;
  /** last seq confirmed by the server */
  seq: number;
  /** events applied locally on top, not yet confirmed */
  pending: number;
}

/** Where the runtime's boot is ("direct": it cannot start, the page works server-direct). */
export type Phase = "http" | "loading-runtime" | "loading-packages" | "connecting" | "live"
  | "direct";

export interface Status {
  /** "connecting" until the Python client is live and every handle is handed over to it;
   * "direct" when it cannot be (`error` says why): sends keep going over HTTP (confirmed, not
   * optimistic) and others' changes show from the page's own socket */
  status: "connecting" | "live" | "reconnecting" | "offline" | "direct";
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
  /** why the page works server-direct (status "direct"), e.g. no runtime on the server */
  error?: { code: string; message: string };
}

/** The worker's answer to `loadRuntime()`. */
export interface RuntimeInfo {
  /** a SharedWorker (one runtime for every tab of this origin), or a dedicated Worker */
  worker: "shared" | "dedicated";
  /** the runtime booted for the page's machines: MicroPython when all of them run there */
  runtime: "micropython" | "pyodide";
  /** where each machine runs: "micropython" | "pyodide" (optimistic), else why it runs on
   * the server only */
  machines: Record<string, string>;
  /** runtimes this worker has booted */
  boots: number;
  /** Python clients (WebSockets) open in this worker */
  connections: number;
  /** bytes this worker fetched over the network (HTTP cache hits count 0) */
  downloaded: number;
  /** milliseconds: Pyodide's start (fetch + loadPyodide), then installing the core, then (after
   * restoring a snapshot) running the send path on a throwaway machine so the WebAssembly
   * compiler is done before the first send; and how the runtime booted: from a memory
   * snapshot, or saving one, or a bad one discarded, or none */
  timings: { pyodide: number; core: number; warmUp: number;
             snapshot: "restored" | "saved" | "discarded" | "none" };
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

/** A field of an event or input the server found invalid: `path` into it, and why. */
export interface FieldError {
  path: (string | number)[];
  message: string;
}

/** An error from the server (or the connection), with its protocol `code`. */
export class StatesyncError extends Error {
  constructor(code: string, message: string, fields?: FieldError[]);
  readonly name: "StatesyncError";
  /** e.g. "unauthenticated", "forbidden", "not-found", "invalid-event", "closed",
   * "unavailable" (the server cannot be reached), "cors" (it refuses this page's origin) */
  readonly code: string;
  /** what went wrong, without the code */
  readonly message: string;
  /** validation errors: the invalid fields, when the server names them */
  readonly fields?: FieldError[];
}

/** Connect to a statesync server; resolves without waiting for Pyodide. */
export function connect(options?: ConnectOptions): Promise<Client>;

/** Boot Pyodide in the worker (once per server and worker). */
export function loadRuntime(url?: string,
  options?: { machines?: boolean | Record<string, string> }): Promise<RuntimeInfo>;

/** Whether state value `child` is `parent` or inside it (XState's `matchesState`). */
export function matchesState(parent: StateValue, child: StateValue): boolean;

/** An index query's operator. */
export type QueryOp = "eq" | "ne" | "lt" | "lte" | "gt" | "gte" | "prefix";
/** An index value. */
export type IndexValue = string | number | boolean;

/** One instance in query results: its public state and the index value it matched. */
export interface Item<Context = any, Value extends StateValue = StateValue,
                     Tag extends string = string> extends State<Context, Value, Tag> {
  machine: string;
  instance: string;
  /** the index value it matched; null when the reader may not see it */
  key: IndexValue | null;
}

/** One page of `client.query()`: pass `cursor` for the next one (null: no more). */
export interface Page<Context = any> {
  items: Item<Context>[];
  cursor: string | null;
}

/** What changed in a live query: `instance` entered its set, left it, or changed in it. */
export type Change<Context = any> =
  | { kind: "enter" | "update"; instance: string; item: Item<Context> }
  | { kind: "leave"; instance: string; item: null };

export interface QueryOptions {
  order?: "asc" | "desc";
  /** items per page, 1-1000 (default 50) */
  limit?: number;
}

/** One connection shared by all instance handles. Make it with `connect()`. */
export class Client {
  private constructor();
  /** resolves once the Python client is live and has taken over every handle */
  readonly ready: Promise<void>;
  readonly status: Status;
  /** `fn(status)` now and on every change (the boot's progress included) */
  onStatus(fn: (status: Status) => void): () => void;
  /** a live handle on an instance (shared when asked for twice); `create`: get-or-create;
   * typed from `Machines` for the names it holds */
  instance<M extends MachineName>(machine: M, name: string,
                                  options?: { create?: InputOf<M> }): Promise<InstanceOf<M>>;
  instance<Context = any>(machine: Loose, name: string,
                          options?: { create?: unknown }): Promise<Instance<Context>>;
  /** one page of instances by index, in index order (over HTTP until the handover) */
  query<M extends MachineName>(machine: M, index: string, op: QueryOp, value: IndexValue,
    options?: QueryOptions & { cursor?: string | null }): Promise<Page<ContextOf<M>>>;
  query<Context = any>(machine: Loose, index: string, op: QueryOp, value: IndexValue,
    options?: QueryOptions & { cursor?: string | null }): Promise<Page<Context>>;
  /** a live query: every match, kept up to date from the handover on (read over HTTP before) */
  watch<M extends MachineName>(machine: M, index: string, op: QueryOp, value: IndexValue,
    options?: QueryOptions): Promise<LiveQuery<ContextOf<M>>>;
  watch<Context = any>(machine: Loose, index: string, op: QueryOp, value: IndexValue,
    options?: QueryOptions): Promise<LiveQuery<Context>>;
  /** the user's own settings in `namespace` */
  settings<Values extends Record<string, unknown> = Record<string, any>>(
    namespace: string, defaults?: Partial<Values>): Promise<Settings<Values>>;
  /** close the connection and every handle (also while Pyodide is still booting) */
  close(): Promise<void>;
  /** close, and delete what this browser kept for the user (unsent events are dropped) */
  signOut(): Promise<void>;
}

/** A live instance: `state`, `subscribe`, `send`. Get one with `client.instance()`. */
/** An event an instance emitted (`emit(...)` in the machine), as this reader may see it. */
export interface EmittedEvent {
  type: string;
  [field: string]: unknown;
}

export class Instance<Context = any, Event extends { type: string } = EventObject,
                      Value extends StateValue = StateValue, Tag extends string = string> {
  private constructor();
  readonly machine: string;
  readonly name: string;
  /** the visible state (confirmed, with pending events applied on top) */
  readonly state: State<Context, Value, Tag>;
  /** events sent and not yet confirmed, oldest first */
  readonly pending: Event[];
  matches(value: Value extends string ? Value : StateValue): boolean;
  hasTag(tag: Tag): boolean;
  /** whether the machine accepts an event of this type now, judged from the type alone (the
   * payload is not looked at); undefined before the handover or when the machine does not
   * run in the browser */
  can(event: Event["type"] | { type: Event["type"] }): boolean | undefined;
  /** `fn(state)` now and on every change of the visible state */
  subscribe(fn: (state: State<Context, Value, Tag>) => void): () => void;
  /** `listener(event)` for every event the instance emits of this type (`"*"`: all), as the
   * server delivers it to this reader (the fields it may see); returns `off` */
  on(type: string, listener: (event: EmittedEvent) => void): () => void;
  /** resolves with the event's seq once committed and shown (`state.seq` >= it); rejects
   * with a `StatesyncError` */
  send(event: Event | BareEventType<Event>): Promise<number>;
  /** stop syncing this instance (unconfirmed sends fail with code "closed") */
  close(): Promise<void>;
}

/** A live query (`client.watch()`): the matching instances, kept up to date until it ends
 * (closed, the client closed, or the server refused to watch it again or ended it). */
export class LiveQuery<Context = any> {
  private constructor();
  readonly machine: string;
  readonly index: string;
  readonly op: QueryOp;
  readonly value: IndexValue;
  readonly order: "asc" | "desc";
  readonly limit: number;
  /** the matching instances in index order (the same array until a change) */
  readonly items: Item<Context>[];
  /** whether the server keeps the items up to date (from the handover on) */
  readonly live: boolean;
  /** why the items stopped changing: the server refused or ended the watch (e.g.
   * "not-found" after a reconnect, "internal"), no handover, or the client was closed;
   * undefined while live and after `close()` */
  readonly error: StatesyncError | undefined;
  /** resolves once the query has ended, with `error` (never rejects) */
  readonly ended: Promise<StatesyncError | undefined>;
  /** `fn(items, changes)` now (no changes) and on every change */
  subscribe(fn: (items: Item<Context>[], changes: Change<Context>[]) => void): () => void;
  /** `fn(reason)` once the query has ended (now, if it has); `reason` is `error` */
  onEnd(fn: (reason: StatesyncError | undefined) => void): () => void;
  /** stop watching */
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
