/**
 * Types of `@statesync/web/react` (react.js): a provider owning the client, and hooks that
 * re-render when an instance, settings or a query change. Written without `@types/react`
 * (React is an optional peer): components return `any`, `children` is `unknown`.
 */
import type {
  BareEventType, Client, ConnectOptions, ContextOf, EventObject, EventOf, IndexValue, InputOf,
  Instance, Item, Loose, MachineName, QueryOp, Settings, State, StateValue, StatesyncError, Status,
  TagOf, ValueOf,
} from "./statesync.js";

export interface StatesyncProviderProps extends ConnectOptions {
  children?: unknown;
}

/** Connects on mount, provides the client to the hooks, closes it on unmount. */
export function StatesyncProvider(props: StatesyncProviderProps): any;

/** The provider's client (null until connected), its status, and why it could not connect. */
export function useStatesync(): {
  client: Client | null;
  status: Status | undefined;
  error: StatesyncError | undefined;
};

/** What `useInstance(machine, name)` gives: the state (undefined until open) and actions. */
export interface InstanceView<Context = any, Event extends { type: string } = EventObject,
                              Value extends StateValue = StateValue, Tag extends string = string> {
  state: State<Context, Value, Tag> | undefined;
  context: Context | undefined;
  value: Value | undefined;
  tags: Tag[] | undefined;
  /** events sent and not yet confirmed */
  pending: number;
  /** sends once the handle is open; resolves with the seq once committed */
  send(event: Event | BareEventType<Event>): Promise<number>;
  /** `Instance.can` (undefined until known) */
  can(event: Event["type"] | { type: Event["type"] }): boolean | undefined;
  matches(value: Value extends string ? Value : StateValue): boolean;
  hasTag(tag: Tag): boolean;
  /** why the instance could not be opened (or the client connected) */
  error: StatesyncError | undefined;
  /** the connection's status */
  status: Status["status"];
}

/** `useInstance` with `{suspense: true}`: rendered only once the instance is open. */
export interface ReadyInstanceView<Context = any, Event extends { type: string } = EventObject,
                                   Value extends StateValue = StateValue,
                                   Tag extends string = string>
  extends InstanceView<Context, Event, Value, Tag> {
  state: State<Context, Value, Tag>;
  context: Context;
  value: Value;
  tags: Tag[];
  error: undefined;
}

export interface UseInstanceOptions<Input = unknown> {
  /** the input to get-or-create it with */
  create?: Input;
  /** suspend (React Suspense) until the instance is open; errors go to the error boundary */
  suspense?: boolean;
  /** throw errors to the nearest error boundary (without suspending) */
  throwOnError?: boolean;
}

/** An instance of the provider's client, typed from `Machines` for the names it holds. */
export function useInstance<M extends MachineName>(machine: M, name: string,
  options: UseInstanceOptions<InputOf<M>> & { suspense: true },
): ReadyInstanceView<ContextOf<M>, EventOf<M>, ValueOf<M>, TagOf<M>>;
export function useInstance<M extends MachineName>(machine: M, name: string,
  options?: UseInstanceOptions<InputOf<M>>,
): InstanceView<ContextOf<M>, EventOf<M>, ValueOf<M>, TagOf<M>>;
export function useInstance<Context = any>(machine: Loose, name: string,
  options: UseInstanceOptions & { suspense: true }): ReadyInstanceView<Context>;
export function useInstance<Context = any>(machine: Loose, name: string,
  options?: UseInstanceOptions): InstanceView<Context>;
/** The visible state of `handle` (undefined while there is no handle yet). */
export function useInstance<Context = any, Event extends { type: string } = EventObject,
                            Value extends StateValue = StateValue, Tag extends string = string>(
  handle: Instance<Context, Event, Value, Tag>): State<Context, Value, Tag>;
export function useInstance<Context = any, Event extends { type: string } = EventObject,
                            Value extends StateValue = StateValue, Tag extends string = string>(
  handle: Instance<Context, Event, Value, Tag> | null | undefined,
): State<Context, Value, Tag> | undefined;

/** What `useSettings(namespace, defaults)` gives. */
export interface SettingsView<Values extends Record<string, unknown>> {
  /** the defaults overridden by what the user saved (the defaults until read) */
  values: Values;
  /** whether every change has been saved by the server */
  saved: boolean;
  set<Key extends keyof Values & string>(key: Key, value: Values[Key]): Promise<number>;
  update(values: Partial<Values>): Promise<number>;
  reset(keys?: (keyof Values & string)[]): Promise<number>;
  error: StatesyncError | undefined;
  status: Status["status"];
}

/** The user's settings in `namespace`, of the provider's client. */
export function useSettings<Values extends Record<string, unknown>>(
  namespace: string, defaults?: Values): SettingsView<Values>;
/** The values of a `Settings` (undefined while there are none yet). */
export function useSettings<Values extends Record<string, unknown>>(
  settings: Settings<Values>): Values;
export function useSettings<Values extends Record<string, unknown>>(
  settings: Settings<Values> | null | undefined): Values | undefined;

export interface UseQueryOptions {
  /** a live query (`client.watch`) rather than one page (`client.query`) */
  live?: boolean;
  order?: "asc" | "desc";
  limit?: number;
  /** the page to read (not live) */
  cursor?: string;
  /** throw errors to the nearest error boundary */
  throwOnError?: boolean;
}

export interface QueryView<Context = any> {
  items: Item<Context>[];
  /** the next page's cursor (not live); null: no more */
  cursor: string | null;
  loading: boolean;
  /** why it could not be read, or why a live query ended */
  error: StatesyncError | undefined;
  /** a live query that stopped changing (the server refused to watch it again or ended it;
   * `error` says why, `items` are the last ones); false for one page */
  ended: boolean;
}

/** Instances by index, of the provider's client. */
export function useQuery<M extends MachineName>(machine: M, index: string, op: QueryOp,
  value: IndexValue, options?: UseQueryOptions): QueryView<ContextOf<M>>;
export function useQuery<Context = any>(machine: Loose, index: string, op: QueryOp,
  value: IndexValue, options?: UseQueryOptions): QueryView<Context>;
