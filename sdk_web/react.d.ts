/** Types of `@statesync/web/react` (react.js): re-render when an instance or settings change. */
import type { Instance, Settings, State } from "./statesync.js";

/** The visible state of `handle` (undefined while there is no handle yet). */
export function useInstance<Context = any>(handle: Instance<Context>): State<Context>;
export function useInstance<Context = any>(
  handle: Instance<Context> | null | undefined): State<Context> | undefined;

/** The user's settings values (undefined while there are none yet). */
export function useSettings<Values extends Record<string, unknown>>(
  settings: Settings<Values>): Values;
export function useSettings<Values extends Record<string, unknown>>(
  settings: Settings<Values> | null | undefined): Values | undefined;
