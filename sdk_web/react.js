/**
 * React bindings for statesync: re-render when an instance or the user's settings change.
 *
 *   const todo = await client.instance("todo", "groceries");   // e.g. in a loader or effect
 *   function Todo() {
 *     const state = useInstance(todo);
 *     return h("ul", null, state.context.items.map((i) => h("li", { key: i.id }, i.text)));
 *   }
 *
 * Imports the bare specifier "react": a bundler resolves it, a page without one maps it to
 * /statesync/sdk/vendor/react.js with an import map.
 * @module statesync/react
 */
import { useCallback, useSyncExternalStore } from "react";

/** @typedef {import("./statesync.js").Instance} Instance */
/** @typedef {import("./statesync.js").Settings} Settings */
/** @typedef {import("./statesync.js").State} State */

/**
 * @param {{subscribe: (fn: () => void) => () => void}|null|undefined} source
 * @returns {(onChange: () => void) => () => void} a subscribe function stable per source
 */
function useSubscribe(source) {
  return useCallback((onChange) => (source ? source.subscribe(onChange) : () => {}), [source]);
}

/**
 * The visible state of `handle` (undefined while there is no handle yet).
 * @param {Instance|null|undefined} handle
 * @returns {State|undefined}
 */
export function useInstance(handle) {
  return useSyncExternalStore(useSubscribe(handle), () => handle?.state);
}

/**
 * The user's settings values (undefined while there are none yet).
 * @param {Settings|null|undefined} settings
 * @returns {object|undefined}
 */
export function useSettings(settings) {
  return useSyncExternalStore(useSubscribe(settings), () => settings?.values);
}
